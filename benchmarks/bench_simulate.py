"""Time `nidslab.simulate.simulate_capture` and the feature extraction of its output at full size.

    .venv/bin/python benchmarks/bench_simulate.py [--packets 764137] [--seed 0] [--repeat 3]
        [--threads 2] [--compare ../shared/data/kitsune-mirai/mirai2000.pcap] [--seeds 6]
    .venv/bin/python benchmarks/bench_simulate.py --networks 8 [--benign-s 600] [--attack-scale 0.25]
        [--long-benign-s 7200] [--no-ray]

With --networks N: builds the mirai-sim-family of N drawn networks (simulate + extract, one task per
network, through nidslab.cluster's executor as `nidslab data build mirai-sim-family [--cluster ray]`
does) locally and on a local Ray cluster (Ray's "local" instance on this machine's CPUs), side by
side in this process, each after a warm-up of one tiny network per worker (its start-up is printed
apart), and reports packets/s of each and their ratio; then times one network with a
--long-benign-s benign prefix (the targets' held-out networks need 7,200 s) and reports the benign
packets/s of its generation and extraction.

Reports generation seconds (best of --repeat, after one warm-up run that also loads the
numba caches), extraction seconds (uci layout, after a warm-up on a small capture), the file
size and, with --compare, the realism table against a real capture (the benign phase's first
window as long as the real capture, and the whole benign phase), plus, with --seeds K, the mean
and spread of the first-window distances over seeds 0..K-1 (50,000-packet simulations). --threads caps NumPy/numba
threads (set before import) to mimic a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=764_137)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compare", type=Path, default=None)
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("--networks", type=int, default=0, help="time building a family of N drawn networks")
    ap.add_argument("--benign-s", type=float, default=600.0)
    ap.add_argument("--attack-scale", type=float, default=0.25)
    ap.add_argument("--long-benign-s", type=float, default=7200.0)
    ap.add_argument("--no-ray", action="store_true", help="with --networks: skip the Ray cluster")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if args.networks:
        bench_family(args)
        return

    from nidslab.features import extract_features
    from nidslab.simulate import simulate_capture

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.pcap"
        simulate_capture(small, packets=5000, seed=args.seed)
        extract_features(small)  # numba kernels compiled / loaded
        path = Path(tmp) / "sim.pcap"
        gen = []
        for _ in range(args.repeat + 1):
            t = time.perf_counter()
            sim = simulate_capture(path, packets=args.packets, seed=args.seed)
            gen.append(time.perf_counter() - t)
        t = time.perf_counter()
        X = extract_features(path)
        ext = time.perf_counter() - t
        size = path.stat().st_size
        print(f"packets              {sim.n_packets:,} (onset {sim.onset_index:,}, "
              f"{sim.end_time - sim.start_time:,.0f} s of traffic)")
        print(f"file                 {size / 2**20:,.1f} MiB")
        print(f"generate (first)     {gen[0]:.2f} s")
        print(f"generate (best of {args.repeat}) {min(gen[1:]):.2f} s  ({sim.n_packets / min(gen[1:]):,.0f} packets/s)")
        print(f"extract uci          {ext:.2f} s  ({X.shape[0] / ext:,.0f} packets/s)")
        print(f"generate + extract   {min(gen[1:]) + ext:.2f} s")
        print(f"malicious (truth)    {sim.labels_truth.mean():.3f}; kitsune cut {sim.labels_kitsune.mean():.3f}")
        for name, a, b, i in sim.phases:
            print(f"  phase {name:<12} {a - sim.start_time:9.1f} s .. {b - sim.start_time:9.1f} s  from packet {i:,}")
        if args.compare is not None:
            from nidslab.simulate.compare import compare_with_capture, table_rows

            for window in (None, float("inf")):
                res = compare_with_capture(args.compare, sim, sim_window_s=window)
                print(f"\nrealism: benign phase, first {res['window_s']:.0f} s, vs {args.compare}")
                print("| measure | real | simulated | distance |\n| --- | ---: | ---: | ---: |")
                for row in table_rows(res):
                    print("| " + " | ".join(row) + " |")
        if args.compare is not None and args.seeds:
            seed_spread(args.compare, args.seeds, Path(tmp))
    sys.stdout.flush()


def bench_family(args) -> None:
    """Family build time, locally and on a local Ray cluster; then one long benign prefix."""
    from nidslab.cluster import LocalExecutor, RayExecutor
    from nidslab.data.family import build_family
    from nidslab.features import extract_features
    from nidslab.simulate.networks import simulate_network

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        runs = [("local", LocalExecutor)] + ([] if args.no_ray else [("ray", lambda: RayExecutor("local"))])
        for label, make in runs:
            with make() as ex:
                # one tiny network per worker first: imports and numba caches loaded in every worker process,
                # so both sides are timed warm (Ray's first tasks otherwise pay each worker's start-up)
                t = time.perf_counter()
                build_family(ex.workers, benign_s=10, attack_scale=0.05, name=str(tmp / f"warm-{label}"),
                             captures=False, executor=ex)
                print(f"warm-up {label:<6} {time.perf_counter() - t:.1f} s ({ex.workers} worker(s))")
                t = time.perf_counter()
                fam = build_family(args.networks, benign_s=args.benign_s, attack_scale=args.attack_scale,
                                   name=str(tmp / f"fam-{label}"), executor=ex)
                secs = time.perf_counter() - t
                workers = ex.workers
                results[label] = (secs, fam.dataset.n_rows, workers)
                nets = fam.dataset.meta["extra"]["networks"]
                sim_s = sum(n["simulate_s"] for n in nets)
                ext_s = sum(n["extract_s"] for n in nets)
            print(f"family {label:<6} {args.networks} networks, {fam.dataset.n_rows:,} packets in {secs:.1f} s "
                  f"({fam.dataset.n_rows / secs:,.0f} packets/s, {workers} worker(s)); inside the tasks: "
                  f"simulate {sim_s:.1f} s, extract {ext_s:.1f} s")
        if "ray" in results:
            print(f"ray / local speed: {results['local'][0] / results['ray'][0]:.2f}x")
        for n in (1,):
            t = time.perf_counter()
            sim = simulate_network(tmp / "long.pcap", n, benign_s=args.long_benign_s, attack_scale=args.attack_scale)
            gen = time.perf_counter() - t
            t = time.perf_counter()
            X = extract_features(tmp / "long.pcap", layout="uci")
            ext = time.perf_counter() - t
            print(f"long benign: network {n}, {args.long_benign_s:,.0f} s benign ({sim.onset_index:,} benign packets, "
                  f"{sim.n_packets:,} in all): generate {gen:.1f} s ({sim.n_packets / gen:,.0f} packets/s), "
                  f"extract {ext:.1f} s ({len(X) / ext:,.0f} packets/s)")
    sys.stdout.flush()


def seed_spread(real: Path, k: int, tmp: Path) -> None:
    """Mean and standard deviation of the first-window distances over k seeds."""
    import numpy as np

    from nidslab.simulate import simulate_capture
    from nidslab.simulate.compare import compare_with_capture

    names = ["packets/s", "hosts/s", "flows/s", "protocol TV", "size KS", "inter-arrival KS"]
    rows = []
    for seed in range(k):
        sim = simulate_capture(tmp / "seed.pcap", packets=50_000, seed=seed)
        r = compare_with_capture(real, sim)
        s = r["sim"]
        fk = r["feature_ks"]
        rows.append([s["packets_per_s"], s["hosts_per_s"], s["flows_per_s"], r["protocol_tv"], r["size_ks"],
                     r["iat_ks"]] + [fk[g]["mean"] for g in fk])
        names_f = [f"features {g} KS mean" for g in fk]
    a = np.array(rows)
    print(f"\nfirst-window distances over seeds 0..{k - 1} (real: {r['real']['packets_per_s']:.1f} packets/s, "
          f"{r['real']['hosts_per_s']:.2f} hosts/s, {r['real']['flows_per_s']:.2f} flows/s)")
    print("| measure | mean | sd | min | max |\n| --- | ---: | ---: | ---: | ---: |")
    for j, name in enumerate(names + names_f):
        print(f"| {name} | {a[:, j].mean():.3f} | {a[:, j].std():.3f} | {a[:, j].min():.3f} | {a[:, j].max():.3f} |")


if __name__ == "__main__":
    main()
