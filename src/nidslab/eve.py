"""Suricata EVE JSON ``alert`` events, so pipelines built for Suricata take nidslab's alerts unchanged.

Where the field list comes from:

- Suricata's documentation, "Eve JSON Format" (docs.suricata.io, output/eve/eve-json-format, checked
  against the 6.0 and 7.0 pages): every event has ``timestamp`` (ISO 8601 with microseconds and a
  ``+hhmm`` offset, e.g. ``2017-04-07T22:24:37.251547+0100``), ``event_type``, the flow tuple
  ``src_ip``, ``src_port``, ``dest_ip``, ``dest_port``, ``proto`` (upper case name, "TCP", "UDP",
  "ICMP", ...), and for ``event_type: alert`` an ``alert`` object with ``action``, ``gid``,
  ``signature_id``, ``rev``, ``signature``, ``category`` and ``severity`` (1 = highest; the
  classification's priority). ``pcap_cnt`` is the packet number when reading a capture; ``ether``
  holds ``src_mac`` / ``dest_mac``. Ports are left out for packets without them, as Suricata does.
- Filebeat's Suricata module (elastic/beats, x-pack/filebeat/module/suricata/eve/_meta/fields.yml; the
  "Suricata fields" page of the Filebeat reference) types them: ``timestamp`` date, ``event_type`` and
  ``proto`` keyword, ``src_ip`` / ``dest_ip`` ip, ``src_port`` / ``dest_port`` / ``pcap_cnt`` long,
  ``flow_id`` keyword, ``alert.signature`` / ``alert.category`` / ``alert.action`` keyword,
  ``alert.signature_id`` / ``alert.gid`` / ``alert.rev`` / ``alert.severity`` long. Its ingest pipeline
  renames ``ether.src_mac`` / ``ether.dest_mac`` to ``source.mac`` / ``destination.mac``.

:data:`FIELDS` holds that list with the JSON types; tests check every event against it. nidslab's own
fields (the incident, its reasons) go under the one key ``nidslab``, which Suricata never writes.

Signature ids are in the range Snort and Suricata leave to local rules (1,000,000 to 1,999,999).
"""

from __future__ import annotations

import json
import math
import time

#: EVE alert fields nidslab writes: name -> (JSON types allowed, required). Sources: see the module docstring.
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "timestamp": ((str,), True),
    "event_type": ((str,), True),
    "src_ip": ((str,), False),  # absent for frames without IP (the host is then a MAC: ether.src_mac)
    "src_port": ((int,), False),
    "dest_ip": ((str,), False),
    "dest_port": ((int,), False),
    "proto": ((str,), True),
    "pcap_cnt": ((int,), False),
    "flow_id": ((int,), False),
    "ether": ((dict,), False),
    "alert": ((dict,), True),
    "nidslab": ((dict,), True),
}
ALERT_FIELDS: dict[str, tuple[type, ...]] = {
    "action": (str,), "gid": (int,), "signature_id": (int,), "rev": (int,), "signature": (str,),
    "category": (str,), "severity": (int,),
}
#: signature id per kind of detector (local range); rev 1
SIGNATURES = {
    "incident": (1_000_001, "nidslab: botnet-like traffic from a host (incident)"),
    "packet": (1_000_002, "nidslab: botnet-like packet"),
}
#: Suricata's classification.config: "trojan-activity", "A Network Trojan was detected", priority 1
CATEGORY, SEVERITY = "A Network Trojan was detected", 1
GID = 1


def eve_timestamp(t: float) -> str:
    """Seconds since the epoch as Suricata writes them: ``2017-04-07T21:24:37.251547+0000`` (UTC)."""
    sec = int(t // 1)
    micro = int(round((t - sec) * 1e6))
    if micro == 1_000_000:
        sec, micro = sec + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{micro:06d}+0000"


def _flow(ev: dict, flow: dict | None) -> None:
    if not flow:
        ev["proto"] = "UNKNOWN"
        return
    for k in ("src_ip", "src_port", "dest_ip", "dest_port"):
        if flow.get(k) is not None:
            ev[k] = flow[k]
    ev["proto"] = flow.get("proto") or "UNKNOWN"
    if flow.get("src_mac"):
        ev["ether"] = {"src_mac": flow["src_mac"], "dest_mac": flow.get("dest_mac")}


def _alert(kind: str) -> dict:
    sid, text = SIGNATURES[kind]
    return {"action": "allowed", "gid": GID, "signature_id": sid, "rev": 1, "signature": text,
            "category": CATEGORY, "severity": SEVERITY}


def incident_event(event, *, detector: str = "nidslab", threshold: float | None = None) -> dict:
    """An :class:`nidslab.incidents.IncidentEvent` as one EVE ``alert`` event (a dict).

    The flow tuple is the incident's peak packet's; ``timestamp`` the event's time; ``pcap_cnt`` the
    peak packet's number (1-based, as Suricata counts); ``nidslab`` holds ``event`` (open / update /
    close), the incident (:meth:`nidslab.incidents.Incident.to_dict` less the flow) with its ``reasons``,
    ``detector`` and ``threshold``."""
    inc = event.incident
    ev: dict = {"timestamp": eve_timestamp(event.time), "event_type": "alert"}
    _flow(ev, inc.flow)
    ev["pcap_cnt"] = int(inc.peak_index) + 1
    ev["alert"] = _alert("incident")
    own = {k: v for k, v in inc.to_dict().items() if k != "flow"}
    ev["nidslab"] = {"event": event.kind, "detector": detector, "threshold": threshold, **own}
    return ev


def packet_event(time_s: float, index: int, score: float, flow: dict | None, *, host: str | None = None,
                 detector: str = "nidslab", threshold: float | None = None) -> dict:
    """One alerting packet as an EVE ``alert`` event (``--emit packets --format eve``)."""
    ev: dict = {"timestamp": eve_timestamp(time_s), "event_type": "alert"}
    _flow(ev, flow)
    ev["pcap_cnt"] = int(index) + 1
    ev["alert"] = _alert("packet")
    ev["nidslab"] = {"event": "packet", "detector": detector, "threshold": threshold, "index": int(index),
                     "score": float(score), "host": host}
    return ev


def dumps(ev: dict) -> str:
    """One EVE line (compact JSON, no NaN: a non-finite number becomes null)."""
    return json.dumps(_finite(ev), separators=(",", ":"), allow_nan=False)


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def check_event(ev: dict) -> list[str]:
    """What is wrong with ``ev`` as an EVE alert by :data:`FIELDS` (an empty list when nothing is)."""
    import ipaddress
    import re

    bad = []
    for name, (types, required) in FIELDS.items():
        if name not in ev:
            if required:
                bad.append(f"missing {name}")
            continue
        v = ev[name]
        if not isinstance(v, types) or isinstance(v, bool):
            bad.append(f"{name} is {type(v).__name__}, expected {'/'.join(t.__name__ for t in types)}")
    extra = set(ev) - set(FIELDS)
    if extra:
        bad.append(f"fields outside the list: {sorted(extra)}")
    if ev.get("event_type") != "alert":
        bad.append(f"event_type is {ev.get('event_type')!r}, not 'alert'")
    ts = ev.get("timestamp", "")
    if isinstance(ts, str) and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4}", ts):
        bad.append(f"timestamp {ts!r} is not Suricata's ISO 8601 form")
    for k in ("src_ip", "dest_ip"):
        if isinstance(ev.get(k), str):
            try:
                ipaddress.ip_address(ev[k])
            except ValueError:
                bad.append(f"{k} {ev[k]!r} is not an IP address")
    for k in ("src_port", "dest_port"):
        if isinstance(ev.get(k), int) and not 0 <= ev[k] <= 65535:
            bad.append(f"{k} {ev[k]} is not a port")
    alert = ev.get("alert")
    if isinstance(alert, dict):
        for name, types in ALERT_FIELDS.items():
            if name not in alert:
                bad.append(f"missing alert.{name}")
            elif not isinstance(alert[name], types) or isinstance(alert[name], bool):
                bad.append(f"alert.{name} is {type(alert[name]).__name__}")
        if isinstance(alert.get("severity"), int) and not 1 <= alert["severity"] <= 255:
            bad.append("alert.severity outside 1..255")
    return bad


__all__ = ["ALERT_FIELDS", "FIELDS", "SIGNATURES", "check_event", "dumps", "eve_timestamp", "incident_event",
           "packet_event"]
