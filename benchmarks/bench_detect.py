"""KitNET packets/s: nidslab.detect.KitNET against the reference KitNET-py, side by side, in turns.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_detect.py --kitsune-py /tmp/Kitsune-py \\
        [--data mirai-sim] [--rounds 3] [--ref-train 2000] [--ref-exec 2000] [--train 100000] [--exec 400000]

Both sides get the same rows: the first rows of the dataset (115 features, mirai-sim by default), with
maxAE 10, FMgrace 1,000 and the learning rate, hidden ratio and seed of KitNET-py. Three phases are
timed on their own, in rows (packets) per second:

- train: rows of the anomaly-detector grace period (one SGD step of every autoencoder per row);
- execute: rows scored one ``process`` call per row for KitNET-py; for nidslab one ``process(X)`` call
  over all rows (the numba row loop) and ``score(X)`` (matrix products);
- the feature-mapping rows are run but not reported (a few ms for nidslab).

KitNET-py gets ``--ref-train``/``--ref-exec`` rows (it runs at ~1-3k rows/s), nidslab ``--train``/``--exec``.
Each round runs KitNET-py, then nidslab; each side's best round counts (the shared 2-core machine has
slow spells). Wall time and process CPU time are both reported, and a ratio of each; CPU time, which a
loaded machine disturbs less, is the steadier one (KitNET-py is single-threaded; nidslab's ``score`` may use two BLAS
threads, whose CPU time is counted). As a check, the RMSEs of both sides on the reference's rows are
compared. ``--kitsune-py`` is a checkout of github.com/ymirsky/Kitsune-py (no code of it is copied).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

MAX_AE, FM_GRACE = 10, 1000


def timed(fn, *args):
    """(result, wall s, CPU s) of fn(*args)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def reference_round(Ref, X: np.ndarray, ad: int) -> dict:
    """KitNET-py on X (FMgrace rows + ad training rows + the rest executed), one row per call."""
    kit = Ref(X.shape[1], MAX_AE, FM_GRACE, ad)
    g = FM_GRACE + 1
    for x in X[:g]:
        kit.process(x)
    _, tw, tc = timed(lambda: [kit.process(x) for x in X[g:g + ad]])
    out, ew, ec = timed(lambda: np.array([kit.process(x) for x in X[g + ad:]]))
    n_exec = len(X) - g - ad
    return {"train": (ad / tw, ad / tc), "execute": (n_exec / ew, n_exec / ec), "rmse": out}


def nidslab_round(KitNET, X: np.ndarray, ad: int, n_exec: int) -> dict:
    """nidslab's KitNET on X[:FMgrace+1+ad] (training), then n_exec rows by process and by score."""
    kit = KitNET(MAX_AE, FM_GRACE, ad)
    g = FM_GRACE + 1
    kit.process(X[:g])
    _, tw, tc = timed(kit.process, X[g:g + ad])
    rows = X[g + ad:g + ad + n_exec]
    _, ew, ec = timed(kit.process, rows)
    _, sw, sc = timed(kit.score, rows)
    return {"train": (ad / tw, ad / tc), "execute": (n_exec / ew, n_exec / ec),
            "score": (n_exec / sw, n_exec / sc)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kitsune-py", type=Path, required=True, help="checkout of ymirsky/Kitsune-py")
    ap.add_argument("--data", default="mirai-sim")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref-train", type=int, default=2000)
    ap.add_argument("--ref-exec", type=int, default=2000)
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--exec", dest="n_exec", type=int, default=400_000)
    args = ap.parse_args()

    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # numpy 2 dropped the alias KitNET-py's dA.py uses
    sys.path.insert(0, str(args.kitsune_py))
    import contextlib
    import io

    from KitNET.KitNET import KitNET as Ref

    from nidslab.data import open_dataset
    from nidslab.detect import KitNET

    ds = open_dataset(args.data)
    n_rows = FM_GRACE + 1 + max(args.train + args.n_exec, args.ref_train + args.ref_exec)
    X = np.asarray(ds.X[:n_rows], dtype=np.float64)  # float64 on both sides
    ref_X = X[:FM_GRACE + 1 + args.ref_train + args.ref_exec]

    # warm-up: numba compiles or loads its cache; check equality on the reference's rows
    ours = KitNET(MAX_AE, FM_GRACE, args.ref_train)
    ours_rmse = ours.process(ref_X)[FM_GRACE + 1 + args.ref_train:]
    nidslab_round(KitNET, X[:FM_GRACE + 1 + 2000 + 2000], 2000, 2000)
    best: dict[str, dict] = {"KitNET-py": {}, "nidslab": {}}
    for r in range(args.rounds):
        with contextlib.redirect_stdout(io.StringIO()):  # KitNET-py prints its phase changes
            ref = reference_round(Ref, ref_X, args.ref_train)
        if r == 0:
            rel = np.max(np.abs(ours_rmse - ref["rmse"]) / ref["rmse"])
            print(f"{len(ours_rmse)} executed rows of {args.data}: max relative difference {rel:.2e}")
        nid = nidslab_round(KitNET, X, args.train, args.n_exec)
        for side, res in (("KitNET-py", ref), ("nidslab", nid)):
            for phase, (wall, cpu) in ((k, v) for k, v in res.items() if k != "rmse"):
                bw, bc = best[side].get(phase, (0.0, 0.0))
                best[side][phase] = (max(bw, wall), max(bc, cpu))
        print(f"round {r + 1}: KitNET-py train {ref['train'][1]:,.0f}/s, nidslab train {nid['train'][1]:,.0f}/s (CPU)")

    print(f"\n{args.data}, {X.shape[1]} features, maxAE {MAX_AE}, FMgrace {FM_GRACE}; best of {args.rounds} "
          f"rounds; rows: KitNET-py {args.ref_train:,} train + {args.ref_exec:,} execute, "
          f"nidslab {args.train:,} + {args.n_exec:,}\n")
    print("| phase | KitNET-py rows/s (wall) | KitNET-py rows/s (CPU) | nidslab rows/s (wall) | "
          "nidslab rows/s (CPU) | ratio (wall) | ratio (CPU) |")
    print("|---|---|---|---|---|---|---|")
    ref_b, nid_b = best["KitNET-py"], best["nidslab"]
    for phase, ref_phase, label in (("train", "train", "train (ADgrace rows)"),
                                    ("execute", "execute", "execute, `process(X)`"),
                                    ("score", "execute", "execute, `score(X)`")):
        (rw, rc), (nw, nc) = ref_b[ref_phase], nid_b[phase]
        print(f"| {label} | {rw:,.0f} | {rc:,.0f} | {nw:,.0f} | {nc:,.0f} | {nw / rw:.0f}x | {nc / rc:.0f}x |")


if __name__ == "__main__":
    main()
