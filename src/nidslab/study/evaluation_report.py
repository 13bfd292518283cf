"""The report's section "Would it work on new traffic?" and its figures, from results.json's ``evaluation``.

Text, tables and the explanation are written from the numbers (nothing is assumed about their direction):
the leakage gap, the operating points, detection over time on the unseen simulated capture, how the
packet truth and the time-cut labels disagree, and transfer to the reference data.
"""

from __future__ import annotations

from typing import Any

from nidslab.study.numbers import fmt

Block = tuple


def _pct_ci(rate: float | None, ci: list[float] | None) -> str:
    if rate is None:
        return "n/a"
    return f"{_pct(rate)} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(rate)


def _pct(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.3g}%" if v < 0.01 else f"{100 * v:.2f}%"


def _fpr_label(f: float) -> str:
    return f"{f:g}"


def blocks(ev: dict[str, Any] | None) -> list[Block]:
    """The section's blocks (see :func:`nidslab.study.report.build_blocks`); [] when the part did not run."""
    if not ev:
        return []
    b: list[Block] = [("h2", "Would it work on new traffic?")]
    b.append(("p", "Everything above is measured on one capture split at random. A deployed detector meets "
                   "traffic from after its training, at a threshold fixed in advance, on other networks. This "
                   "section measures that: the same models trained on a split that respects time, thresholds "
                   "chosen for a false-alarm budget, a simulated outbreak no model saw, and real reference data."))
    b += _gap_blocks(ev)
    b += _threshold_blocks(ev)
    b += _detection_blocks(ev)
    b += _transfer_blocks(ev)
    return b


def _gap_blocks(ev: dict[str, Any]) -> list[Block]:
    ts = ev["temporal_split"]
    rows = []
    for r in ev["split_gap"]:
        for side in ("random", "temporal"):
            m = r[side] or {}
            rows.append([r["title"], side, fmt(m.get("accuracy"), "acc"), fmt(m.get("balanced_accuracy"), "acc"),
                         fmt(m.get("roc_auc"), "acc"), fmt(m.get("f1"), "acc")])
        g = r["gap"]
        rows.append([r["title"], "gap (random - temporal)", fmt(g["accuracy"], "acc"),
                     fmt(g["balanced_accuracy"], "acc"),
                     fmt(g["roc_auc"], "acc"), fmt(g["f1"], "acc")])
    gaps = [(r["title"], r["gap"]["balanced_accuracy"]) for r in ev["split_gap"]
            if r["gap"]["balanced_accuracy"] is not None]
    if gaps:
        each = "; ".join(f"{t}: {fmt(g, 'acc')}" for t, g in gaps)
        higher = [t for t, g in gaps if g > 0.005]
        lower = [t for t, g in gaps if g < -0.005]
        same = [t for t, g in gaps if abs(g) <= 0.005]
        parts = [f"Balanced accuracy, random minus temporal: {each}."]
        if higher:
            parts.append(f"The random split flatters {', '.join(higher)}.")
        if lower:
            parts.append(f"{', '.join(lower)} read higher on the temporal split, whose test period suits them; that "
                         "does not make the random split's number trustworthy.")
        if same:
            parts.append(f"For {', '.join(same)} the two splits agree to within 0.005.")
        direction = " ".join(parts)
    else:
        direction = "The random split's numbers were not available to compare."
    why = ("Why they differ: the random split shuffles the packets of one capture, so nearly every test packet "
           "has neighbours a few milliseconds away in training whose AfterImage statistics (decayed means and "
           "variances over the same streams) are almost its own; the model can recall its neighbours instead "
           "of learning what Mirai looks like, and the future leaks into training (Arp et al., USENIX Security "
           "2022). The temporal split trains on the earliest 70% of each class's packets, validates on the next "
           f"15% and tests on the last 15% ({fmt(ts['train'], 'int')} / {fmt(ts['validation'], 'int')} / "
           f"{fmt(ts['test'], 'int')} rows): the test period holds benign traffic from later in the capture and the "
           "outbreak's late phases (more bots scanning, the flood), which training never saw. " + direction)
    return [("h3", "The leakage gap: random against temporal split"),
            ("table", ["model", "split", "accuracy", "balanced accuracy", "ROC-AUC", "F1"], rows),
            ("p", why)]


def _threshold_blocks(ev: dict[str, Any]) -> list[Block]:
    rows = []
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    for key, pts in ev["operating_points"].items():
        for p in pts:
            note = "" if p["resolvable"] else f" (below 1/{fmt(p['validation_rows'], 'int')}: not resolvable)"
            rows.append([titles.get(key, key), _fpr_label(p["target_fpr"]) + note, fmt(p["threshold"], "num"),
                         _pct_ci(p["fpr"], p["fpr_ci"]), _pct_ci(p["tpr"], p["tpr_ci"])])
    ts = ev["temporal_split"]
    return [("h3", "Thresholds for a target false-positive rate"),
            ("p", f"Each model's threshold is the lowest raw score (logit; LightGBM's margin) that flags at most "
                  f"the target share of the {fmt(ts['validation_benign'], 'int')} benign validation rows of the "
                  "temporal split; the test rates at that threshold come with Wilson 95% intervals. A target "
                  "below one over the number of benign validation rows cannot be told from zero there."),
            ("table", ["model", "target FPR", "threshold", "test FPR [95% CI]", "test TPR [95% CI]"], rows),
            ("figure", "evaluation_roc", "ROC curves on the temporal split's test rows (log false-positive rate), "
                                         "with each model's default operating point.")]


def _detection_blocks(ev: dict[str, Any]) -> list[Block]:
    u = ev["unseen_capture"]
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    default = ev["target_fprs"][0]
    rows, phase_rows, label_rows = [], [], []
    for key, d in ev["detection"].items():
        p = d["per_target"][0]
        dl, fa, fall = p["delay"], p["false_alarms_before_onset"], p["false_alarms_all_benign"]
        rows.append([titles.get(key, key), fmt(dl["delay_s"], "s") if dl["delay_s"] is not None else "never",
                     fmt(dl.get("delay_s_malicious"), "s") if dl.get("delay_s_malicious") is not None else "never",
                     fmt(fa["per_hour"], "num"), fmt(fall["per_hour"], "num"), _pct(p["truth"]["tpr"])])
        phase_rows.append([titles.get(key, key)] + [
            f"{_pct(ph['recall'])} of {fmt(ph['malicious_packets'], 'int')}" for ph in p["phases"]])
        for name in ("truth", "time_cut"):
            r = p[name]
            label_rows.append([titles.get(key, key), "packet truth" if name == "truth" else "time cut (Kitsune)",
                               _pct_ci(r["tpr"], r["tpr_ci"]), _pct_ci(r["fpr"], r["fpr_ci"]),
                               fmt(d["auc_truth" if name == "truth" else "auc_time_cut"], "acc")])
    phases = [ph["phase"] for ph in next(iter(ev["detection"].values()))["per_target"][0]["phases"]]
    first = next(iter(ev["detection"].values()))
    flagged = first.get("labels_disagree_flagged_share")
    text = (f"A capture simulated for this check ({fmt(u['packets'], 'int')} packets; {u['differs_from_training']}): "
            f"the outbreak starts {fmt(u['onset_s_from_start'], 's')} in, the capture lasts "
            f"{fmt(u['duration_s'], 's')}. "
            f"At each model's threshold for FPR {_fpr_label(default)}: the time from the onset to the first alert "
            "(any packet, and the first on a malicious packet), false alarms per hour on the benign traffic before "
            "the onset and on every benign packet of the capture, and the share of malicious packets flagged. "
            "Phases overlap (scanning goes on throughout): a phase's recall is over the malicious packets sent in "
            "its time window.")
    disagree = ("The time-cut labels call every packet after the onset malicious; "
                f"{fmt(first['labels_disagree'], 'int')} "
                "of those are benign background in the packet truth. Scored against the time cut, a model that leaves "
                "that background alone is charged with missing it (lower TPR), and one that flags it is credited; "
                "against the truth, the same flags are false alarms. "
                + (f"The first model flags {_pct(flagged)} of that background at its threshold." if flagged is not None
                   else ""))
    return [("h3", "Detection over time on a capture no model saw"), ("p", text),
            ("table", ["model", "first alert after onset", "first alert on a malicious packet",
                       "false alarms / h before onset", "false alarms / h (all benign)", "recall (truth)"], rows),
            ("table", ["model"] + [f"recall: {p}" for p in phases], phase_rows),
            ("figure", "evaluation_timeline", "Scores over time on the unseen capture (per bin: the highest benign "
                                              "and the median malicious score), phases shaded, the threshold dashed."),
            ("table", ["model", "labels", "TPR [95% CI]", "FPR [95% CI]", "ROC-AUC"], label_rows),
            ("p", disagree)]


def _transfer_blocks(ev: dict[str, Any]) -> list[Block]:
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    default = ev["target_fprs"][0]
    rows, missing = [], []
    for s in ev["transfer"]["sets"]:
        if not s["available"]:
            missing.append(f"{s['name']}: not measured, {s['why_not']}.")
            continue
        for key, m in s["models"].items():
            at = m["at"][0]
            fah = (m.get("false_alarms_per_hour") or [None])[0]
            rows.append([s["name"], titles.get(key, key), fmt(s["rows"], "int"), fmt(m.get("auc"), "acc"),
                         _pct_ci(at["tpr"], at["tpr_ci"]), _pct_ci(at["fpr"], at["fpr_ci"]),
                         fmt(fah, "num") if fah is not None else ""])
    b: list[Block] = [("h3", "Transfer: other captures"),
                      ("p", f"The temporal-split models at their FPR {_fpr_label(default)} thresholds (chosen on the "
                            "simulated training capture) on the unseen simulated capture and on real data. The real "
                            "benign shard is all benign: only its false-alarm rate means anything. The N-BaIoT rows "
                            "come from another device and testbed (a doorbell; benign, then a BASHLITE/gafgyt scan).")]
    if rows:
        b.append(("table", ["data", "model", "rows", "ROC-AUC", "TPR [95% CI]", "FPR [95% CI]", "false alarms / h"],
                  rows))
    if missing:
        b.append(("p", " ".join(missing)))
    return b


# ----------------------------------------------------------------------------- figures


def figures(ev: dict[str, Any] | None) -> dict[str, bytes]:
    """``evaluation_roc`` and ``evaluation_timeline`` PNGs; {} when the part did not run."""
    if not ev:
        return {}
    from nidslab.figures import png_bytes
    from nidslab.study.figures import plt

    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    out = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, roc in ev["roc"].items():
        if not roc:
            continue
        line, = ax.plot([max(f, 1e-6) for f in roc["fpr"]], roc["tpr"],
                        label=f"{titles.get(key, key)} (AUC {roc['auc']:.4f})")
        p = ev["operating_points"][key][0]
        if p["fpr"] is not None and p["tpr"] is not None:
            ax.plot([max(p["fpr"], 1e-6)], [p["tpr"]], "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("false-positive rate (test, temporal split)")
    ax.set_ylabel("true-positive rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out["evaluation_roc"] = png_bytes(fig)

    det = ev["detection"]
    fig, axes = plt.subplots(len(det), 1, figsize=(9, 2.2 * len(det)), sharex=True, squeeze=False)
    u = ev["unseen_capture"]
    colours = {"scan": "#fdd0a2", "bruteforce": "#c6dbef", "loader": "#c7e9c0", "propagation": "#dadaeb",
               "flood": "#fcbba1"}
    for ax, (key, d) in zip(axes[:, 0], det.items()):
        tl = d["timeline"]
        for ph in u["phases"]:
            if ph["name"] != "benign":
                ax.axvspan(ph["start_s"], ph["end_s"], color=colours.get(ph["name"], "#eeeeee"), alpha=0.5,
                           label=ph["name"])
        t = tl["t"]
        ax.plot(t, [float("nan") if v is None else v for v in tl["benign"]["max"]], lw=0.8, color="#1f77b4",
                label="benign: highest")
        ax.plot(t, [float("nan") if v is None else v for v in tl["malicious"]["median"]], lw=0.8, color="#d62728",
                label="malicious: median")
        ax.axhline(tl["threshold"], ls="--", color="black", lw=0.8, label="threshold")
        ax.set_yscale("symlog", linthresh=1.0)  # overconfident logits reach 1e7; the threshold's region stays legible
        ax.set_ylabel("score (symlog)")
        ax.set_title(titles.get(key, key), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper left")
    axes[-1, 0].set_xlabel("seconds from the start of the capture")
    out["evaluation_timeline"] = png_bytes(fig)
    return out


__all__ = ["blocks", "figures"]
