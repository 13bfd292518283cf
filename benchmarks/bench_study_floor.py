"""A floor for the default study's network training: the matrix multiplications of every fit it makes,
summed, at the rate this CPU runs them with the lab's own shapes.

    .venv/bin/python benchmarks/bench_study_floor.py [--threads 2] [--study FILE]

Counts, from the study file, the Dense layers' multiply-adds (x 2 = FLOPs) of each network training the
default study runs: forward and backward (weight gradients everywhere, input gradients but the first
layer's) on the training rows every epoch, forward on the validation rows every epoch; the experiments
with their seeds, the batch-size timing epochs, cross-validation (shared batches: every fold's network
sees every row, held-out rows weighing 0, so 10 folds do 10 x all rows' work), the search's trials
(their architectures drawn from the search space: counted at its middle, ``n_layers`` and ``n_nodes``
midpoints, an estimate) and its final network (counted as 2 x 20 x 20 epochs plus the depth timing), the
regression network and the evaluation part's temporal-split retraining of the baseline and the best network. Then times one
epoch's matmuls of the 2 x 20 and of the 4 x 50 at batch 10,000 (``bench_train.matmuls_epoch``: the same
``torch.mm`` calls alone, no gather, no elementwise work) and converts the FLOPs at that rate, and at
the CPU's 2048 x 2048 GEMM rate (a floor the narrow layers cannot reach). Rows are the lab's split sizes
(``bench_train``'s N_TRAIN / N_VAL; all rows 764,136). LightGBM, KitNET, the data build, the unseen
networks part and evaluation passes are not matmul work and are left out: add their measured seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_train import N_INPUTS, N_TRAIN, N_VAL, gemm_seconds, matmuls_epoch  # noqa: E402

N_ALL = 764_136  # every row the study uses (train + validation + test): cross-validation's table


def flops_per_row(n_layers: int, n_nodes: int, n_inputs: int = N_INPUTS) -> tuple[float, float]:
    """(forward, backward) FLOPs per row of a Dense stack ``n_inputs -> n_nodes x n_layers -> 1``."""
    shapes = [(n_inputs, n_nodes)] + [(n_nodes, n_nodes)] * (n_layers - 1) + [(n_nodes, 1)]
    fwd = sum(i * o for i, o in shapes)
    bwd = fwd + sum(i * o for i, o in shapes[1:])
    return 2.0 * fwd, 2.0 * bwd


def fit_flops(n_layers: int, n_nodes: int, epochs: int, train_rows: float, val_rows: float = N_VAL) -> float:
    fwd, bwd = flops_per_row(n_layers, n_nodes)
    return epochs * (train_rows * (fwd + bwd) + val_rows * fwd)


def study_fits(study) -> list[tuple[str, float]]:
    """(what, FLOPs) of every network training of ``study`` the floor counts."""
    out = []
    for e in study.experiments:
        s = e.spec
        out.append((f"experiments/{e.name} x {e.seeds} seed(s)",
                    e.seeds * fit_flops(s.n_layers, s.n_nodes, e.fit.epochs, N_TRAIN)))
    t = study.batch_size_timing
    if t is not None:
        s = study.experiment(t.experiment).spec
        out.append(("batch_size_timing", len(t.batch_sizes) * fit_flops(s.n_layers, s.n_nodes, 1, N_TRAIN)))
    cv = study.cross_validation
    if cv is not None:
        e = study.experiment(cv.experiment)
        out.append((f"cross_validation ({cv.folds} folds, shared batches)",
                    cv.folds * fit_flops(e.spec.n_layers, e.spec.n_nodes, e.fit.epochs, N_ALL, 0)))
    se = study.search
    if se is not None:
        layers = round(sum(se.n_layers) / 2)
        nodes = round(sum(se.n_nodes) / 2)
        out.append((f"search trials ({se.trials} at {layers} x {nodes}, an estimate)",
                    se.trials * fit_flops(layers, nodes, se.epochs, N_TRAIN * se.fraction)))
        out.append(("search final (as 2 x 20)", fit_flops(2, 20, se.final_epochs, N_TRAIN)))
        from nidslab.study.parts.search import DEPTH_TIMING_ROWS

        rows = min(N_TRAIN, DEPTH_TIMING_ROWS)
        out.append((f"search depth timing ({rows:,} rows)",
                    sum(fit_flops(d, se.depth_timing_nodes, se.depth_timing_epochs, rows, 0) for d in se.depth_timing)))
    rg = study.regression
    if rg is not None:
        out.append(("regression", fit_flops(rg.spec.n_layers, rg.spec.n_nodes, rg.fit.epochs, N_TRAIN)))
    ev = study.evaluation
    if ev is not None:
        e = study.experiment(ev.experiment)
        out.append(("evaluation: temporal-split baseline", fit_flops(e.spec.n_layers, e.spec.n_nodes, e.fit.epochs,
                                                                    N_TRAIN)))
        if ev.best and se is not None:
            out.append(("evaluation: temporal-split best (as 2 x 20)", fit_flops(2, 20, se.final_epochs, N_TRAIN)))
    return out


def main() -> None:
    from nidslab.study.config import default_study_path
    from nidslab.study.study_file import load_study

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", default=str(default_study_path()))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rates", default=None, metavar="S2x20,S4x50,GFLOPS",
                    help="convert at these instead of timing them here: one epoch's matmuls timed of the 2x20 and "
                         "of the 4x50 (seconds) and the GEMM rate (GFLOP/s), e.g. a quiet machine's row of "
                         "benchmarks/README.md: 0.070,0.341,189")
    args = ap.parse_args()
    study = load_study(Path(args.study))
    fits = study_fits(study)
    total = sum(f for _, f in fits)
    rates = {}
    given = [float(v) for v in args.rates.split(",")] if args.rates else None
    for i, (name, cfg) in enumerate((("2x20", (2, 20)), ("4x50", (4, 50)))):
        if given:
            seconds = given[i]
        else:
            epoch = matmuls_epoch(cfg, 10_000, args.threads)
            seconds = min(epoch() for _ in range(3))
        rates[name] = fit_flops(cfg[0], cfg[1], 1, N_TRAIN) / seconds
    peak = given[2] * 1e9 if given else 2.0 * 2048 ** 3 / gemm_seconds(args.threads)()
    print(f"{'fit':58s} {'GFLOP':>9s} {'s at 2x20 rate':>15s}")
    for what, f in fits:
        print(f"{what:58s} {f / 1e9:9.1f} {f / rates['2x20']:15.2f}")
    print(f"{'total':58s} {total / 1e9:9.1f} {total / rates['2x20']:15.2f}")
    print(f"\nmatmul rates ({args.threads} threads): 2x20 epoch shapes {rates['2x20'] / 1e9:.1f} GFLOP/s, "
          f"4x50 {rates['4x50'] / 1e9:.1f} GFLOP/s, 2048^2 GEMM {peak / 1e9:.1f} GFLOP/s")
    print(f"floor of the study's network training: {total / rates['2x20']:.1f} s at the 2x20 shapes' rate, "
          f"{total / rates['4x50']:.1f} s at the 4x50's, {total / peak:.1f} s at the GEMM peak")


if __name__ == "__main__":
    main()
