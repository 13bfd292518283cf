"""A :class:`~nidslab.generalise.experiment.GeneraliseResult` as Markdown, for the study's report."""

from __future__ import annotations


def _t(x) -> str:
    if x is None:
        return "-"
    if x == float("inf"):
        return "never"
    return f"{x:.2f}"


def _name(recipe: str) -> str:
    return recipe.replace("|", "\\|")  # "dnn|kitnet" inside a Markdown table cell


def _by_contact(m) -> str:
    return f" ({m.detected_by_contact} by contact)" if getattr(m, "detected_by_contact", 0) else ""


def markdown(result) -> str:
    """Tables: one line per recipe (verdict), measures per held-out network, real-data transfer, targets."""
    intro = ("Each model is calibrated on the first half of each site's benign traffic (standardisation, "
             "thresholds; KitNET trains there) at the threshold level the validation networks chose; measured on "
             "the rest.")
    if result.config.get("contacts"):
        intro += (" Incidents also open on contact: a host that accepts a telnet login (SYN-ACK from port 23 or "
                  "2323) from a host inside an open incident; \"by contact\" counts the infected hosts found that way "
                  "first.")
    out = ["### Models on networks they never saw", "", intro, "", "| model | level | alerts to count | verdict |",
           "| --- | --- | --- | --- |"]
    out += [f"| {_name(r.recipe)} | {r.level} | {r.confirm_alerts} | {r.verdict} |" for r in result.recipes]
    head = ("| model | network | benign h scored | false incidents/day | incidents on uninfected hosts (outbreak) | "
            "infected hosts detected | median / worst s to incident | from its own attack traffic | FPR | TPR |")
    out += ["", head, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result.recipes:
        for m in r.test:
            out.append(f"| {_name(r.recipe)} | {m.network} | {m.benign_hours:.2f} | {m.false_incidents_per_day:,.1f} "
                       f"({m.false_incidents}) | {m.incidents_uninfected_outbreak} | {m.infected_detected}/"
                       f"{m.infected_hosts}{_by_contact(m)} | {_t(m.median_time_to_incident_s)} / {_t(m.worst_time_to_incident_s)} | "
                       f"{_t(m.median_time_from_bot_s)} / {_t(m.worst_time_from_bot_s)} | {m.fpr:.2e} | {m.tpr:.3f} |")
    real = [r for r in result.recipes if r.real]
    if real:
        head = ("| model | mirai2000 2nd half flagged (incidents) | doorbell benign flagged | gafgyt caught | "
                "IoT Sentinel: worst capture flagged, incidents |")
        out += ["", head, "| --- | --- | --- | --- | --- |"]
        for r in real:
            m2, d, s = r.real["mirai2000"], r.real["doorbell"], r.real["sentinel"]
            out.append(f"| {_name(r.recipe)} | {m2['flagged_share']:.2%} ({m2['incidents']}) | "
                       f"{d['benign_flagged_share']:.2%} | {d['gafgyt_caught_share']:.1%} | "
                       f"{max(c['flagged_share'] for c in s):.1%}, {sum(c['incidents'] for c in s)} |")
    out += ["", f"Targets for the model the validation networks favour ({_name(result.best)}):", "",
            "| target | measured | met |", "| --- | --- | --- |"]
    out += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in result.targets]
    return "\n".join(out) + "\n"
