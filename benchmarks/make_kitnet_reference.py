"""Make tests/data/kitnet_reference_mirai2000.npz: KitNET-py's RMSEs and feature map on mirai2000.

Runs the reference KitNET (ymirsky/Kitsune-py, folder ``KitNET/``) on the 100 Kitsune-py features of
``mirai2000.pcap`` (``../shared/data/kitsune-mirai/mirai2000.kitsune-py-features.csv``) with maxAE 10,
FMgrace 200, ADgrace 1,000, one ``process(x)`` per row, and stores what it returned. None of the
reference's code is in this repository; point ``--kitsune-py`` at a checkout of it. The fixture was made
with Kitsune-py at commit 7c8ea51e89268d9a20399dca4bf32d663e638eb4, numpy 2.4.6, scipy 1.17.1:

    git --git-dir=<mirror of github.com/ymirsky/Kitsune-py> archive HEAD KitNET | tar -x -C /tmp/Kitsune-py
    /work/main/.venv/bin/python benchmarks/make_kitnet_reference.py --kitsune-py /tmp/Kitsune-py

KitNET-py's ``dA.py`` builds its min/max vectors with ``numpy.Inf``, which numpy 2 removed; this script
sets ``numpy.Inf = numpy.inf`` before importing it (the same value, so the results are unchanged).

The fixture holds ``rmse`` (2,000 float64: 0.0 for the 1,201 training rows, as ``process`` returns),
``clusters`` and ``cluster_offsets`` (the feature map: cluster i is
``clusters[cluster_offsets[i]:cluster_offsets[i+1]]``, in KitNET-py's order) and the settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CSV = REPO.parent / "shared" / "data" / "kitsune-mirai" / "mirai2000.kitsune-py-features.csv"
OUT = REPO / "tests" / "data" / "kitnet_reference_mirai2000.npz"


def load_rows(path: Path) -> np.ndarray:
    """The oracle CSV as float64 (rows, 100); the test reads it the same way."""
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kitsune-py", type=Path, required=True, help="checkout of ymirsky/Kitsune-py")
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--max-ae", type=int, default=10)
    ap.add_argument("--fm-grace", type=int, default=200)
    ap.add_argument("--ad-grace", type=int, default=1000)
    args = ap.parse_args()

    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # numpy 2 dropped the alias KitNET-py's dA.py uses
    sys.path.insert(0, str(args.kitsune_py))
    from KitNET.KitNET import KitNET  # the reference, from the checkout

    X = load_rows(args.csv)
    kit = KitNET(X.shape[1], args.max_ae, args.fm_grace, args.ad_grace)
    rmse = np.array([kit.process(x) for x in X], dtype=np.float64)
    clusters = [np.asarray(c, dtype=np.int64) for c in kit.v]
    offsets = np.cumsum([0] + [len(c) for c in clusters]).astype(np.int64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        rmse=rmse,
        clusters=np.concatenate(clusters),
        cluster_offsets=offsets,
        settings=np.array([args.max_ae, args.fm_grace, args.ad_grace], dtype=np.int64),
    )
    print(f"{args.out}: {len(rmse)} RMSEs, {len(clusters)} autoencoders, "
          f"execute-phase RMSE range {rmse[rmse > 0].min():.4g}..{rmse.max():.4g}")


if __name__ == "__main__":
    main()
