"""An incident page for a capture: one self-contained HTML file, per alerting host a timeline of its
scores with its incidents shaded and their reasons listed.

Figures are inline PNGs (``data:`` URIs) and the style sheet is inline: the page needs nothing beside
it and opens offline. Hosts are ordered by their number of incidents (most first); at most
``max_hosts`` get a timeline, the others are listed in a table. Per host the scores are binned (the
highest score per bin, ``bins`` bins over the capture), so a timeline stays small whatever the
capture's length.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence

import numpy as np

from nidslab.figures import png_bytes, pyplot

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}.num{text-align:right}.muted{color:#777}img{max-width:100%}
ul.reasons{margin:0;padding-left:1.2em}
"""


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d} UTC"


def _reason_title(r) -> str:
    """The reason's feature in one sentence (nidslab features describe), for a tooltip; "" if unknown."""
    from nidslab.errors import UnknownNameError
    from nidslab.features.describe import describe_feature

    name = r.get("feature") if isinstance(r, dict) else None
    if not isinstance(name, str):
        return ""
    try:
        d = describe_feature(name)
    except UnknownNameError:
        return ""
    return f"{name}: {d.meaning}"


def _reason_text(r) -> str:
    if isinstance(r, dict):
        for key in ("text", "sentence", "description"):
            if r.get(key):
                return str(r[key])
        return ", ".join(f"{k}: {v}" for k, v in r.items())
    return str(r)


def _timeline_png(t0: float, span: float, ts: np.ndarray, s: np.ndarray, incs, threshold: float | None,
                  bins: int) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 2.4))
    x = ts - t0
    if x.size:
        edges = np.linspace(0.0, max(span, 1e-9), bins + 1)
        which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
        top = np.full(bins, np.nan)
        finite = np.isfinite(s)
        np.fmax.at(top, which[finite], s[finite].astype(np.float64))
        ax.plot(edges[:-1], top, lw=0.8, color="#3465a4", label="highest score per bin")
    for inc in incs:
        a, b = inc.start - t0, inc.end - t0
        ax.axvspan(a, max(b, a + span / bins), color="#cc0000", alpha=0.25, lw=0)
    if threshold is not None:
        ax.axhline(threshold, color="#cc0000", lw=0.8, ls="--", label="alert threshold")
    ax.set_xlim(0, max(span, 1e-9))
    ax.set_xlabel("seconds from the capture's first packet")
    ax.set_ylabel("score")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return png_bytes(fig)


def incidents_html(incidents: Sequence, *, times, host, host_names: Sequence[str], scores, alert=None,
                   title: str = "nidslab incidents", threshold=None, gap_s: float | None = None,
                   max_hosts: int = 40, bins: int = 400) -> str:
    """The page as a string.

    Args:
        incidents: :class:`nidslab.incidents.Incident` list (e.g. from :func:`~nidslab.incidents.group_incidents`).
        times: (n,) packet times, seconds; host: (n,) host ids into ``host_names``; scores: (n,) scores.
        alert: (n,) bool alerts (for the per-host counts; optional).
        threshold: the alert threshold, drawn when it is a number, shown as text otherwise.
        gap_s: the quiet gap that closed incidents (shown).
        max_hosts: most hosts with a timeline; bins: points per timeline.
    """
    times = np.asarray(times, np.float64)
    host = np.asarray(host)
    scores = np.asarray(scores)
    t0 = float(times.min()) if times.size else 0.0
    span = float(times.max() - t0) if times.size else 0.0
    by_host: dict[str, list] = {}
    for inc in incidents:
        by_host.setdefault(inc.host, []).append(inc)
    order = sorted(by_host, key=lambda h: (-len(by_host[h]), h))
    name_to_id = {n: i for i, n in enumerate(host_names)}
    thr_num = threshold if isinstance(threshold, (int, float)) else None
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    n_alerts = int(np.count_nonzero(alert)) if alert is not None else None
    facts = [f"{times.size:,} packets over {span:,.1f} s ({_clock(t0) if times.size else '-'} onwards)",
             f"{len(host_names):,} source hosts; {len(incidents):,} incident(s) on {len(by_host):,} of them"]
    if n_alerts is not None:
        facts.append(f"{n_alerts:,} alerting packets")
    if threshold is not None:
        facts.append(f"alert threshold: {html.escape(str(threshold))}")
    if gap_s is not None:
        facts.append(f"an incident closes after {gap_s:g} s without an alert from its host")
    parts.append("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    if not incidents:
        parts.append("<p>No incident: no packet crossed the threshold.</p>")
    shown, rest = order[:max_hosts], order[max_hosts:]
    if shown:
        parts.append("<table><tr><th>host</th><th class='num'>incidents</th><th class='num'>alerts</th>"
                     "<th>first</th><th class='num'>peak score</th></tr>")
        for h in order:
            incs = by_host[h]
            parts.append(f"<tr><td><a href='#host-{html.escape(h)}'>{html.escape(h)}</a></td>"
                         f"<td class='num'>{len(incs):,}</td><td class='num'>{sum(i.alerts for i in incs):,}</td>"
                         f"<td>{_clock(min(i.start for i in incs))}</td>"
                         f"<td class='num'>{max(i.peak_score for i in incs):.4g}</td></tr>")
        parts.append("</table>")
    for h in shown:
        incs = sorted(by_host[h], key=lambda i: i.start)
        hid = name_to_id.get(h)
        rows = np.flatnonzero(host == hid) if hid is not None else np.zeros(0, np.int64)
        png = _timeline_png(t0, span, times[rows], scores[rows], incs, thr_num, bins)
        parts.append(f"<section class='host' id='host-{html.escape(h)}'><h2>{html.escape(h)}</h2>"
                     f"<p class='muted'>{rows.size:,} packets from this host; {len(incs):,} incident(s)</p>"
                     f"<img class='timeline' alt='scores of {html.escape(h)} over time' "
                     f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
        parts.append("<table><tr><th>start</th><th class='num'>duration (s)</th><th class='num'>alerts</th>"
                     "<th class='num'>packets</th><th class='num'>peak score</th><th>phases</th><th>reasons</th></tr>")
        for inc in incs[:200]:
            reasons = "".join(f"<li title='{html.escape(_reason_title(r))}'>{html.escape(_reason_text(r))}</li>"
                              for r in inc.reasons) or \
                "<span class='muted'>none given</span>"
            phases = html.escape(", ".join(inc.phases)) if inc.phases else ""
            parts.append(f"<tr><td>{_clock(inc.start)}</td><td class='num'>{inc.duration:,.2f}</td>"
                         f"<td class='num'>{inc.alerts:,}</td><td class='num'>{inc.packets:,}</td>"
                         f"<td class='num'>{inc.peak_score:.4g}</td><td>{phases}</td>"
                         f"<td><ul class='reasons'>{reasons}</ul></td></tr>")
        if len(incs) > 200:
            parts.append(f"<tr><td colspan='7' class='muted'>... and {len(incs) - 200:,} more</td></tr>")
        parts.append("</table></section>")
    if rest:
        parts.append(f"<p class='muted'>{len(rest):,} more host(s) with incidents have no timeline here "
                     f"(the page shows the {max_hosts} with the most); they are in the table above.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["incidents_html"]
