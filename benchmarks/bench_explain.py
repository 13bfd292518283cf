"""Cost of reasons per alert (nidslab.explain) against the cost of scoring, and how many IG steps they need.

    .venv/bin/python benchmarks/bench_explain.py [--packets 100000] [--seed 0] [--epochs 3] [--steps 4,8,16,32]

A simulated capture (`nidslab.simulate`, Mirai outbreak after the first 16% of packets) goes through the
feature extractor; a DNN of the lab's default shape (2 x 20 sigmoid, 92 lab features, standardised) is
trained on it for --epochs (labels: the simulator's truth), saved and loaded back as `predict` does.
Timed, in one process, min of --repeat runs:

- extract: the capture's features (what `predict CAPTURE` does first);
- score: SavedModel.predict_raw on every row (standardise + network), the scoring itself;
- explain, per step count: explainer_for(model, benign rows)(X_alerts) -- integrated gradients of the
  alerting rows plus the reasons in words -- for three sets of alerting rows: 1% and 10% of the rows (the
  top-scoring ones) and every alerting row (logit >= 0). Ratios: explain / score, explain / (extract + score).
- accuracy per step count, on 2,000 alerting rows: median relative completeness error
  |sum(attributions) - (logit - baseline logit)| / |logit - baseline logit|, and the share of rows whose
  top reason and top-3 set equal those of a 256-step reference.

With --kitnet, a KitNET (trained on the capture's first benign rows) is timed the same way: score vs
explain (no steps). torch uses 2 threads. Run it on a quiet machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def best(fn, repeat: int) -> tuple[float, object]:
    t, out = float("inf"), None
    for _ in range(repeat):
        s = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - s)
    return t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", default="4,8,16,32")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kitnet", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)

    from nidslab import schema
    from nidslab.data.prep import Standardizer
    from nidslab.explain import attributions, explainer_for
    from nidslab.features import extract_features
    from nidslab.model import ModelSpec, build_model
    from nidslab.saved_model import load_model, save_model
    from nidslab.simulate import simulate_capture
    from nidslab.train import fit

    tmp = Path(tempfile.mkdtemp(prefix="bench_explain_"))
    sim = simulate_capture(tmp / "c.pcap", packets=a.packets, seed=a.seed)
    extract_features(tmp / "c.pcap", limit=2000)  # load the compiled kernels
    t_extract, X = best(lambda: extract_features(tmp / "c.pcap"), 1)
    names = list(schema.LAB_FEATURES)
    Xl = X[:, schema.indices(names)]
    std = Standardizer().fit(Xl)
    m = build_model(ModelSpec(), len(names), seed=a.seed)
    fit(m, (std.transform(Xl), sim.labels_truth), optimizer="adam", lr=0.01, batch_size=256, epochs=a.epochs)
    saved = load_model(save_model(tmp / "m", m, standardizer=std.to_dict(), feature_names=names))
    saved.predict_raw(X[:1000])
    t_score, logits = best(lambda: saved.predict_raw(X), a.repeat)
    benign = X[: sim.onset_index]
    base_logit = float(saved.predict_raw(benign.mean(axis=0, keepdims=True))[0])
    alerting = np.flatnonzero(logits >= 0)
    order = np.argsort(-logits)
    sets = {"1% of rows": order[: len(X) // 100], "10% of rows": order[: len(X) // 10],
            f"every alert ({len(alerting) / len(X):.0%})": alerting}
    print(f"{len(X):,} packets ({sim.onset_index:,} benign before the onset); extract {t_extract:.2f} s, "
          f"score {t_score * 1e3:.1f} ms ({len(X) / t_score:,.0f} rows/s); torch threads {torch.get_num_threads()}")

    rng = np.random.default_rng(a.seed)
    sample = X[rng.choice(alerting, min(2000, len(alerting)), replace=False)]
    _, ref = attributions(saved, sample, benign, steps=256)
    ref_top = np.argsort(-ref, axis=1)[:, :3]
    gap = saved.predict_raw(sample) - base_logit
    print(f"\n{'steps':>5} {'top-1 = ref':>11} {'top-3 = ref':>11} {'completeness err':>16}  "
          + "  ".join(f"{k:>26}" for k in sets))
    for steps in [int(s) for s in a.steps.split(",")]:
        _, A = attributions(saved, sample, benign, steps=steps)
        top = np.argsort(-A, axis=1)[:, :3]
        top1 = np.mean(top[:, 0] == ref_top[:, 0])
        top3 = np.mean([set(x) == set(y) for x, y in zip(top, ref_top)])
        err = np.median(np.abs(A.sum(axis=1) - gap) / np.maximum(np.abs(gap), 1e-9))
        fn = explainer_for(saved, benign, steps=steps)
        cells = []
        for rows in sets.values():
            t, _ = best(lambda rows=rows: fn(X[rows]), a.repeat if len(rows) < 20_000 else 1)
            cells.append(f"{t:6.2f} s = {t / t_score:5.1f}x / {t / (t_score + t_extract):5.1%}")
        print(f"{steps:>5} {top1:>11.1%} {top3:>11.1%} {err:>16.2%}  " + "  ".join(f"{c:>26}" for c in cells))
    print("(each cell: explain time = x score / share of extract + score)")

    if a.kitnet:
        from nidslab.detect import KitNET

        grace = min(sim.onset_index - 1000, 30_000)
        kit = KitNET(max_ae=10, fm_grace=grace // 10, ad_grace=grace - grace // 10 - 1, seed=a.seed).fit(X[:grace])
        t_kscore, rmse = best(lambda: kit.score(X), a.repeat)
        thr = np.quantile(rmse[grace: sim.onset_index], 0.999)
        k_alert = np.flatnonzero(rmse > thr)
        fn = explainer_for(kit, X[grace: sim.onset_index])
        print(f"\nKitNET (grace {grace:,}): score {t_kscore * 1e3:.1f} ms; alerts {len(k_alert):,} "
              f"({len(k_alert) / len(X):.0%})")
        for label, rows in (("1% of rows", np.argsort(-rmse)[: len(X) // 100]), ("every alert", k_alert)):
            t, _ = best(lambda rows=rows: fn(X[rows]), a.repeat)
            print(f"  {label:>12}: explain {t:.3f} s = {t / t_kscore:.2f}x score, {t / (t_kscore + t_extract):.1%} "
                  "of extract + score")


if __name__ == "__main__":
    main()
