"""Contacts: a host that lets a host under an incident log in to it is part of that incident's story.

Mirai spreads by logging in over telnet: the scanner's SYN meets the victim's SYN-ACK, the brute force and the
loader follow, and the victim's own scanning starts seconds to minutes later. Until then nothing the victim
sends looks like an attack, so a per-packet model cannot flag it; what can be seen at once is *who it answered*.
The contact rule: when a host accepts a TCP connection on a login port (its SYN-ACK from telnet, 23 or 2323)
from a host that is inside an open incident at that moment, or from the Internet (``outside``: a LAN device
whose telnet answers the Internet is exposed), that SYN-ACK is an alert of its own, and opens (or joins) an
incident on the accepting host. Alerts of the model are taken as they are (after any confirmation
rule); contact alerts are added to them in capture order, each counting as its host's alert for the logins
after it (a bot's victims can infect others in turn).

What it costs, said plainly: a host with an open telnet port that a bot reaches is flagged even when the login
fails (an *incident on a host that is not infected*, which the measures report apart; an operator wants to
know about an exposed telnet port all the same), and a false incident on a host makes the hosts that accept
telnet from it inside that incident's span false incidents too. It adds nothing where no incident is open and
no login comes from outside. Its false alarms could not be measured: neither the simulated population's benign
devices nor the real captures in ``../shared/data`` accept a single telnet connection.

Pure NumPy: :func:`login_accepts` reads packet columns, :func:`contact_alerts` takes per-packet arrays.
"""

from __future__ import annotations

import numpy as np

#: ports Mirai logs in on ([mirai] scanner.c: 23, every tenth SYN 2323); a SYN-ACK from them accepts a login
LOGIN_PORTS = (23, 2323)
_SYN, _RST, _ACK = 0x02, 0x04, 0x10


def login_accepts(l4: np.ndarray, sport: np.ndarray, tcp_flags: np.ndarray, *,
                  ports: tuple[int, ...] = LOGIN_PORTS) -> np.ndarray:
    """Packets that accept a login connection: TCP SYN-ACK (no RST) sent from one of ``ports``.

    ``l4`` (n,) uint8 (1 = TCP, as :class:`nidslab.features.Packets`), ``sport`` (n,) uint16, ``tcp_flags``
    (n,) uint8. Returns (n,) bool.
    """
    f = np.asarray(tcp_flags, np.uint8)
    synack = ((f & (_SYN | _ACK)) == (_SYN | _ACK)) & ((f & _RST) == 0)
    return (np.asarray(l4) == 1) & synack & np.isin(np.asarray(sport), np.asarray(ports, np.uint16))


def contact_alerts(ts: np.ndarray, host: np.ndarray, peer: np.ndarray, accepts: np.ndarray, alerts: np.ndarray, *,
                   gap_s: float, outside: tuple[int, ...] = (),
                   last_alert: dict[int, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The alerts with the contact rule's alerts added (see the module docstring).

    A host is inside an open incident at time t exactly when it has an alert in [t - gap_s, t] (an incident's
    alerts are never more than ``gap_s`` apart), so the accepts are taken in capture order, each checking its
    peer's latest alert so far: a contact alert counts as its host's alert for the accepts after it.

    Args:
        ts: (n,) float64 packet times, seconds, capture order.
        host: (n,) int64 sending host per packet; peer: (n,) int64 receiving host (same ids).
        accepts: (n,) bool, the packets that accept a login (:func:`login_accepts`).
        alerts: (n,) bool, the model's alerts.
        gap_s: the incidents' quiet gap, seconds (an incident is open from its first alert to ``gap_s`` after its
            last; :data:`nidslab.incidents.DEFAULT_GAP_S` where nothing else is set).
        outside: host ids that stand for the Internet (e.g. -2 in the simulated families): a login accepted from
            them is an alert whether or not they are in an incident (a LAN device whose telnet answers the
            Internet is exposed, the way most Mirai victims were found).
        last_alert: host id -> time of its latest alert before these packets (a stream's earlier chunks); updated
            in place with the contact alerts added here.
    Returns:
        ``(alerts, contact)``: (n,) bool each; ``contact`` marks the added alerts.
    """
    ts = np.asarray(ts, np.float64)
    host, peer = np.asarray(host, np.int64), np.asarray(peer, np.int64)
    out = np.asarray(alerts, bool).copy()
    contact = np.zeros_like(out)
    rows = np.flatnonzero(np.asarray(accepts, bool) & (peer != host))
    if rows.size == 0:
        return out, contact
    earlier = last_alert if last_alert is not None else {}
    # the model's alerts of the contacted peers, per peer in time order (a handful of peers)
    alert_times = {int(p): np.sort(ts[out & (host == p)]) for p in np.unique(peer[rows])}
    outside_set = {int(x) for x in outside}
    for i in rows[np.argsort(ts[rows], kind="stable")].tolist():  # the accepts only: a few per infection
        p, t = int(peer[i]), float(ts[i])
        times = alert_times[p]
        k = int(np.searchsorted(times, t, side="right"))
        last = max(float(times[k - 1]) if k else -np.inf, earlier.get(p, -np.inf))
        if p in outside_set or t - last <= gap_s:
            out[i] = contact[i] = True
            h = int(host[i])
            earlier[h] = max(earlier.get(h, -np.inf), t)
            if h in alert_times:
                alert_times[h] = np.sort(np.append(alert_times[h], t))
    return out, contact


def rule_inputs(rows, on: bool = True) -> dict[str, object]:
    """The keyword arguments that turn the contact rule on in :func:`nidslab.incidents.group_incidents` and
    :meth:`nidslab.incidents.IncidentTracker.update`: ``peer``, ``accepts`` and ``outside`` of ``rows`` (scored
    capture rows or a watched chunk, which carry them from :func:`packet_contacts`); empty when ``on`` is
    False (the rule off)."""
    return {"peer": rows.peer, "accepts": rows.accepts, "outside": rows.outside} if on else {}


def packet_contacts(packets, hosts) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The contact rule's inputs for decoded packets (:class:`nidslab.features.Packets`) whose senders already
    have ids in ``hosts`` (a :class:`nidslab.incidents.HostTable`): ``(peer, accepts, outside)``, the receiving
    host id (n,) int64 of each login accept (-1 for other packets), the accepts (n,) bool, and the peers that are
    Internet addresses."""
    accepts = login_accepts(packets.l4, packets.sport, packets.tcp_flags)
    peer = np.full(len(packets), -1, np.int64)
    if accepts.any():
        peer[accepts] = hosts.ids(packets.take(accepts), destination=True)
    return peer, accepts, hosts.outside(peer[accepts])
