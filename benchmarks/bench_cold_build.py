"""The default dataset's first build on a fresh checkout (numba's cache cold), for two or more git revisions,
in turns.

What a new user waits for before ``make lab``'s first part: simulate mirai-sim, compile the feature
kernels, extract the features. Each run copies a revision's ``src`` into a new temporary folder (so numba
finds no cache, as in a fresh clone) and builds ``mirai-sim`` there in a fresh process with an empty
``NIDSLAB_HOME``; the sides alternate. Usage::

    .venv/bin/python benchmarks/bench_cold_build.py --revisions HEAD~1,HEAD --turns 2

Prints each run's seconds and numba's compile seconds in the building process, then the medians. The
features of every run are the same (their sha256 is printed too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = """
import json, time
from numba.core import event
compiling = []
class Timer(event.Listener):
    def on_start(self, ev): compiling.append(-time.perf_counter())
    def on_end(self, ev): compiling.append(time.perf_counter())
event.register("numba:compile", Timer())
from nidslab.data.datasets import open_dataset
t = time.perf_counter()
ds = open_dataset("default")
wall = time.perf_counter() - t
depth, start, own = 0, 0.0, 0.0
for stamp in compiling:  # outermost compiles only: nested ones are inside them
    if stamp < 0:
        depth += 1
        start = -stamp if depth == 1 else start
    else:
        depth -= 1
        own += stamp - start if depth == 0 else 0.0
print(json.dumps({"seconds": wall, "compile_here_s": own, "sha256": ds.meta["files"]["features.npy"]["sha256"]}))
"""


def run(repo: Path, revision: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tree"
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(repo), "archive", revision, "src"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(src / "src"), "NIDSLAB_HOME": str(Path(tmp) / "home")}
        out = subprocess.run([sys.executable, "-c", WORKER], env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--revisions", default="HEAD", help="comma-separated git revisions of this repository")
    ap.add_argument("--turns", type=int, default=2)
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    revisions = args.revisions.split(",")
    seen: dict[str, list[float]] = {r: [] for r in revisions}
    for turn in range(args.turns):
        for rev in revisions:
            r = run(repo, rev)
            seen[rev].append(r["seconds"])
            print(f"turn {turn + 1} {rev}: {r['seconds']:.1f} s, compiling in the building process "
                  f"{r['compile_here_s']:.1f} s, features sha256 {r['sha256'][:16]}", flush=True)
    for rev, secs in seen.items():
        print(f"{rev}: median {statistics.median(secs):.1f} s over {len(secs)} run(s)")


if __name__ == "__main__":
    main()
