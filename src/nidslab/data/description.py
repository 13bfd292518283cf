"""What a dataset holds, and how good the classifiers that do not look at the features are (Parts 4-5).

Random-chance accuracy is estimated by Monte Carlo: each draw guesses every row's label at random and
counts the hits. Guessing "malicious" with probability g, the n1 malicious rows give Binomial(n1, g) hits
and the n0 benign rows Binomial(n0, 1 - g), independently; nidslab samples those two counts per draw
instead of materialising rows x draws random labels. Same distribution, no per-row loop, and 1,000 draws
take microseconds. g is the class prior (``prior``) or 1/2 (``uniform``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nidslab.progress import Progress

_CHUNK = 1 << 16


@dataclasses.dataclass(frozen=True)
class Description:
    """Shapes, class counts, non-finite cells, and the naive and random-chance baselines of a dataset.

    ``class_counts``: (benign, malicious). ``nan_per_column`` / ``inf_per_column``: only the columns that
    have any. ``random_chance``: ``{"draws", "seed", "prior": {"mean", "sd"}, "uniform": {"mean", "sd"}}``
    (accuracies as fractions).
    """

    name: str
    rows: int
    n_features: int
    class_counts: tuple[int, int]
    nan_features: int
    inf_features: int
    nan_per_column: dict[str, int]
    inf_per_column: dict[str, int]
    majority_class: str
    naive_accuracy: float
    random_chance: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        b, m = self.class_counts
        rc = self.random_chance
        return (f"Description({self.name!r}: {self.rows:,} rows x {self.n_features} features; benign {b:,} "
                f"({b / self.rows:.1%}), malicious {m:,}; NaN cells {self.nan_features}, inf cells "
                f"{self.inf_features}; naive (always {self.majority_class}) accuracy {self.naive_accuracy:.4f}; "
                f"random guess with the prior {rc['prior']['mean']:.4f} ± {rc['prior']['sd']:.4f}, "
                f"fair coin {rc['uniform']['mean']:.4f} ± {rc['uniform']['sd']:.4f} ({rc['draws']:,} draws))")


def random_chance(y: np.ndarray, *, draws: int = 1_000, seed: int = 0) -> dict[str, Any]:
    """Monte Carlo accuracy of random guessing on labels ``y`` (uint8 (n,)): mean and sd over ``draws``."""
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    y = np.asarray(y)
    n = len(y)
    n1 = int(np.count_nonzero(y))
    n0 = n - n1
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"draws": int(draws), "seed": int(seed)}
    for strategy, g in (("prior", n1 / max(n, 1)), ("uniform", 0.5)):
        acc = (rng.binomial(n1, g, size=draws) + rng.binomial(n0, 1 - g, size=draws)) / max(n, 1)
        out[strategy] = {"mean": float(acc.mean()), "sd": float(acc.std(ddof=1)) if draws > 1 else 0.0}
    return out


def describe(dataset: Any, *, draws: int = 1_000, seed: int = 0, progress: Progress | None = None) -> Description:
    """Describe a :class:`nidslab.data.Dataset` (or anything with ``X``, ``y``, ``feature_names``, ``name``).

    Scans the features in row chunks (a memory map is never loaded whole) for NaN and inf per column.
    """
    X, y = dataset.X, np.asarray(dataset.y)
    names = tuple(getattr(dataset, "feature_names", None) or (f"column {i + 1}" for i in range(X.shape[1])))
    nan = np.zeros(X.shape[1], dtype=np.int64)
    inf = np.zeros(X.shape[1], dtype=np.int64)
    for start in range(0, len(X), _CHUNK):
        block = np.asarray(X[start:start + _CHUNK])
        nan += np.isnan(block).sum(axis=0)
        inf += np.isinf(block).sum(axis=0)
        if progress:
            progress(min(start + _CHUNK, len(X)), len(X), "checking for NaN and inf")
    counts = np.bincount(y, minlength=2)[:2]
    majority = int(np.argmax(counts))
    return Description(
        name=str(getattr(dataset, "name", "")), rows=int(len(y)), n_features=int(X.shape[1]),
        class_counts=(int(counts[0]), int(counts[1])),
        nan_features=int(nan.sum()), inf_features=int(inf.sum()),
        nan_per_column={names[i]: int(nan[i]) for i in np.flatnonzero(nan)},
        inf_per_column={names[i]: int(inf[i]) for i in np.flatnonzero(inf)},
        majority_class="malicious" if majority else "benign",
        naive_accuracy=float(counts[majority] / max(len(y), 1)),
        random_chance=random_chance(y, draws=draws, seed=seed))
