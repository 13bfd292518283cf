"""The study's parallel parts on 1 and 2 Ray worker processes of this machine: the 10-fold CV and a 24-trial search.

One process opens the dataset once; then, in turns, a Ray instance with 1 CPU and one with 2 CPUs
(``ray.init(num_cpus=N)``: N worker processes, one task each) runs the default study's
``[cross_validation]`` (10 folds, the balanced 2 x 20 network, 20 epochs) and its ``[search]`` (24
trials in batches of 4; the budget raised so every batch runs; the final training cut to 1 epoch and
the depth timings left out, as neither is parallel), each task on 1 torch thread. Printed: wall
seconds per side and the speed-up, and whether both sides gave the same numbers (they must).

    .venv/bin/python benchmarks/bench_cluster.py [--fraction 0.1] [--data default] [--repeats 1]

Starting Ray and its worker processes is not timed (a few tiny tasks warm every worker first). Each
side's time is the best of its turns. The speed-up is bounded by the CPUs: 2 here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default")
    ap.add_argument("--fraction", type=float, default=0.1, help="share of the dataset's rows (default 0.1)")
    ap.add_argument("--repeats", type=int, default=1, help="turns per side")
    args = ap.parse_args()

    from nidslab.cluster import RayExecutor
    from nidslab.study import tasks
    from nidslab.study.context import Context
    from nidslab.study.parts import cross_validation, search as search_part
    from nidslab.study.prepared import open_prepared
    from nidslab.study.results import to_plain
    from nidslab.study.study_file import load_study

    study = load_study()
    study = dataclasses.replace(study, fraction=args.fraction)
    search = dataclasses.replace(study.search, trials=24, timeout_s=1e6, final_epochs=1, depth_timing=())
    cv = study.cross_validation
    data = open_prepared(args.data, features=study.features, fraction=study.fraction, seed=study.seed,
                         temporal=study.split == "temporal", detail=lambda *a, **k: None)
    exp = study.experiment(cv.experiment)
    print(f"{args.data}, fraction {args.fraction}: {len(data.train[1]):,} training rows; CV {cv.folds} folds x "
          f"{exp.settings()['epochs']} epochs on {sum(len(r) for r in data.split_rows.values()):,} rows; search {search.trials} trials of {search.epochs} epochs "
          f"in batches of {search.trials_per_batch}")

    times: dict[tuple[str, int], list[float]] = {}
    numbers: dict[tuple[str, int], object] = {}
    warm = {"settings": {**exp.settings(), "epochs": 1}, "seed": study.seed, "threads": 1}
    step = max(1, len(data.train[1]) // 2000)  # every step-th row: both classes
    tiny = (data.train[0][::step], data.train[1][::step])
    for turn in range(args.repeats):
        for workers in (1, 2) if turn % 2 == 0 else (2, 1):  # in turns, the order swapped each turn
            with RayExecutor("local", num_cpus=workers, cpus_per_task=1) as ex:
                ctx = Context(study=study, data=data, executor=ex, threads=ex.threads)
                # untimed: start every worker process (imports, first torch call) before the clock runs
                ex.map(tasks.fit_task, [warm] * (2 * workers), tiny, None, None)
                for part, run in (("cv", lambda: cross_validation.run(cv, ctx)),
                                  ("search", lambda: search_part.run(search, ctx))):
                    t0 = time.perf_counter()
                    out = to_plain(run())
                    times.setdefault((part, workers), []).append(time.perf_counter() - t0)
                    numbers[(part, workers)] = (out["accuracy"]["per_fold"] if part == "cv"
                                                else [t["value"] for t in out["trials"]])
                    print(f"  {part:6} {workers} worker(s): {times[(part, workers)][-1]:7.1f} s", flush=True)

    print("\n| part | 1 worker (s) | 2 workers (s) | speed-up | same numbers |")
    print("| --- | --- | --- | --- | --- |")
    for part, name in (("cv", f"{cv.folds}-fold CV"), ("search", f"{search.trials}-trial search")):
        one, two = min(times[(part, 1)]), min(times[(part, 2)])
        same = numbers[(part, 1)] == numbers[(part, 2)]
        print(f"| {name} | {one:.1f} | {two:.1f} | {one / two:.2f}x | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
