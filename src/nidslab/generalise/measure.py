"""What an operator sees at a held-out site: the measures of issue 20 item 6, per network.

Alerts (flagged packets) are grouped per source host into incidents by
:func:`nidslab.incidents.group_incidents` (an incident opens on an alert and closes after ``gap_s``
quiet seconds). Pure NumPy apart from that call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from nidslab.incidents import DEFAULT_GAP_S


def incident_table(ts: np.ndarray, host: np.ndarray, flagged: np.ndarray, *, gap_s: float = DEFAULT_GAP_S):
    """Incidents of per-packet alerts as columns: (host int64, start float64, end float64) per incident.

    ``ts`` (n,) seconds in capture order, ``host`` (n,) int ids, ``flagged`` (n,) bool.
    """
    from nidslab.incidents import group_incidents

    ts = np.asarray(ts, np.float64)
    host = np.asarray(host, np.int64)
    flagged = np.asarray(flagged, bool)
    names = None
    if host.size and (host.min() < 0 or host.max() > 1 << 40):  # group_incidents takes small ids
        uniq, host = np.unique(host, return_inverse=True)
        names = [str(int(u)) for u in uniq]
    inc = group_incidents(ts, host, flagged.astype(np.float32), flagged, gap_s=gap_s,
                          host_names=names)
    h = np.array([int(i.host) for i in inc], np.int64)
    return (h, np.array([i.start for i in inc], np.float64), np.array([i.end for i in inc], np.float64))


def confirmed_alerts(ts: np.ndarray, host: np.ndarray, flagged: np.ndarray, *, alerts: int = 1,
                     window_s: float = 5.0) -> np.ndarray:
    """Alerts that are at least the ``alerts``-th of their host within ``window_s`` seconds (n,) bool.

    A bot scans or floods at tens to hundreds of packets a second, so it crosses a threshold many times
    in a row; a benign host's rare outlier packet does not. ``alerts=1`` returns ``flagged`` as it is.
    Vectorised: one stable sort of the alerts by host.
    """
    flagged = np.asarray(flagged, bool)
    if alerts <= 1:
        return flagged
    idx = np.flatnonzero(flagged)
    order = np.lexsort((idx, np.asarray(host)[idx]))  # by host, then capture order
    rows = idx[order]
    h, t = np.asarray(host)[rows], np.asarray(ts, np.float64)[rows]
    k = alerts - 1
    ok = np.zeros(len(rows), bool)
    if len(rows) > k:
        ok[k:] = (h[k:] == h[:-k]) & (t[k:] - t[:-k] <= window_s)
    out = np.zeros_like(flagged)
    out[rows[ok]] = True
    return out


def site_alerts(net, flagged: np.ndarray, *, alerts: int, window_s: float, gap_s: float,
                contacts: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The alerts an operator sees at a site: the model's ``flagged`` packets (n,) bool that are at least the
    ``alerts``-th of their host within ``window_s``, then (``contacts``, where ``net`` has its packets'
    peers) the contact rule's alerts added (:func:`nidslab.contacts.contact_alerts`). Returns (alerts,
    contact alerts or None)."""
    from nidslab.contacts import contact_alerts

    out = confirmed_alerts(net.ts, net.host, flagged, alerts=alerts, window_s=window_s)
    if not contacts or net.peer is None or net.accepts is None:
        return out, None
    return contact_alerts(net.ts, net.host, net.peer, net.accepts, out, gap_s=gap_s, outside=net.outside)


@dataclass
class NetworkMeasures:
    """The measures of one held-out network at one calibrated threshold (times in seconds)."""

    network: str
    benign_hours: float  # benign-only traffic scored (after the calibration window, before the outbreak)
    false_incidents: int  # incidents in that traffic
    false_incidents_per_day: float
    incidents_uninfected_outbreak: int  # incidents on hosts that are not infected, from the onset on
    infected_hosts: int
    infected_detected: int
    median_time_to_incident_s: float | None  # over detected hosts; None if none detected
    worst_time_to_incident_s: float | None  # inf when a host went undetected
    median_time_from_bot_s: float | None  # the same from the host's own attack traffic (scan once infected,
    worst_time_from_bot_s: float | None  # flood); None where the source has no attack phases
    fpr: float  # per packet, benign packets after the calibration window (whole capture)
    tpr: float  # per packet, malicious packets
    threshold: float
    times_to_incident_s: list = field(default_factory=list)  # per infected host (inf: never detected)
    detected_by_contact: int = 0  # infected hosts whose first alert was a contact alert (nidslab.contacts)
    # per infected host: from its first malicious packet to the first login it accepts (the login that infects
    # it): the earliest a detector can know the host is infected; before it, its malicious packets are answers
    # to a bot's probes (ARP replies, RSTs). Empty where the packets' flags are unknown; inf: no login seen
    login_floor_s: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def measure_network(name: str, ts: np.ndarray, host: np.ndarray, truth: np.ndarray, flagged: np.ndarray, *,
                    onset_s: float, infected: np.ndarray, eval_from_s: float, threshold: float,
                    gap_s: float = DEFAULT_GAP_S, bot_start: dict | None = None,
                    contact: np.ndarray | None = None, accepts: np.ndarray | None = None) -> NetworkMeasures:
    """Measures of one network from per-packet alerts.

    ``eval_from_s``: the end of the calibration window (earlier packets are not scored for false alarms).
    False incidents: incidents that start in [eval_from_s, onset_s); per day of that traffic's duration.
    Time to incident: per infected host, from its first malicious packet to its first alert at or after it
    (the alert that opens its incident, or joins one already open). With ``bot_start`` (host -> time its own
    attack traffic starts): also from that time to its first alert at or after it. ``contact``: (n,) bool, the
    alerts of ``flagged`` that the contact rule added (:func:`nidslab.contacts.contact_alerts`), counted in
    ``detected_by_contact`` when one is a host's first. ``accepts``: (n,) bool, packets that accept a login
    (:func:`nidslab.contacts.login_accepts`), for ``login_floor_s``.
    """
    ts = np.asarray(ts, np.float64)
    truth = np.asarray(truth).astype(bool)
    flagged = np.asarray(flagged, bool)
    inc_host, inc_start, _inc_end = incident_table(ts, host, flagged, gap_s=gap_s)
    benign_end = min(onset_s, float(ts[-1]))
    hours = max(benign_end - eval_from_s, 0.0) / 3600.0
    false = int(np.sum((inc_start >= eval_from_s) & (inc_start < onset_s)))
    uninfected = int(np.sum((inc_start >= onset_s) & ~np.isin(inc_host, infected)))
    host = np.asarray(host, np.int64)
    delay_list: list[float] = []
    bot_list: list[float] = []
    by_contact = 0
    floor: list[float] = []
    for h in np.asarray(infected, np.int64):  # a handful of hosts per network
        mine = np.flatnonzero((host == h) & truth)
        if mine.size == 0:
            continue
        hits = np.flatnonzero((host[mine[0]:] == h) & flagged[mine[0]:])
        delay_list.append(float(ts[mine[0] + hits[0]] - ts[mine[0]]) if hits.size else np.inf)
        by_contact += int(bool(hits.size) and contact is not None and bool(contact[mine[0] + hits[0]]))
        if accepts is not None:
            login = mine[np.asarray(accepts, bool)[mine]]
            floor.append(float(ts[login[0]] - ts[mine[0]]) if login.size else np.inf)
        if bot_start and int(h) in bot_start:
            k = int(np.searchsorted(ts, bot_start[int(h)], side="left"))
            hits = np.flatnonzero((host[k:] == h) & flagged[k:])
            bot_list.append(float(ts[k + hits[0]] - bot_start[int(h)]) if hits.size else np.inf)
    delays, from_bot = np.array(delay_list), np.array(bot_list)
    det, det_bot = delays[np.isfinite(delays)], from_bot[np.isfinite(from_bot)]
    scored = ts >= eval_from_s
    ben, mal = scored & ~truth, truth
    return NetworkMeasures(
        network=name, benign_hours=hours, false_incidents=false,
        false_incidents_per_day=false / (hours / 24.0) if hours > 0 else float("nan"),
        incidents_uninfected_outbreak=uninfected, infected_hosts=len(delays), infected_detected=int(det.size),
        median_time_to_incident_s=float(np.median(det)) if det.size else None,
        worst_time_to_incident_s=float(delays.max()) if delays.size else None,
        median_time_from_bot_s=float(np.median(det_bot)) if det_bot.size else None,
        worst_time_from_bot_s=float(from_bot.max()) if from_bot.size else None,
        fpr=float(flagged[ben].mean()) if ben.any() else float("nan"),
        tpr=float(flagged[mal].mean()) if mal.any() else float("nan"), threshold=float(threshold),
        times_to_incident_s=[float(d) for d in delays], detected_by_contact=by_contact, login_floor_s=floor,
    )


def login_floor_text(nets, within: float, secs=lambda x: f"{x:.2f} s") -> str:
    """The floor under the time-to-incident targets over networks ``nets``, in words ("" where no login was seen).

    ``nets``: measures with, per infected host, ``login_floor_s`` (seconds from its first malicious packet to the
    first login it accepts) and ``times_to_incident_s`` (to its first incident), None or inf for none
    (:class:`NetworkMeasures`, or the study part's results); a network whose login floors were not measured
    (lists of other lengths) is left out. Hosts whose infecting login comes more than ``within`` seconds after
    their first malicious packet (answers to a bot's probes) are out of reach of any detector that waits for the
    login; then the time from that login to the first incident. ``secs`` formats a number of seconds."""
    def real(x) -> float:
        return np.inf if x is None else float(x)

    pairs = [(real(f), real(t)) for n in nets if len(n.login_floor_s) == len(n.times_to_incident_s)
             for f, t in zip(n.login_floor_s, n.times_to_incident_s)]
    seen = [f for f, _ in pairs if np.isfinite(f)]
    if not seen:
        return ""
    late = sum(1 for f, _ in pairs if f > within)
    since = [t - f for f, t in pairs if np.isfinite(f) and np.isfinite(t)]
    text = (f"{late} of {len(pairs)} infected hosts accept the login that infects them more than {within:g} s after "
            f"their first malicious packet (worst {secs(max(seen))}): the floor for any detector that waits for it")
    if since:
        text += (f"; counted from that login: median {secs(float(np.median(since)))}, worst {secs(max(since))}, "
                 f"{sum(1 for x in since if x <= within)} of {len(pairs)} within {within:g} s")
    return text


def verdict(false_per_day: float, detected: int | None = None, infected: int | None = None,
            budget: float = 1.0) -> str:
    """One plain line: "usable at this budget", or "not usable: N false incidents per day", or (within
    the budget but blind) "not usable: K of M infected hosts never detected"."""
    if not (np.isfinite(false_per_day) and false_per_day <= budget):
        return f"not usable: {false_per_day:,.0f} false incidents per day"
    if detected is not None and infected and detected < infected:
        return f"not usable: {infected - detected} of {infected} infected hosts never detected"
    return "usable at this budget"
