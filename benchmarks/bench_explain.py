"""Cost of reasons per alert (nidslab.explain) against the cost of scoring, and how many IG steps they need.

    .venv/bin/python benchmarks/bench_explain.py [--packets 100000] [--seed 0] [--epochs 3] [--steps 4,8,16,32]

A simulated capture (`nidslab.simulate`, Mirai outbreak after the first 16% of packets) goes through the
feature extractor; a DNN of the lab's default shape (2 x 20 sigmoid, 92 lab features, standardised) is
trained on it for --epochs (labels: the simulator's truth), saved and loaded back as `predict` does.
Timed, in one process, min of --repeat runs:

- extract: the capture's features (what `predict CAPTURE` does first);
- score: SavedModel.predict_raw on every row (standardise + network), the scoring itself;
- score: DNNScorer.score on every row (select + standardise + network, 1 torch thread: `watch`'s path);
- explain, per IG step count, on 2,000 alerting rows in one call: the integrated gradients and the reasons in
  words, per row; "1 row = rows scored" is their cost in rows of scoring, and "explainable at 20%" the share
  of rows that can be explained for 20% of the scoring time (the issue's budget);
- accuracy per step count on those rows: median relative completeness error
  |sum(attributions) - (logit - baseline logit)| / |logit - baseline logit|, and the share of rows whose
  top reason and top-3 set equal those of a 256-step reference.

With --kitnet, a KitNET (trained on the capture's first benign rows) is timed the same way: score vs
explain (no steps). torch uses 1 thread. Run it on a quiet machine for numbers to quote.
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
    torch.set_num_threads(1)

    from nidslab import schema
    from nidslab.data.prep import Standardizer
    from nidslab.explain import _baseline, _reasons, _resolve, attributions, explainer_for
    from nidslab.scorers import DNNScorer
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
    scorer = DNNScorer(saved)  # the scoring path of `nidslab watch` (1 torch thread)
    scorer.score(X[:1000])
    t_score, probs = best(lambda: scorer.score(X), a.repeat)
    logits = saved.predict_raw(X)
    benign = X[: sim.onset_index]
    base_logit = float(saved.predict_raw(benign.mean(axis=0, keepdims=True))[0])
    alerting = np.flatnonzero(logits >= 0)
    per_row = t_score / len(X)
    print(f"{len(X):,} packets ({sim.onset_index:,} benign before the onset, {len(alerting) / len(X):.0%} of rows "
          f"alert); extract {t_extract:.2f} s; score {t_score * 1e3:.1f} ms = {per_row * 1e6:.2f} us/row; "
          f"torch threads {torch.get_num_threads()}")

    rng = np.random.default_rng(a.seed)
    sample = X[rng.choice(alerting, min(2000, len(alerting)), replace=False)]
    _, ref = attributions(saved, sample, benign, steps=256)
    ref_top = np.argsort(-ref, axis=1)[:, :3]
    gap = saved.predict_raw(sample) - base_logit
    target = _resolve(saved)
    Xk, base = target.columns(sample, "sample"), _baseline(target, benign)
    print(f"\nexplaining {len(sample):,} alerting rows (one call; min of {a.repeat}):")
    print(f"{'steps':>5} {'top-1 = ref':>11} {'top-3 = ref':>11} {'completeness':>12} {'IG us/row':>10} "
          f"{'words us/row':>12} {'1 row = rows scored':>19} {'explainable at 20%':>18}")
    for steps in [int(s) for s in a.steps.split(",")]:
        t_ig, A = best(lambda steps=steps: target.attributions(Xk, base, steps), a.repeat)
        t_txt, _ = best(lambda A=A: _reasons(target, target.names, Xk, base, A, 3), a.repeat)
        top = np.argsort(-A, axis=1)[:, :3]
        top1 = np.mean(top[:, 0] == ref_top[:, 0])
        top3 = np.mean([set(x) == set(y) for x, y in zip(top, ref_top)])
        err = np.median(np.abs(A.sum(axis=1) - gap) / np.maximum(np.abs(gap), 1e-9))
        cost = (t_ig + t_txt) / len(sample)
        print(f"{steps:>5} {top1:>11.1%} {top3:>11.1%} {err:>12.2%} {t_ig / len(sample) * 1e6:>10.1f} "
              f"{t_txt / len(sample) * 1e6:>12.1f} {cost / per_row:>19.0f} {0.2 * per_row / cost:>18.2%}")
    print("(1 row = rows scored: one explained row costs as much as scoring that many rows; explainable at 20%: the\n"
          " share of rows whose reasons cost 20% of the scoring time; completeness: median relative error of the sum)")

    # the integrated gradients themselves, 8 steps: Captum's IntegratedGradients (the reference; a new object per
    # call as a caller would make it, its stock per-row gradients) against nidslab's (the layers in NumPy), per call
    # on the few rows a watch explains at once and on the whole sample; and how far apart their numbers are
    from captum.attr import IntegratedGradients

    from nidslab.explain import _gauss_legendre

    model = saved.model.eval()
    Z = torch.from_numpy(((Xk - target.mean) / target.scale).astype(np.float32))
    zb = torch.from_numpy(((base - target.mean) / target.scale).astype(np.float32))[None, :]
    _gauss_legendre(8)  # Captum's quadrature module imported before timing
    print(f"\nintegrated gradients per call, 8 steps (min of {a.repeat}; rows scored = the call's cost in rows of scoring):")
    for n in (1, 2, 8, len(sample)):
        reps = max(1, 200 // n)
        t_cap, ref_n = best(lambda n=n: IntegratedGradients(model).attribute(Z[:n], zb, n_steps=8,
                                                                               method="gausslegendre"), a.repeat)
        t_cap = min(best(lambda n=n: IntegratedGradients(model).attribute(Z[:n], zb, n_steps=8,
                                                                            method="gausslegendre"), 1)[0]
                    for _ in range(reps))
        t_own = min(best(lambda n=n: target.attributions(Xk[:n], base, 8), 1)[0] for _ in range(reps))
        own = target.attributions(Xk[:n], base, 8)
        diff = np.abs(own - ref_n.double().numpy()).max() / np.abs(ref_n.double().numpy()).max()
        print(f"  {n:>5,} rows: Captum {t_cap * 1e3:8.3f} ms, nidslab {t_own * 1e3:8.3f} ms ({t_cap / t_own:5.1f}x); "
              f"nidslab's call = {t_own / per_row:,.0f} rows scored; largest difference {diff:.1e} of the largest "
              "attribution")

    if a.kitnet:
        from nidslab.detect import KitNET
        from nidslab.scorers import KitNETScorer

        grace = min(sim.onset_index - 1000, 30_000)
        kit = KitNET(max_ae=10, fm_grace=grace // 10, ad_grace=grace - grace // 10 - 1, seed=a.seed).fit(X[:grace])
        t_kscore, rmse = best(lambda: KitNETScorer(kit).score(X), a.repeat)
        thr = np.quantile(rmse[grace: sim.onset_index], 0.999)
        k_alert = np.flatnonzero(rmse > thr)
        fn = explainer_for(kit, X[grace: sim.onset_index])
        rows = X[k_alert[:2000]]
        t, _ = best(lambda: fn(rows), a.repeat)
        cost, kper = t / len(rows), t_kscore / len(X)
        print(f"\nKitNET (grace {grace:,}): score {kper * 1e6:.2f} us/row; {len(k_alert) / len(X):.0%} of rows alert; "
              f"explaining {len(rows):,} of them: {cost * 1e6:.1f} us/row = {cost / kper:.0f} rows scored; "
              f"explainable at 20%: {0.2 * kper / cost:.2%} of rows")


if __name__ == "__main__":
    main()
