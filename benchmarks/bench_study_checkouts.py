"""Seconds per part of the default study for two (or more) checkouts of nidslab, in turns.

``bench_study_parts.py`` compares two *settings* of one checkout in one process; this compares two
*versions of the code* on the same settings: each run is a fresh process with ``PYTHONPATH`` set to a
checkout's ``src``, the same interpreter and the same data, a fresh study cache each run, sides
alternating. Usage::

    git worktree add /tmp/base <commit>
    .venv/bin/python benchmarks/bench_study_checkouts.py --checkouts /tmp/base,. --parts experiments --turns 2

``--one CHECKOUT`` is the worker: it runs the parts once and prints one JSON line (seconds per part).
Set ``NIDSLAB_HOME`` to a folder where the dataset is built (the data part is timed, not the build).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def one(parts: set[str]) -> dict[str, float]:
    """Run the default study's ``parts`` (and data) fresh, here; seconds per part (an experiment's units summed)."""
    import tempfile
    import time

    from nidslab.study import registry, run_study
    from nidslab.study.config import default_study_path
    from nidslab.study.study_file import load_study

    study = load_study(default_study_path())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = run_study(study, data="default", out_dir=Path(tmp) / "runs", cache_dir=Path(tmp) / "cache", fresh=True,
                      parts=[p for p in registry.PARTS if p.NAME in parts | {"data"}])
        wall = time.perf_counter() - t0
    out: dict[str, float] = {}
    for unit, meta in r["meta"]["parts"].items():
        part = unit.split("/")[0]
        out[part] = out.get(part, 0.0) + float(meta["seconds"])
    out["whole run"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkouts", default=".", help="comma-separated checkout folders (each with src/nidslab)")
    ap.add_argument("--parts", default="experiments", help="comma-separated part names of the default study")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if args.one:
        print(json.dumps(one(parts)), flush=True)
        return
    checkouts = [str(Path(c).resolve()) for c in args.checkouts.split(",")]
    for c in checkouts:
        if not (Path(c) / "src" / "nidslab").is_dir():
            raise SystemExit(f"{c}: no src/nidslab there (a checkout of nidslab expected)")
    seconds: dict[str, dict[str, list[float]]] = {}
    for turn in range(args.turns):
        order = checkouts if turn % 2 == 0 else checkouts[::-1]
        for c in order:
            env = {**os.environ, "PYTHONPATH": str(Path(c) / "src")}
            run = subprocess.run([sys.executable, __file__, "--one", c, "--parts", args.parts], env=env,
                                 capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise SystemExit(f"{c}: the run failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
            per = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"turn {turn + 1} {c}: {per['whole run']:.1f} s", flush=True)
            for part, s in per.items():
                seconds.setdefault(part, {}).setdefault(c, []).append(s)
    head = "".join(f"{Path(c).name or c:>16s}" for c in checkouts)
    print(f"\nmedian seconds\n{'part':24s}{head}{'last / first':>14s}")
    for part, by in seconds.items():
        med = [statistics.median(by[c]) for c in checkouts]
        print(f"{part:24s}" + "".join(f"{m:16.1f}" for m in med) + f"{med[-1] / med[0] if med[0] else float('nan'):14.2f}")


if __name__ == "__main__":
    main()
