"""Speed of `nidslab features extract`, end to end, on a full-size and a scan-only capture (packets/s).

    .venv/bin/python benchmarks/bench_features.py [--packets 764137] [--seed 3] [--scan 200000]
        [--repeat 2] [--timeout 600] [--baseline-src /tmp/old/src]
        [--reference-python /tmp/scapyenv/bin/python --reference-dir /tmp/kitsune-ref --reference-packets 5000]

Two captures: the simulated camera LAN with its Mirai outbreak (`nidslab.simulate`, full size by
default: 764,137 packets, where the outbreak's scanners link one address with hundreds of thousands
of others), and a scan-only capture: one source (one MAC, IP and port, as a Mirai scanner) sending
a TCP SYN to each of --scan new destinations, 1 ms apart, written with NumPy in bulk.

For each capture and layout, the time is end to end: from starting a `nidslab features extract
CAPTURE -o out.parquet --layout L` process to its exit (the Parquet file written), best of
--repeat; the first run of each layout (numba compiling or loading its cache) is reported on its
own. The floor is the same command on the scan capture's first 100 packets: starting Python,
importing numpy, numba and the CLI, numba's first use (which imports scipy.linalg) and loading
the kernels, which every run pays whatever its size; the rate past the floor is printed beside.
With --baseline-src (the src folder of another checkout, e.g. `git worktree add /tmp/old
9ab3a10`), the same commands run with that code too, in turns with this checkout's, and the
ratio of the best times is printed. The process's CPU time (user + system, both threads) is printed too: on a busy machine it
moves less than the wall time. A run over --timeout seconds is stopped and reported as such. With --reference-python (a
Python with scapy, numpy and Cython) and --reference-dir (a checkout of
github.com/ymirsky/Kitsune-py), the reference extractor is timed on the first --reference-packets
packets of the simulated capture and the ratio printed.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_scan_capture(path: Path, n: int, *, seed: int = 0) -> None:
    """One scanner sending a TCP SYN to each of n distinct public addresses, 1 ms apart (libpcap)."""
    from nidslab.paths import atomic_write
    from nidslab.simulate import pcapgen as pg

    span = (223 << 24) - (1 << 24)  # public-looking IPv4 addresses 1.0.0.0 .. 222.255.255.255
    start = int(np.random.default_rng(seed).integers(span))
    # i -> start + i * prime (mod span) is one-to-one for i < span: n distinct, scattered addresses
    dip = ((1 << 24) + (start + np.arange(n, dtype=np.int64) * 2_654_435_761) % span).astype(np.uint32)
    tab = pg.table(n, t=1_540_446_382.0 + 1e-3 * np.arange(n), kind=pg.TCP, smac=0x02_00_00_00_00_01,
                   dmac=0x02_00_00_00_00_FE, sip=(192 << 24) | (168 << 16) | (2 << 8) | 7, dip=dip,
                   sport=40_123, dport=23, seq=dip, flags=pg.SYN, thl=20, df=0, label=1)
    with atomic_write(path) as fh:
        fh.write(memoryview(pg.assemble(tab)))


def time_extract(capture: Path, layout: str, timeout: float, src: str | None = None) -> tuple[float, float] | None:
    """(wall, CPU) seconds from starting `nidslab features extract` to its exit, or None past
    ``timeout``. CPU is user + system time of the process (both threads): less sensitive than
    wall time to other work on the machine. ``src``: run that checkout's code instead."""
    import os

    out = capture.with_suffix(f".{layout}.parquet")
    cli = Path(sys.executable).with_name("nidslab")
    cmd = [str(cli)] if cli.exists() and src is None else [sys.executable, "-c", "from nidslab.cli import main; main()"]
    cmd += ["features", "extract", str(capture), "-o", str(out), "--layout", layout]
    env = dict(os.environ, PYTHONPATH=src) if src else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if not out.exists():
        raise RuntimeError(f"{' '.join(cmd)} wrote no {out}")
    out.unlink()
    return seconds, cpu


def head_capture(src: Path, dst: Path, n: int) -> None:
    """The first n records of a libpcap capture (its header kept)."""
    import struct

    data = src.read_bytes()
    end = 24
    for _ in range(n):
        end += 16 + struct.unpack_from("<I", data, end + 8)[0]
    dst.write_bytes(data[:end])


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
    ap.add_argument("--packets", type=int, default=764_137, help="packets of the simulated capture")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--scan", type=int, default=200_000, help="destinations of the scan-only capture")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per capture and layout (best is reported)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds before a run is stopped")
    ap.add_argument("--layouts", default="uci,kitsune-py")
    ap.add_argument("--baseline-src", help="src folder of another checkout, timed in turns with this one")
    ap.add_argument("--reference-python")
    ap.add_argument("--reference-dir")
    ap.add_argument("--reference-packets", type=int, default=5000)
    args = ap.parse_args()

    from nidslab.features.pcap import count_records
    from nidslab.simulate import simulate_capture

    with tempfile.TemporaryDirectory() as tmp:
        sim, scan = Path(tmp) / "sim.pcap", Path(tmp) / "scan.pcap"
        t = time.perf_counter()
        simulate_capture(sim, packets=args.packets, seed=args.seed)
        make_scan_capture(scan, args.scan, seed=args.seed)
        print(f"captures written in {time.perf_counter() - t:.1f} s: simulated {args.packets:,} packets "
              f"(seed {args.seed}), scan-only {args.scan:,} packets")
        layouts = args.layouts.split(",")
        for layout in layouts:
            first = time_extract(scan, layout, args.timeout)
            print(f"first run, {layout} on the scan-only capture (numba compile or cache load): "
                  + (f"{first[0]:.1f} s" if first is not None else f"over {args.timeout:.0f} s"))
        tiny = Path(tmp) / "tiny.pcap"
        head_capture(scan, tiny, 100)
        floor = {}
        for layout in layouts:
            floor[layout] = min(time_extract(tiny, layout, args.timeout)[0] for _ in range(max(args.repeat, 3)))
            print(f"     floor {layout:>10}: {floor[layout]:.2f} s for 100 packets (process start, imports, "
                  f"numba's first use, kernels loaded)")
        for name, capture in (("simulated", sim), ("scan-only", scan)):
            n = count_records(capture)
            for layout in layouts:
                if args.baseline_src:  # in turns: baseline, this checkout, baseline, ...
                    base, runs = [], []
                    time_extract(tiny, layout, args.timeout, args.baseline_src)  # its numba cache
                    for _ in range(args.repeat):
                        base.append(time_extract(capture, layout, args.timeout, args.baseline_src))
                        runs.append(time_extract(capture, layout, args.timeout))
                    done_base = [r for r in base if r is not None]
                    best_base = min(done_base)[0] if done_base else None
                else:
                    runs = [time_extract(capture, layout, args.timeout) for _ in range(args.repeat)]
                done = [r for r in runs if r is not None]
                if not done:
                    print(f"{name:>10} {layout:>10}: did not finish in {args.timeout:.0f} s")
                    continue
                wall, cpu = min(done)
                past = max(wall - floor[layout], 1e-9)
                print(f"{name:>10} {layout:>10}: {n:,} packets in {wall:.2f} s end to end = {n / wall:,.0f} packets/s "
                      f"(past the floor {n / past:,.0f} packets/s; CPU {cpu:.2f} s = {n / cpu:,.0f} packets per "
                      f"CPU-second; {len(done)} of {len(runs)} runs finished)", flush=True)
                if args.baseline_src:
                    print(f"{'':>10} {'baseline':>10}: " + (f"{best_base:.2f} s = {n / best_base:,.0f} packets/s; this "
                          f"checkout {best_base / wall:.1f}x faster" if best_base else
                          f"did not finish in {args.timeout:.0f} s"), flush=True)

        if args.reference_python and args.reference_dir:
            ref = time_reference(args.reference_python, args.reference_dir, sim, args.reference_packets)
            print(f" reference: Kitsune-py (scapy) on the first {args.reference_packets:,} packets: {ref:,.0f} packets/s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
