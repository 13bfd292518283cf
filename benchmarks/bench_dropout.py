"""CPU dropout masks: torch's generator (``torch.rand_like``) against NumPy's PCG64 bytes (nidslab's).

Side by side in one process, alternating, on the lab's training shape (534,895 x 92 rows, validation
114,621): two-epoch ``fit`` runs of a dropout network with each mask source, per-epoch seconds printed.

    .venv/bin/python benchmarks/bench_dropout.py [--layers 3 --nodes 80 --dropout 0.7 --batch-norm] [--rounds 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import nidslab.model as model_module
from nidslab.train import fit


def torch_masks(x: torch.Tensor, p: float) -> torch.Tensor:
    """The previous implementation: a float mask from torch.rand_like."""
    if p == 0.0:
        return x
    return x * (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=80)
    ap.add_argument("--dropout", type=float, default=0.7)
    ap.add_argument("--batch-norm", action="store_true", default=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((534_895, 92)).astype(np.float32)
    y = (rng.random(len(X)) < 0.84).astype(np.uint8)
    spec = model_module.ModelSpec(n_layers=args.layers, n_nodes=args.nodes, batch_norm=args.batch_norm,
                                  dropout=args.dropout)
    numpy_masks = model_module.dropout
    best = {}
    for _ in range(args.rounds):
        for name, fn in (("torch.rand_like", torch_masks), ("numpy PCG64", numpy_masks)):
            model_module.dropout = fn
            h = fit(model_module.build_model(spec, 92), (X, y), validation=(X[:114_621], y[:114_621]), epochs=2,
                    class_weight="balanced")
            best[name] = min(best.get(name, float("inf")), *h.epoch_seconds)
            print(f"{name:<16} epochs {', '.join(f'{s:.3f}' for s in h.epoch_seconds)} s")
    model_module.dropout = numpy_masks
    print(f"best epoch: torch {best['torch.rand_like']:.3f} s, numpy {best['numpy PCG64']:.3f} s, "
          f"ratio {best['torch.rand_like'] / best['numpy PCG64']:.2f}x")


if __name__ == "__main__":
    main()
