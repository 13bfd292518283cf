"""The CPU training step: nidslab's fused step against autograd, and three sources of dropout masks.

Both comparisons run side by side in this one process, the sides taking turns, best of ``--rounds``:

1. ``fit(step="fused")`` against ``fit(step="autograd")``: one epoch (validation pass included) of the
   lab's networks on 534,895 x 92 training and 114,621 validation rows (standard-normal features).
2. One dropout mask for a 10,000 x 80 batch (p = 0.7): torch's CPU generator (``torch.rand``), NumPy's
   ``Generator.bytes`` compared with ``np.where`` (nidslab's previous way), and nidslab's
   :func:`nidslab.model.dropout_mask` (PCG64 raw bits read as int16, compared by torch).

    .venv/bin/python benchmarks/bench_step.py [--configs "2x20,10x80 BN"] [--batch-sizes 10000,100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nidslab.model import ModelSpec, build_model, dropout_mask, seed_dropout
from nidslab.train import fit

CONFIGS = {  # n_layers, n_nodes, activation, batch_norm, dropout
    "2x20": (2, 20, "sigmoid", False, 0.0),
    "4x50": (4, 50, "sigmoid", False, 0.0),
    "2x20 BN": (2, 20, "sigmoid", True, 0.0),
    "2x20 dropout": (2, 20, "sigmoid", False, 0.5),
    "3x80 BN+dropout 0.7": (3, 80, "sigmoid", True, 0.7),
    "10x80 BN": (10, 80, "sigmoid", True, 0.0),
}


def steps(args, X, y, Xv, yv) -> None:
    print("config | batch | fused s | autograd s | autograd / fused")
    for name in args.configs.split(","):
        n_layers, n_nodes, act, bn, p = CONFIGS[name.strip()]
        spec = ModelSpec(n_layers=n_layers, n_nodes=n_nodes, activation=act, batch_norm=bn, dropout=p)
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            torch.manual_seed(0)
            model = build_model(spec, X.shape[1])
            best = {"fused": float("inf"), "autograd": float("inf")}
            for step in best:  # warm-up
                fit(model, (X[:3 * bs], y[:3 * bs]), batch_size=bs, epochs=1, device="cpu", step=step)
            for _ in range(args.rounds):
                for step in best:
                    t0 = time.perf_counter()
                    fit(model, (X, y), validation=(Xv, yv), batch_size=bs, epochs=1, class_weight="balanced",
                        device="cpu", step=step)
                    best[step] = min(best[step], time.perf_counter() - t0)
            print(f"{name} | {bs:,} | {best['fused']:.3f} | {best['autograd']:.3f} | "
                  f"{best['autograd'] / best['fused']:.2f}", flush=True)


def masks(args) -> None:
    shape, p = (10_000, 80), 0.7
    gen = np.random.Generator(np.random.PCG64(0))
    torch_gen = torch.Generator().manual_seed(0)
    sources = {
        "torch.rand": lambda: (torch.rand(shape, generator=torch_gen) >= p).float().mul_(1 / (1 - p)),
        "Generator.bytes + np.where": lambda: torch.from_numpy(np.where(
            np.frombuffer(gen.bytes(2 * shape[0] * shape[1]), np.uint16).reshape(shape) >= round(p * 65_536),
            np.float32(1 / (1 - p)), np.float32(0))),
        "dropout_mask (raw bits)": lambda: dropout_mask(shape, p),
    }
    seed_dropout(0)
    best = {k: float("inf") for k in sources}
    for _ in range(args.rounds):
        for k, make in sources.items():
            make()
            t0 = time.perf_counter()
            for _ in range(20):
                make()
            best[k] = min(best[k], (time.perf_counter() - t0) / 20)
    print("\nmask source (10,000 x 80, p 0.7) | ms per mask | / dropout_mask")
    for k, v in best.items():
        print(f"{k} | {v * 1e3:.2f} | {v / best['dropout_mask (raw bits)']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--batch-sizes", default="10000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((534_895 + 114_621, 92), dtype=np.float32)
    y = (rng.random(len(X)) < 0.84).astype(np.uint8)
    steps(args, X[:534_895], y[:534_895], X[534_895:], y[534_895:])
    masks(args)


if __name__ == "__main__":
    main()
