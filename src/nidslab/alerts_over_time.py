"""A detector's alerts over time: how soon it alerts after an outbreak starts, what share of each attack
phase it flags, and how many false alarms it raises per hour of benign traffic. (Metrics of alerts; the
detectors themselves are in :mod:`nidslab.detect`.)

Inputs are per-packet arrays in capture order: ``ts`` (n,) float64 seconds, ``flagged`` (n,) bool (the
detector's alerts, e.g. ``scores >= threshold``), ``truth`` (n,) 0/1 (1 = the packet belongs to the
malicious activity). Phases are ``(name, start_s, end_s)`` windows as the simulator reports them
(:attr:`nidslab.simulate.Simulation.phases`); they overlap (Mirai scans throughout), so a phase's recall
is that of the malicious packets sent inside its window, not of a disjoint share. Pure NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SECONDS_PER_HOUR = 3600.0


def _arrays(ts: np.ndarray, flagged: np.ndarray, truth: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    ts = np.asarray(ts, dtype=np.float64).ravel()
    flagged = np.asarray(flagged).astype(bool).ravel()
    if ts.shape != flagged.shape:
        raise ValueError(f"ts has {ts.size} packets, flagged {flagged.size}")
    if truth is None:
        return ts, flagged
    truth = np.asarray(truth).astype(bool).ravel()
    if truth.shape != ts.shape:
        raise ValueError(f"ts has {ts.size} packets, truth {truth.size}")
    return ts, flagged, truth


def detection_delay(ts: np.ndarray, flagged: np.ndarray, onset_s: float,
                    truth: np.ndarray | None = None) -> dict:
    """Time from ``onset_s`` to the first alert at or after it.

    Returns ``delay_s`` (seconds, None if nothing after the onset is flagged), ``first_alert_index``
    (packet index), ``packets_after_onset`` (packets from the onset up to and including the first alert).
    With ``truth``: also ``delay_s_malicious`` and ``first_malicious_alert_index``, the first alert that
    lands on a malicious packet (an alert on a benign packet after the onset is luck, not detection).
    """
    if truth is None:
        ts, flagged = _arrays(ts, flagged)
    else:
        ts, flagged, truth = _arrays(ts, flagged, truth)
    start = int(np.searchsorted(ts, onset_s, side="left"))  # ts is in capture (time) order
    out: dict = {"onset_s": float(onset_s), "delay_s": None, "first_alert_index": None, "packets_after_onset": None}
    hits = np.flatnonzero(flagged[start:])
    if hits.size:
        i = start + int(hits[0])
        out.update(delay_s=float(ts[i] - onset_s), first_alert_index=i, packets_after_onset=int(hits[0]) + 1)
    if truth is not None:
        mal = np.flatnonzero(flagged[start:] & truth[start:])
        out["delay_s_malicious"] = float(ts[start + int(mal[0])] - onset_s) if mal.size else None
        out["first_malicious_alert_index"] = start + int(mal[0]) if mal.size else None
    return out


def recall_per_phase(ts: np.ndarray, flagged: np.ndarray, truth: np.ndarray,
                     phases: Sequence[tuple]) -> list[dict]:
    """Per phase window ``(name, start_s, end_s, ...)``: the malicious packets inside it, the share flagged
    (``recall``), and ``delay_s``, the time from the phase's start to its first flagged malicious packet
    (None if none). A phase named ``benign`` is skipped."""
    ts, flagged, truth = _arrays(ts, flagged, truth)
    out = []
    for name, a, b, *_ in phases:
        if name == "benign":
            continue
        lo, hi = np.searchsorted(ts, a, side="left"), np.searchsorted(ts, b, side="right")
        mal = truth[lo:hi]
        hit = flagged[lo:hi] & mal
        first = np.flatnonzero(hit)
        out.append({"phase": name, "start_s": float(a), "end_s": float(b), "malicious_packets": int(mal.sum()),
                    "flagged": int(hit.sum()), "recall": float(hit.sum() / mal.sum()) if mal.any() else None,
                    "delay_s": float(ts[lo + int(first[0])] - a) if first.size else None})
    return out


def false_alarms_per_hour(ts: np.ndarray, flagged: np.ndarray, truth: np.ndarray | None = None, *,
                          until_s: float | None = None) -> dict:
    """Alerts on benign packets per hour of traffic.

    Over the packets before ``until_s`` (e.g. the outbreak's onset: pure benign traffic) or all of them.
    ``truth`` marks the malicious packets to leave out (None: every packet counts as benign). Returns
    ``false_alarms`` (flagged benign packets), ``benign_packets``, ``hours`` (the span of time covered),
    ``per_hour`` and ``fpr`` (per packet).
    """
    if truth is None:
        ts, flagged = _arrays(ts, flagged)
        truth = np.zeros(ts.shape, bool)
    else:
        ts, flagged, truth = _arrays(ts, flagged, truth)
    end = len(ts) if until_s is None else int(np.searchsorted(ts, until_s, side="left"))
    benign = ~truth[:end]
    fa = int(np.sum(flagged[:end] & benign))
    if end == 0:
        hours = 0.0
    else:
        stop = until_s if until_s is not None else ts[end - 1]
        hours = float(max(stop - ts[0], 0.0)) / SECONDS_PER_HOUR
    n = int(benign.sum())
    return {"false_alarms": fa, "benign_packets": n, "hours": hours,
            "per_hour": fa / hours if hours > 0 else None, "fpr": fa / n if n else None}


def timeline(ts: np.ndarray, scores: np.ndarray, truth: np.ndarray, *, bins: int = 300) -> dict:
    """Scores over time, binned for a figure: ``t`` (bin starts, seconds from the first packet), ``max``
    and ``median`` score of the benign and of the malicious packets in each bin (None where a bin has
    none). Sorting per bin is avoided: one lexsort over (bin, score) for the whole series."""
    ts = np.asarray(ts, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    truth = np.asarray(truth).astype(bool).ravel()
    t0 = float(ts[0]) if ts.size else 0.0
    span = float(ts[-1] - t0) if ts.size else 0.0
    edges = np.linspace(0.0, span, bins + 1)
    which = np.clip(np.searchsorted(edges, ts - t0, side="right") - 1, 0, bins - 1)
    out: dict = {"t": edges[:-1].tolist(), "bin_s": span / bins}
    for label, mask in (("benign", ~truth), ("malicious", truth)):
        w, v = which[mask], s[mask]
        order = np.lexsort((v, w))
        w, v = w[order], v[order]
        counts = np.bincount(w, minlength=bins)
        ends = np.cumsum(counts)
        starts = ends - counts
        has = counts > 0
        mx = np.full(bins, np.nan)
        med = np.full(bins, np.nan)
        mx[has] = v[ends[has] - 1]
        med[has] = v[starts[has] + (counts[has] - 1) // 2]
        out[label] = {"max": [None if np.isnan(x) else float(x) for x in mx],
                      "median": [None if np.isnan(x) else float(x) for x in med]}
    return out


__all__ = ["detection_delay", "recall_per_phase", "false_alarms_per_hour", "timeline"]
