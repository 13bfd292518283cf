"""Speed of `nidslab.features.extract_features` on a large libpcap capture, in packets per second.

    .venv/bin/python benchmarks/bench_features.py [--packets 600000] [--seed 0]
        [--reference-python /tmp/scapyenv/bin/python --reference-dir /tmp/kitsune-ref --reference-packets 5000]

The capture comes from `nidslab.simulate` when that module exists and works, else from a
generator here: Ethernet/IPv4 TCP and UDP frames among a few hundred LAN hosts and some outside
addresses, flows with Zipf-like popularity, exponential gaps, sizes 60-1514 bytes, captured to a
96-byte snap length (the wire length is kept), written with NumPy in bulk.

Timings exclude the first call (kernel compilation or cache loading), which is reported on its
own. With --reference-python (a Python with scapy, numpy and Cython) and --reference-dir (a
checkout of github.com/ymirsky/Kitsune-py), the reference extractor is timed on the first
--reference-packets packets of the same capture and the ratio printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def generate_capture(path: Path, n: int, *, hosts: int = 300, flows: int = 3000, seed: int = 0) -> None:
    """Write an n-packet Ethernet/IPv4 libpcap file of plausible LAN traffic (vectorised)."""
    rng = np.random.default_rng(seed)
    n_out = hosts // 3  # outside addresses
    ips = np.concatenate(
        [
            (192 << 24 | 168 << 16 | 1 << 8) + 1 + np.arange(hosts),  # 192.168.1.x, 192.168.2.x
            rng.integers(1 << 24, 223 << 24, n_out),
        ]
    ).astype(np.uint32)
    macs = rng.integers(1, 1 << 47, hosts + 1).astype(np.uint64) << np.uint64(1)  # unicast
    gateway_mac = macs[-1]
    # flows: (src host, dst address, proto, sport, dport); popularity ~ 1/rank
    f_src = rng.integers(0, hosts, flows)
    f_dst = rng.integers(0, hosts + n_out, flows)
    f_dst = np.where(f_dst == f_src, (f_dst + 1) % (hosts + n_out), f_dst)
    f_udp = rng.random(flows) < 0.3
    f_sport = rng.integers(1024, 65536, flows)
    f_dport = rng.choice(np.array([80, 443, 53, 23, 8080, 1883, 554, 123]), flows)
    p = 1.0 / np.arange(1, flows + 1)
    flow = rng.choice(flows, n, p=p / p.sum())
    reply = rng.random(n) < 0.4  # packets going back from the destination
    src_i = np.where(reply, f_dst[flow], f_src[flow])
    dst_i = np.where(reply, f_src[flow], f_dst[flow])
    sport = np.where(reply, f_dport[flow], f_sport[flow]).astype(np.uint16)
    dport = np.where(reply, f_sport[flow], f_dport[flow]).astype(np.uint16)
    udp = f_udp[flow]
    mac_of = np.concatenate([macs[:hosts], np.full(n_out, gateway_mac)])  # outside via the gateway
    eth_src, eth_dst = mac_of[src_i], mac_of[dst_i]
    wire = np.where(rng.random(n) < 0.5, 60, rng.integers(60, 1515, n)).astype(np.uint32)
    snap = 96
    cap = np.minimum(wire, snap).astype(np.uint32)
    ts = 1_540_446_382.0 + np.cumsum(rng.exponential(1e-3, n))
    sec = ts.astype(np.uint64)
    usec = np.minimum(((ts - sec) * 1e6).round(), 999_999).astype(np.uint64)

    rec = 16 + cap.astype(np.int64)
    start = np.concatenate([[24], 24 + np.cumsum(rec)[:-1]])
    buf = np.zeros(24 + int(rec.sum()), np.uint8)
    buf[:24] = np.frombuffer(
        np.array([0xA1B2C3D4], "<u4").tobytes() + np.array([2, 4], "<u2").tobytes()
        + np.array([0, 0, snap, 1], "<u4").tobytes(), np.uint8
    )

    def put(offset, values, nbytes, order="big"):
        values = np.asarray(values).astype(np.uint64)
        for k in range(nbytes):
            shift = 8 * (nbytes - 1 - k) if order == "big" else 8 * k
            buf[start + offset + k] = ((values >> np.uint64(shift)) & np.uint64(255)).astype(np.uint8)

    put(0, sec, 4, "little")
    put(4, usec, 4, "little")
    put(8, cap, 4, "little")
    put(12, wire, 4, "little")
    f = 16  # frame start within the record
    put(f + 0, eth_dst, 6)
    put(f + 6, eth_src, 6)
    put(f + 12, np.full(n, 0x0800), 2)
    put(f + 14, np.full(n, 0x45), 1)
    put(f + 16, wire - 14, 2)  # IP total length
    put(f + 22, np.full(n, 64), 1)  # TTL
    put(f + 23, np.where(udp, 17, 6), 1)
    put(f + 26, ips[src_i], 4)
    put(f + 30, ips[dst_i], 4)
    put(f + 34, sport, 2)
    put(f + 36, dport, 2)
    put(f + 38, np.where(udp, wire - 34, 0), 2)  # UDP length (TCP: sequence number bytes)
    put(f + 46, np.where(udp, 0, 0x5010), 2)  # TCP data offset 5, ACK
    path.write_bytes(buf.tobytes())


def make_capture(path: Path, n: int, seed: int) -> str:
    try:
        from nidslab.simulate import simulate_capture

        simulate_capture(path, packets=n, seed=seed)
        return "nidslab.simulate"
    except Exception as exc:  # absent or broken: say so and use the generator here
        print(f"(nidslab.simulate not used: {type(exc).__name__}: {exc})")
    generate_capture(path, n, seed=seed)
    return "bench_features generator"


def time_reference(python: str, ref_dir: str, capture: Path, n: int) -> float:
    """Packets/s of Kitsune-py's FE on the first n packets (scapy parser), in a subprocess."""
    script = f"""
import sys, time, numpy as np
np.Inf = np.inf
sys.path.insert(0, {ref_dir!r})
import FeatureExtractor as FE
from scapy.utils import PcapReader, wrpcap
pk = []
for p in PcapReader({str(capture)!r}):
    pk.append(p)
    if len(pk) == {n}: break
wrpcap({str(capture) + '.slice.pcap'!r}, pk)
fe = FE.FE({str(capture) + '.slice.pcap'!r})
t = time.perf_counter(); k = 0
while len(fe.get_next_vector()): k += 1
print(k / (time.perf_counter() - t))
"""
    env = {"PATH": "/usr/bin:/bin"}  # no tshark: the reference's scapy path
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, cwd=ref_dir)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per layout (best is reported)")
    ap.add_argument("--reference-python")
    ap.add_argument("--reference-dir")
    ap.add_argument("--reference-packets", type=int, default=5000)
    args = ap.parse_args()

    from nidslab.features import extract_features

    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "bench.pcap"
        t = time.perf_counter()
        source = make_capture(capture, args.packets, args.seed)
        print(f"capture: {args.packets:,} packets, {capture.stat().st_size / 2**20:.0f} MiB, "
              f"from {source}, written in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        extract_features(capture, layout="uci", limit=1000)
        extract_features(capture, layout="kitsune-py", limit=1000)
        print(f"first calls (kernel compile or cache load, 1,000 packets each): {time.perf_counter() - t:.2f} s")

        rates = {}
        for layout in ("uci", "kitsune-py"):
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                X = extract_features(capture, layout=layout)
                best = min(best, time.perf_counter() - t)
            rates[layout] = X.shape[0] / best
            print(f"{layout:>10}: {X.shape[0]:,} x {X.shape[1]} in {best:.2f} s = {rates[layout]:,.0f} packets/s")

        if args.reference_python and args.reference_dir:
            ref = time_reference(args.reference_python, args.reference_dir, capture, args.reference_packets)
            print(f" reference: Kitsune-py (scapy) on the first {args.reference_packets:,} packets: {ref:,.0f} packets/s")
            for layout, rate in rates.items():
                print(f"  ratio {layout} / reference: {rate / ref:,.0f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
