"""`nidslab predict`: score a features table or every packet of a capture with a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from nidslab.cli.common import CONTACTS, INCIDENT_GAP, TARGET_FPR_CHOICES, console, progress_bar, write_table
from nidslab.errors import DataError
from nidslab.operating_points import PROBABILITY_THRESHOLD

if TYPE_CHECKING:
    import numpy as np


def predict_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train`."),
    source: Path = typer.Argument(..., help="Features (.csv, .parquet, .npy; 115 columns) or a capture (.pcap, .pcapng)."),
    out: Path = typer.Option(None, "--out", "-o", help="Scores and labels to write: .csv or .parquet (may be "
                             "left out when --incidents or --incidents-html is given)."),
    threshold: float = typer.Option(PROBABILITY_THRESHOLD, "--threshold", help="Probability at or above which a row is malicious."),
    target_fpr: float = typer.Option(None, "--target-fpr", help="Flag rows with the model's stored threshold for "
                                     f"this false-positive rate ({TARGET_FPR_CHOICES}) instead of --threshold."),
    window: float = typer.Option(1.0, "--window", help="For captures: seconds per line of the summary."),
    incidents: Path = typer.Option(None, "--incidents", help="For captures: write the incidents per source host "
                                   "as JSON lines (.jsonl; see docs/incidents.md), each with its reasons."),
    incidents_html: Path = typer.Option(None, "--incidents-html", help="For captures: write a self-contained page "
                                        "with a score timeline per alerting host, its incidents shaded."),
    gap: float = INCIDENT_GAP,
    contacts: bool = CONTACTS,
    truth: Path = typer.Option(None, "--truth", help="For captures, with --incidents or --incidents-html: the "
                               "capture's per-packet labels (`nidslab simulate` writes NAME.labels.csv beside "
                               "NAME.pcap; or any file of one 0/1 label per packet, in capture order). Each incident "
                               "then counts the malicious packets and attack phases it holds, and a line says how many "
                               "incidents hold none and how many hosts that sent malicious packets have one."),
    explain: bool = typer.Option(False, "--explain", help="Add a `reasons` column: for each flagged row, the "
                                 "features that pushed its score most, against the baseline, as JSON (integrated "
                                 "gradients; `nidslab features describe` explains the names)."),
    baseline: str = typer.Option("unflagged", "--baseline", help="The site's normal traffic that reasons compare "
                                 "against (--explain, and the incidents' reasons): 'unflagged' (the rows the model "
                                 "does not flag), a duration such as 10m (the capture's first minutes), or a benign "
                                 "features file or capture."),
    explain_top: int = typer.Option(3, "--explain-top", min=1, help="Reasons per flagged row or incident."),
) -> None:
    """Score rows of features or the packets of a capture; write score and label per row, and for a
    capture the incidents per host with their reasons (--incidents, --incidents-html)."""
    import numpy as np

    from nidslab.evaluate import scores_of
    from nidslab.predict import CAPTURE_SUFFIXES, capture_features
    from nidslab.saved_model import load_model

    wants_incidents = incidents is not None or incidents_html is not None
    if out is None and not wants_incidents:
        raise DataError("nothing to write: give --out SCORES (.csv or .parquet), --incidents INCIDENTS.jsonl or "
                        "--incidents-html PAGE.html")
    if wants_incidents and source.suffix.lower() not in CAPTURE_SUFFIXES:
        raise DataError(f"{source}: incidents need a capture (.pcap, .pcapng), whose packets have source hosts and "
                        "times; a features table has neither")
    _check_incident_outputs(source, out, incidents, incidents_html)
    if truth is not None and not wants_incidents:
        raise DataError("--truth labels incidents: give --incidents INCIDENTS.jsonl or --incidents-html PAGE.html too")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"{out}: output must be .csv or .parquet")
    if out is not None and out.is_dir():
        raise DataError(f"{out}: is a folder; expected the path of a .csv or .parquet file to write")
    if not 0 <= threshold <= 1:
        raise DataError(f"--threshold must be a probability in [0, 1], got {threshold}")
    if not 1e-6 <= window < float("inf"):  # before any work: the summary is made after the scores are written
        raise DataError(f"--window must be finite seconds, at least 1e-6 (a capture's time resolution), got {window}")
    from nidslab.paths import refuse_output_is_input

    for written, option in ((out, "-o"), (incidents, "--incidents"), (incidents_html, "--incidents-html")):
        if written is not None:
            refuse_output_is_input(written, source, option=option)
    packet_labels = None
    if truth is not None:  # before any scoring: a wrong file fails at once
        from nidslab.features.pcap import count_records
        from nidslab.predict import read_packet_labels

        packet_labels = read_packet_labels(truth, count_records(source))
    saved = load_model(model_dir)
    t_logit = saved.threshold_for(target_fpr) if target_fpr is not None else None
    times = rows = None
    if source.suffix.lower() in CAPTURE_SUFFIXES and wants_incidents:
        from nidslab.predict import capture_rows

        with progress_bar(f"reading {source.name}") as update:
            rows = capture_rows(source, progress=update)
        X, times = rows.features, rows.times
    elif source.suffix.lower() in CAPTURE_SUFFIXES:
        with progress_bar(f"reading {source.name}") as update:
            X, times = capture_features(source, progress=update)
    else:
        from nidslab.data import read_features

        X = read_features(source)
    logits = saved.predict_raw(X, source=str(source))
    scores = scores_of(logits, saved.spec.head)
    rule = str(threshold)  # the alert rule in words
    if t_logit is None:
        labels = (scores >= threshold).astype(np.uint8)
    else:  # on the logit scale: probabilities saturate at 1.0 in float32 and would tie the rows it must split
        labels = (logits >= t_logit).astype(np.uint8)
        rule = f"the threshold for FPR {target_fpr:g} (logit {t_logit:.4g})"
    # one baseline and one explainer for the reasons column and the incidents' reasons
    wants_reasons = (explain and out is not None) or rows is not None
    explain_rows, n_base = (_explainer(saved, X, times, labels, baseline, explain_top, source) if wants_reasons
                            else (None, 0))
    if out is not None:
        columns: dict[str, Any] = {"score": scores, "label": labels} if times is None else {"time": times, "score": scores,
                                                                            "label": labels}
        if explain:
            columns["reasons"] = _reasons_column(explain_rows, n_base, X, labels, baseline)
        write_table(out, columns)
    flagged = int(labels.sum())
    console.print(f"{len(labels):,} rows scored; {flagged:,} ({flagged / max(1, len(labels)):.1%}) at or above "
                  f"{rule} flagged malicious" + (f"; written to {out}" if out is not None else ""))
    if times is not None and len(times):
        console.print(_window_table(times, labels, window))
    if rows is not None:
        _write_incidents(rows, scores, labels.astype(bool), gap, incidents, incidents_html, model=str(model_dir),
                         threshold=rule, explain=explain_rows, contacts=contacts, labels=packet_labels,
                         labels_name=truth.name if truth is not None else "")


def _check_incident_outputs(source: Path, out: Path | None, *paths: Path | None) -> None:
    """Refuse incident outputs that would overwrite the input, each other or --out, or that are folders."""
    given = [p for p in paths if p is not None]
    for p in given:
        if p.is_dir():
            raise DataError(f"{p}: is a folder; expected the path of a file to write")
        if p.resolve() == source.resolve():
            raise DataError(f"{p}: is the capture being read; choose another output path")
        if out is not None and p.resolve() == out.resolve():
            raise DataError(f"{p}: is also the --out path; choose another output path")
    if len({p.resolve() for p in given}) < len(given):
        raise DataError("--incidents and --incidents-html name the same file")


def _write_incidents(rows, scores, alert, gap, jsonl_path, html_path, *, model: str, threshold: str,
                     explain=None, contacts: bool = True, labels=None, labels_name: str = "") -> None:
    """Group the alerts into incidents and write them. ``explain(X_rows) -> list[list[dict]]`` (reasons for
    each incident's peak packet, from the capture's 115-column features): where nidslab.explain plugs in.
    ``labels``: (truth, phase or None) per capture record (:func:`nidslab.predict.read_packet_labels`)."""
    import json

    import numpy as np

    from nidslab.contacts import rule_inputs
    from nidslab.incidents import DEFAULT_GAP_S, group_incidents
    from nidslab.paths import atomic_write

    gap_s = DEFAULT_GAP_S if gap is None else float(gap)
    rule: dict[str, Any] = rule_inputs(rows, contacts)
    if labels is not None:  # the labels are per capture record; the rows skip malformed packets
        index = np.asarray(rows.packets.index)
        rule["truth"] = labels[0][index]
        if labels[1] is not None:
            rule["phase"] = labels[1][index]
    found = group_incidents(rows.times, rows.host, scores, alert, gap_s=gap_s, index=rows.packets.index,
                            host_names=rows.host_names, packets=rows.packets, features=rows.features,
                            explain=explain, **rule)
    if jsonl_path is not None:
        with atomic_write(jsonl_path, "w") as fh:
            for inc in found:
                fh.write(json.dumps(inc.to_dict()) + "\n")
    if html_path is not None:
        from nidslab.incident_page import incidents_html

        page = incidents_html(found, times=rows.times, host=rows.host, host_names=rows.host_names, scores=scores,
                              alert=alert, title=f"nidslab incidents: {model}", threshold=threshold, gap_s=gap_s)
        with atomic_write(html_path, "w") as fh:
            fh.write(page)
    hosts = len({i.host for i in found})
    written = " and ".join(str(p) for p in (jsonl_path, html_path) if p is not None)
    on_contact = sum(1 for i in found if i.contact is not None)
    console.print(f"{len(found):,} incident(s) on {hosts:,} host(s) (quiet gap {gap_s:g} s"
                  + (f"; {on_contact:,} with a telnet login accepted on contact" if on_contact else "")
                  + f"); written to {written}")
    if labels is not None:
        console.print(_against_truth(found, alert, rule, rows, gap_s, labels_name))


def _against_truth(found, alert, rule: dict, rows, gap_s: float, name: str) -> str:
    """One line: incidents that hold no malicious packet, those before the first malicious packet, and the hosts
    that sent malicious packets found (:func:`nidslab.incidents.incident_measures`, the study's measures: an
    alert, the model's or the contact rule's, at or after the host's first malicious packet)."""
    from nidslab.contacts import contact_alerts
    from nidslab.incidents import incident_measures

    if "peer" in rule:  # the contact rule's alerts count, as they open incidents
        alert, _ = contact_alerts(rows.times, rows.host, rule["peer"], rule["accepts"], alert, gap_s=gap_s,
                                  outside=tuple(rule["outside"]))
    m = incident_measures(found, ts=rows.times, host=rows.host, alert=alert, truth=rule["truth"],
                          host_names=rows.host_names)
    false = sum(1 for i in found if not i.malicious)
    times = ("" if m["median_time_to_detect_s"] is None else
             f" (median {m['median_time_to_detect_s']:.2f} s, worst {m['worst_time_to_detect_s']:.2f} s after their "
             "first malicious packet)")
    return (f"against {name}: {len(found) - false:,} incident(s) hold malicious packets, {false:,} hold none, "
            f"{m['false_incidents_benign']:,} opened before the first malicious packet; {m['detected_hosts']:,} of "
            f"the {m['infected_hosts']:,} host(s) that sent malicious packets detected{times}")


def _explainer(saved, X, times, labels, baseline: str, top: int, source: Path):
    """``(explain(X_rows), baseline rows)``: reasons against ``baseline`` for the reasons column and for the
    incidents (called for each incident's peak packet only); ``(None, 0)`` where no row is flagged."""
    from nidslab.explain import baseline_rows, explainer_for

    flagged = labels.astype(bool)
    if not flagged.any():
        return None, 0
    base = baseline_rows(baseline, X, times=times, flagged=flagged, source=str(source))
    return explainer_for(saved, base, top=top), len(base)


def _reasons_column(explain_rows, n_base: int, X, labels, baseline: str) -> list[str]:
    """JSON reasons of the flagged rows, "" for the others; prints the first few."""
    import json
    import time

    import numpy as np

    rows = np.flatnonzero(labels)
    out = [""] * len(labels)
    if explain_rows is None or not len(rows):
        return out
    start = time.perf_counter()
    chunk = 4096
    reasons: list[list[dict]] = []
    with progress_bar("explaining the flagged rows") as update:
        for s in range(0, len(rows), chunk):
            reasons += explain_rows(X[rows[s:s + chunk]])
            update(min(s + chunk, len(rows)), len(rows), f"{min(s + chunk, len(rows)):,} of {len(rows):,} rows")
    for i, r in zip(rows, reasons):
        out[i] = json.dumps(r, allow_nan=False, default=float)
    console.print(f"reasons for {len(rows):,} flagged rows against a baseline of {n_base:,} rows ({baseline}) "
                  f"in {time.perf_counter() - start:.1f} s; the first:")
    for i, r in list(zip(rows, reasons))[:3]:
        console.print(f"  row {i:,}: " + ("; ".join(x["text"] for x in r) or "no feature above its baseline"),
                      highlight=False)
    return out


def _window_table(times: np.ndarray, labels: np.ndarray, window: float) -> Table:
    import numpy as np

    from nidslab.predict import flagged_per_window

    starts, packets, flagged = flagged_per_window(times, labels, window)
    t = Table(title=f"share flagged per {window:g} s window")
    for col in ("window start (s)", "packets", "flagged"):
        t.add_column(col, justify="right")
    rows = np.arange(len(starts))
    if len(rows) > 40:  # keep the terminal readable: first and last 20 windows
        rows = np.concatenate([rows[:20], rows[-20:]])
    for i in rows:
        t.add_row(f"{starts[i]:g}", f"{packets[i]:,}", f"{flagged[i] / packets[i]:.1%}")
    return t


def register(app: typer.Typer) -> None:
    """Add `predict` to the root app."""
    app.command("predict")(predict_cmd)


__all__ = ["register"]
