"""How close is the simulated benign phase to a real capture? Traffic statistics and feature KS distances.

:func:`compare_with_capture` reads both captures with nidslab's reader, takes the
simulation's benign phase (by default only its first ``duration(real)`` seconds, so both
sides cover the same time from a cold start: AfterImage statistics with a 69 s half-life
keep growing for minutes), and reports protocol mix, packet-size and inter-arrival
quantiles with two-sample Kolmogorov-Smirnov statistics, packets, hosts and flows per
second, and, after extracting ``uci`` features from both, the KS statistic of every feature
summarised per feature group.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from nidslab import schema

if TYPE_CHECKING:
    from nidslab.simulate import Simulation

PROTOCOLS = ("TCP", "UDP", "ICMP", "ARP", "IPv6", "other L2")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _protocol(p) -> np.ndarray:
    """Protocol class index (into PROTOCOLS) of each packet."""
    out = np.full(len(p), 5, np.int64)
    v4 = p.l3 == 1
    out[v4 & (p.l4 == 1)] = 0
    out[v4 & (p.l4 == 2)] = 1
    out[v4 & (p.l4 == 3)] = 2
    out[p.l3 == 3] = 3
    out[p.l3 == 2] = 4
    return out


def _per_second(ts: np.ndarray, keys: np.ndarray) -> float:
    """Mean number of distinct keys (rows of ``keys``) per 1-second window."""
    if not len(ts):
        return 0.0
    sec = np.floor(ts - ts[0]).astype(np.int64)
    rows = np.concatenate([sec[:, None].astype(np.uint64), keys.astype(np.uint64)], axis=1)
    uniq = np.unique(rows, axis=0)
    return float(len(uniq) / (sec[-1] + 1))


def traffic_stats(p) -> dict:
    """Packet-level statistics of a :class:`nidslab.features.Packets` batch."""
    ts = p.ts
    n = len(ts)
    dur = float(ts[-1] - ts[0]) if n > 1 else 0.0
    proto = _protocol(p)
    mix = np.bincount(proto, minlength=len(PROTOCOLS)) / max(n, 1)
    sizes = p.wire_len.astype(np.float64)
    iat = np.diff(ts)
    ip_src = p.ip_src[:, :4].astype(np.uint64)
    src_ip = (ip_src[:, 0] << 24) | (ip_src[:, 1] << 16) | (ip_src[:, 2] << 8) | ip_src[:, 3]
    dst = p.ip_dst[:, :4].astype(np.uint64)
    dst_ip = (dst[:, 0] << 24) | (dst[:, 1] << 16) | (dst[:, 2] << 8) | dst[:, 3]
    host = np.where(p.l3 == 0, p.eth_src, src_ip)  # non-IP frames: the MAC
    flow = np.stack([host, np.where(p.l3 == 0, p.eth_dst, dst_ip), p.l4, p.sport, p.dport], axis=1)
    return {
        "packets": n,
        "duration_s": dur,
        "packets_per_s": n / dur if dur > 0 else float("nan"),
        "protocol_mix": {k: float(v) for k, v in zip(PROTOCOLS, mix)},
        "size_quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(sizes, QUANTILES))},
        "size_mean": float(sizes.mean()),
        "iat_quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(iat, QUANTILES))} if n > 1 else {},
        "hosts_per_s": _per_second(ts, host[:, None]),
        "flows_per_s": _per_second(ts, flow),
        "hosts": int(len(np.unique(host))),
        "flows": int(len(np.unique(flow, axis=0))),
        "_sizes": sizes,
        "_iat": iat,
    }


def compare_with_capture(
    real_path: str | os.PathLike,
    sim: str | os.PathLike | Simulation,
    *,
    sim_benign_packets: int | None = None,
    sim_window_s: float | None = None,
    features: bool = True,
) -> dict:
    """Compare the benign phase of a simulated capture with a real capture.

    ``sim``: a simulated capture (or a :class:`nidslab.simulate.Simulation`);
    ``sim_benign_packets``: packets of its benign phase (default: its ``onset_index``, or
    ``round(n * 121_621 / 764_137)`` for a bare path); ``sim_window_s``: compare only the
    first this many seconds of that phase (default: the real capture's duration; ``inf`` for
    the whole phase). ``features``: also extract ``uci`` features and compare them.

    Returns a dict: ``real`` and ``sim`` (see :func:`traffic_stats`), ``protocol_tv``
    (total-variation distance of the protocol mixes, 0-1), ``size_ks``, ``iat_ks`` (KS
    statistics, 0-1), and ``feature_ks`` ({group: {mean, median, max, worst}} of the
    per-feature KS statistics) when ``features``.
    """
    from scipy.stats import ks_2samp

    from nidslab.features import extract_features, read_packets
    from nidslab.features.pcap import count_records
    from nidslab.simulate import Simulation, onset_for

    if isinstance(sim, Simulation):
        sim_benign_packets = sim.onset_index if sim_benign_packets is None else sim_benign_packets
        sim = sim.path
    real = read_packets(real_path)
    if len(real) < 2:
        from nidslab.errors import DataError

        raise DataError(f"{real_path}: needs at least 2 packets to compare, found {len(real)}")
    if sim_benign_packets is None:
        sim_benign_packets = onset_for(count_records(sim) or 0)
    sp = read_packets(sim, limit=sim_benign_packets)
    window = float(real.ts[-1] - real.ts[0]) if sim_window_s is None else float(sim_window_s)
    n_sim = int(np.searchsorted(sp.ts, sp.ts[0] + window, side="right")) if len(sp) else 0
    r, s = traffic_stats(real), traffic_stats(sp.take(slice(0, n_sim)))
    out: dict[str, Any] = {
        "real_path": str(real_path),
        "sim_path": str(sim),
        "window_s": window,
        "real": r,
        "sim": s,
        "protocol_tv": 0.5 * float(sum(abs(r["protocol_mix"][k] - s["protocol_mix"][k]) for k in PROTOCOLS)),
        "size_ks": float(ks_2samp(r["_sizes"], s["_sizes"]).statistic),
        "iat_ks": float(ks_2samp(r["_iat"], s["_iat"]).statistic),
    }
    if features:
        Xr = extract_features(real_path)
        Xs = extract_features(sim, limit=n_sim)
        ks = np.array([ks_2samp(Xr[:, j], Xs[:, j]).statistic for j in range(Xr.shape[1])])
        groups = {}
        for g in schema.GROUPS:
            idx = np.array(schema.indices(schema.features_in(g)))
            v = ks[idx]
            w = int(idx[np.argmax(v)])
            groups[g] = {"mean": float(v.mean()), "median": float(np.median(v)), "max": float(v.max()),
                         "worst": schema.FEATURE_NAMES[w]}
        out["feature_ks"] = groups
        out["feature_ks_all"] = {n: float(v) for n, v in zip(schema.FEATURE_NAMES, ks)}
    for side in ("real", "sim"):
        out[side] = {k: v for k, v in out[side].items() if not k.startswith("_")}
    return out


def table_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """The comparison as rows of (measure, real, simulated, distance) strings, for printing."""
    r, s = result["real"], result["sim"]
    rows = [
        ("packets", f"{r['packets']:,}", f"{s['packets']:,}", ""),
        ("duration (s)", f"{r['duration_s']:.1f}", f"{s['duration_s']:.1f}", ""),
        ("packets/s", f"{r['packets_per_s']:.1f}", f"{s['packets_per_s']:.1f}", ""),
        ("hosts/s (distinct sources)", f"{r['hosts_per_s']:.2f}", f"{s['hosts_per_s']:.2f}", ""),
        ("flows/s (distinct 5-tuples)", f"{r['flows_per_s']:.2f}", f"{s['flows_per_s']:.2f}", ""),
        ("hosts / flows in all", f"{r['hosts']} / {r['flows']}", f"{s['hosts']} / {s['flows']}", ""),
    ]
    for k in PROTOCOLS:
        d = "" if k != PROTOCOLS[0] else f"TV {result['protocol_tv']:.3f}"
        rows.append((f"share {k}", f"{r['protocol_mix'][k]:.3f}", f"{s['protocol_mix'][k]:.3f}", d))
    qs = list(r["size_quantiles"])
    rows.append(("size q5/q25/q50/q75/q95 (B)", "/".join(f"{r['size_quantiles'][q]:.0f}" for q in qs),
                 "/".join(f"{s['size_quantiles'][q]:.0f}" for q in qs), f"KS {result['size_ks']:.3f}"))
    rows.append(("inter-arrival q5/q25/q50/q75/q95 (ms)",
                 "/".join(f"{1e3 * r['iat_quantiles'][q]:.3g}" for q in qs),
                 "/".join(f"{1e3 * s['iat_quantiles'][q]:.3g}" for q in qs), f"KS {result['iat_ks']:.3f}"))
    for g, v in result.get("feature_ks", {}).items():
        rows.append((f"features {g}: KS mean / max", "", "", f"{v['mean']:.3f} / {v['max']:.3f} ({v['worst']})"))
    return rows
