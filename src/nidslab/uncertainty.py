"""Monte Carlo dropout (the lab's Part 20): many test passes with dropout left on.

The passes are vectorised: the layers before the first dropout are deterministic, so they run once
per row chunk; their output is repeated ``passes`` times and the rest of the network runs on all
copies at once, each copy drawing its own dropout masks. BatchNorm stays in inference mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nidslab.model import dropout, seed_dropout

MEMORY_BYTES = 256 * 2**20  # activations held at once by the vectorised passes


@dataclass(frozen=True)
class MCDropoutResult:
    """Outcome of :func:`mc_dropout` on ``n`` rows and ``passes`` passes.

    ``accuracies``: ``(passes,)`` test accuracy of each pass; ``accuracy_mean``/``accuracy_std``
    their mean and (population) sd, as the lab prints. ``mean``/``std``: ``(n,)`` each row's
    predictive mean and sd of the malicious-class probability over the passes.
    """

    accuracies: np.ndarray
    accuracy_mean: float
    accuracy_std: float
    mean: np.ndarray
    std: np.ndarray
    passes: int
    dropout: float
    threshold: float = 0.5

    def to_dict(self, include_per_sample: bool = False) -> dict:
        d = {"passes": self.passes, "dropout": self.dropout, "threshold": self.threshold,
             "accuracies": self.accuracies.tolist(), "accuracy_mean": self.accuracy_mean,
             "accuracy_std": self.accuracy_std, "rows": int(len(self.mean)),
             "per_sample_std_mean": float(self.std.mean()) if len(self.std) else None}
        if include_per_sample:
            d["per_sample_mean"] = self.mean.tolist()
            d["per_sample_std"] = self.std.tolist()
        return d


def _dropout_rate(model: nn.Module) -> float:
    rates = {m.p for m in model.modules() if isinstance(m, nn.Dropout)}
    if not rates:
        raise ValueError("MC dropout needs a model with dropout layers (build it with dropout > 0)")
    return float(max(rates))


@torch.inference_mode()
def mc_dropout(model: nn.Module, X: np.ndarray, y: np.ndarray, *, passes: int = 100, seed: int = 0,
               threshold: float = 0.5, batch_size: int | None = None) -> MCDropoutResult:
    """Pass ``X`` (``(n, n_inputs)`` float32, standardised) through ``model`` ``passes`` times with
    dropout on (whatever the model's ``mc_dropout`` flag), BatchNorm in inference mode.

    ``y`` ``(n,)`` 0/1 labels give each pass's accuracy. Same ``seed``, same numbers; torch's global
    random state is left as it was. ``batch_size`` rows per chunk (default: as many as fit in
    about 256 MiB of activations across all passes).
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (len(X),):
        raise ValueError(f"need X (n, features) and y (n,); got {X.shape} and {y.shape}")
    if not (isinstance(passes, int) and passes >= 1):
        raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
    if getattr(getattr(model, "spec", None), "head", "binary") != "binary":
        raise ValueError("MC dropout accuracy needs a binary head")
    rate = _dropout_rate(model)
    layers = list(model.children())
    first = next(i for i, m in enumerate(layers) if isinstance(m, nn.Dropout))
    prefix, rest = layers[:first], layers[first:]
    dev = next(model.parameters()).device
    width = max([m.out_features for m in layers if isinstance(m, nn.Linear)] + [X.shape[1]])
    if batch_size is None:
        batch_size = max(1, MEMORY_BYTES // (passes * width * 4 * 3))

    was_training = model.training
    model.eval()
    correct = np.zeros(passes, dtype=np.int64)
    mean = np.empty(len(X), dtype=np.float32)
    std = np.empty(len(X), dtype=np.float32)
    truth = torch.from_numpy((y == 1))
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            seed_dropout(seed)
            for s in range(0, len(X), batch_size):
                h = torch.from_numpy(X[s:s + batch_size]).to(dev)
                for m in prefix:
                    h = m(h)
                m_rows = len(h)
                h = h.repeat(passes, 1)  # (passes * rows, width): pass-major copies
                for m in rest:
                    h = dropout(h, m.p) if isinstance(m, nn.Dropout) else m(h)
                p = torch.sigmoid(h.reshape(passes, m_rows).double()).cpu()
                correct += ((p >= threshold) == truth[s:s + m_rows]).sum(dim=1).numpy()
                mean[s:s + m_rows] = p.mean(dim=0).numpy()
                std[s:s + m_rows] = p.std(dim=0, correction=0).numpy()
    finally:
        model.train(was_training)
    acc = correct / max(1, len(X))
    return MCDropoutResult(accuracies=acc, accuracy_mean=float(acc.mean()), accuracy_std=float(acc.std()),
                           mean=mean, std=std, passes=passes, dropout=rate, threshold=threshold)


__all__ = ["mc_dropout", "MCDropoutResult"]
