"""Data path speed: parsing the UCI CSV, and reopening a cached dataset.

Side by side in one process, on a table this script generates with the released file's shape (an index
column + 115 features, as `Mirai_dataset.csv` has):

* import: `nidslab data import` of the whole file (parse with PyArrow + validate + write the cache), the
  way a user turns the released CSV into a dataset once;
* parse: nidslab's reader (PyArrow, multithreaded) against the lab's `numpy.genfromtxt`, on the same CSV
  (genfromtxt on its first rows, scaled per row), plain and gzipped; reported as rows/s and the ratio;
* reopen: `open_dataset` of a full-size (764,137 x 115) cached dataset (memory-mapped) against
  `np.load` of the same features file into memory.

    .venv/bin/python benchmarks/bench_data.py [--rows 764137] [--genfromtxt-rows 20000]

genfromtxt is slow, so it runs on fewer rows (--genfromtxt-rows); rates are per row, so they compare.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_csv(path: Path, rows: int, seed: int = 0) -> np.ndarray:
    """The released file's layout: no header, an integer index column, then 115 features. Returns labels."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from nidslab.data.synthetic import make_synthetic

    X, y = make_synthetic(rows, seed=seed)
    cols = {"i": pa.array(np.arange(rows))} | {f"f{j}": pa.array(X[:, j]) for j in range(X.shape[1])}
    pacsv.write_csv(pa.table(cols), path, pacsv.WriteOptions(include_header=False))
    return y


def timed(fn, repeat: int = 1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=764_137)
    ap.add_argument("--genfromtxt-rows", type=int, default=20_000)
    ap.add_argument("--full-rows", type=int, default=764_137, help="rows of the cached table to reopen")
    args = ap.parse_args()

    from nidslab.data import read_features
    from nidslab.data.datasets import open_dataset, write_dataset

    work = Path(tempfile.mkdtemp(prefix="nidslab-bench-data-"))
    os.environ["NIDSLAB_HOME"] = str(work / "home")
    try:
        big, small = work / "big.csv", work / "small.csv"
        y = write_csv(big, args.rows)
        np.save(work / "labels.npy", y)
        with open(big) as src, open(small, "w") as dst:  # genfromtxt gets the first rows of the same file
            for _, line in zip(range(args.genfromtxt_rows), src):
                dst.write(line)
        with open(big, "rb") as src, gzip.open(str(big) + ".gz", "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
        mb = big.stat().st_size / 2**20
        print(f"CSV: {args.rows:,} rows x 116 columns, {mb:.0f} MiB plain, "
              f"{Path(str(big) + '.gz').stat().st_size / 2**20:.0f} MiB gzipped")

        from nidslab.data import import_dataset

        t_import, ds = timed(lambda: import_dataset(big, work / "labels.npy", "bench-import"))
        print(f"import {args.rows:,} rows (parse + validate + cache): {t_import:.1f} s "
              f"({args.rows / t_import:,.0f} rows/s) -> {ds.path}")
        t_ours, X = timed(lambda: read_features(big), repeat=2)
        t_gz, Xg = timed(lambda: read_features(Path(str(big) + ".gz")))
        assert X.shape == (args.rows, 115) and np.array_equal(X, Xg)
        t_np, Xn = timed(lambda: np.genfromtxt(small, delimiter=","))
        assert Xn.shape == (args.genfromtxt_rows, 116)
        r_ours, r_gz, r_np = args.rows / t_ours, args.rows / t_gz, args.genfromtxt_rows / t_np
        print(f"parse  nidslab (pyarrow) plain : {r_ours:12,.0f} rows/s")
        print(f"parse  nidslab (pyarrow) .gz   : {r_gz:12,.0f} rows/s")
        print(f"parse  numpy.genfromtxt (lab)  : {r_np:12,.0f} rows/s")
        print(f"ratio  nidslab / genfromtxt    : {r_ours / r_np:8.1f}x plain, {r_gz / r_np:.1f}x gzipped")
        print(f"       the released 764,137-row file at these rates: nidslab {764_137 / r_gz:.1f} s (.gz), "
              f"genfromtxt {764_137 / r_np / 60:.1f} min")

        from nidslab.data.synthetic import make_synthetic

        Xf, yf = make_synthetic(args.full_rows, seed=1)
        ds = write_dataset("bench-full", Xf, yf)
        del Xf
        t_open, ds = timed(lambda: open_dataset("bench-full"), repeat=5)
        t_load, _ = timed(lambda: np.load(ds.path / "features.npy"), repeat=3)
        t_verify, _ = timed(lambda: open_dataset("bench-full", verify=True))
        print(f"reopen {args.full_rows:,} x 115 cached: open_dataset {t_open * 1e3:.2f} ms (memory-mapped), "
              f"with sha256 verify {t_verify:.2f} s, np.load into memory {t_load:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
