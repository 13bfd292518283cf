"""Seconds per part of a study, two sides in turns: the study as written ("after") against the same study
with some keys changed ("before"), each run fresh (no cache) on the same data, in one process.

    .venv/bin/python benchmarks/bench_study_parts.py [--study FILE] [--quick] [--turns 2]
        [--parts experiments,cross_validation] [--before cross_validation.stacking=none]
        [--before study.stacking=none] [--threads 1] [--before none --after-workers 2]

``--parts``: run only these parts (and the data part), in the registry's order; ``--before TABLE.KEY=VALUE``
(repeatable; TOML values; ``experiments.*.KEY`` sets it in every experiment's table): the "before" side's
changes. Default: cross-validation one fold at a time and every experiment one network at a time (each seed
its own shuffle), against the study as written (folds stacked, experiments of one shape stacked with their
seeds on one shuffle). ``--threads N``: torch threads per part (as ``nidslab lab --threads``; 1 is steadier
on a loaded machine). ``--before none --after-workers N``: the same study on both sides, the after side's
tasks in N worker processes (``nidslab lab --cluster processes``). Prints each part's seconds
per turn and side, the medians and the ratio after / before. Timings on a loaded machine are noise: run
it on a quiet one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

DEFAULT_BEFORE = ["cross_validation.stacking=\"none\"", "study.stacking=\"none\""]


def changed(raw: dict, edits: list[str]) -> dict:
    """``raw`` (a parsed study file) with ``TABLE.KEY=VALUE`` edits applied (a deep copy)."""
    import copy

    out = copy.deepcopy(raw)
    for edit in edits:
        path, _, value = edit.partition("=")
        parsed = tomllib.loads(f"v = {value}")["v"]
        keys = path.split(".")
        tables = [out]
        for k in keys[:-1]:
            tables = [t2 for t in tables for t2 in (t.values() if k == "*" else [t.setdefault(k, {})])]
        for t in tables:
            t[keys[-1]] = parsed
    return out


def main() -> None:
    from nidslab.study import registry, run_study
    from nidslab.study.config import default_study_path
    from nidslab.study.study_file import parse_study

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", default=str(default_study_path()))
    ap.add_argument("--data", default="default")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--parts", default="experiments,cross_validation")
    ap.add_argument("--before", action="append", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--after-first", action="store_true", help="start with the after side (then alternate)")
    ap.add_argument("--after-workers", type=int, default=None,
                    help="the after side's tasks in N worker processes of one thread each (nidslab lab --cluster "
                         "processes); the before side in this process on --threads")
    args = ap.parse_args()
    from nidslab.cluster import LocalExecutor, ProcessExecutor

    def executor(side: str) -> LocalExecutor | ProcessExecutor:
        if side == "after" and args.after_workers:
            return ProcessExecutor(args.after_workers, threads=1)
        return LocalExecutor(threads=args.threads)

    raw = tomllib.loads(Path(args.study).read_text(encoding="utf-8"))
    before = [] if args.before == ["none"] else (args.before or DEFAULT_BEFORE)
    sides = {"before": parse_study(changed(raw, before), args.study),
             "after": parse_study(raw, args.study)}
    wanted = set(args.parts.split(",")) | {"data"}
    parts = [p for p in registry.PARTS if p.NAME in wanted]
    seconds: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(args.turns):
            for side, study in (sides.items() if (turn + args.after_first) % 2 == 0 else reversed(list(sides.items()))):
                out = Path(tmp) / f"{side}{turn}"
                t0 = time.perf_counter()
                r = run_study(study, data=args.data, out_dir=out / "runs", cache_dir=out / "cache", quick=args.quick,
                              fresh=True, parts=parts, executor=executor(side))
                wall = time.perf_counter() - t0
                per = {u: m["seconds"] for u, m in r["meta"]["parts"].items()}
                for unit, s in {**per, "whole run": wall}.items():
                    seconds.setdefault(unit, {}).setdefault(side, []).append(s)
                print(f"turn {turn + 1} {side:6s}: {wall:7.1f} s", flush=True)
    print(f"\n{'part':40s} {'before s':>9s} {'after s':>9s} {'after/before':>12s}")
    for unit, by in seconds.items():
        b, a = (statistics.median(by.get(s, [float('nan')])) for s in ("before", "after"))
        print(f"{unit:40s} {b:9.2f} {a:9.2f} {a / b if b else float('nan'):12.2f}")


if __name__ == "__main__":
    main()
