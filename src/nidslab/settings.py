"""What a network is (:class:`ModelSpec`) and how it is trained (:class:`FitConfig`): the one home of their defaults.

Both are frozen dataclasses checked once, in ``__post_init__``; every other layer (``fit``, the CLI,
the study, the scikit-learn estimator) takes its defaults from here. This module does not import
torch, so study files and CLI options can be checked without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self, TypeGuard

import numpy as np

from nidslab.errors import ConfigError

#: activation names a :class:`ModelSpec` accepts (``nidslab.model.ACTIVATION_MODULES`` maps each to its module)
ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu", "gelu", "linear")
HEADS = ("binary", "regression")
#: the ModelSpec fields the lab's build_DNN takes (layers, nodes, activation, batch norm, dropout): what a study
#: experiment and DNNClassifier's parameters set
BUILD_DNN_KEYS = ("n_layers", "n_nodes", "activation", "batch_norm", "dropout")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
#: KitNET's settings as Kitsune ships them (max_ae: features per autoencoder, fm_grace / ad_grace: rows that learn the
#: feature map / train the autoencoders, lr, hidden_ratio, seed): nidslab.detect.KitNET's and the study's defaults
KITNET_DEFAULTS: dict[str, int | float] = {"max_ae": 10, "fm_grace": 5_000, "ad_grace": 50_000, "lr": 0.1,
                                           "hidden_ratio": 0.75, "seed": 1234}
#: how rows are split into train / validation / test: shuffled and stratified, or each class cut in time order
SPLITS = ("random", "temporal")
#: how ``fit`` computes gradients: the fused step where it applies, the fused step, autograd
STEPS = ("auto", "fused", "autograd")
_EARLY_STOPPING_KEYS = ("patience", "min_delta", "restore_best_weights")


def _is_int(v: Any) -> TypeGuard[int | np.integer]:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


@dataclass(frozen=True)
class _Settings:
    """``to_dict``/``from_dict``/``replace`` shared by the two settings classes (a dataclass without fields,
    so ``dataclasses.asdict``/``fields`` are typed for it)."""

    _WHAT = "settings"  # how errors name the class

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (``from_dict`` rebuilds them)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Build from a dict such as :meth:`to_dict`'s; unknown keys are an error naming them."""
        known = [f.name for f in dataclasses.fields(cls)]
        extra = sorted(set(d) - set(known))
        if extra:
            raise ConfigError(f"unknown {cls._WHAT} key(s) {', '.join(extra)}; known: {', '.join(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (checked like a new one; unknown names are an error)."""
        return self.from_dict({**self.to_dict(), **changes})

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen: only __post_init__ normalises


@dataclass(frozen=True)
class ModelSpec(_Settings):
    """What the lab's ``build_DNN`` takes: the network's shape, not its training settings.

    ``dropout`` is the rate (0 = no dropout layers); ``mc_dropout=True`` keeps dropout on at
    inference too (the lab's ``myDropout``), so every prediction is one Monte Carlo sample.
    """

    n_layers: int = 2
    n_nodes: int = 20
    activation: str = "sigmoid"
    batch_norm: bool = False
    dropout: float = 0.0
    mc_dropout: bool = False
    head: str = "binary"
    _WHAT = "model spec"

    def __post_init__(self) -> None:
        if not (_is_int(self.n_layers) and self.n_layers >= 0):
            raise ConfigError(f"n_layers must be an integer >= 0, got {self.n_layers!r}")
        if not (_is_int(self.n_nodes) and self.n_nodes >= 1):
            raise ConfigError(f"n_nodes must be an integer >= 1, got {self.n_nodes!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        for name in ("batch_norm", "mc_dropout"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not (_is_number(self.dropout) and 0.0 <= float(self.dropout) < 1.0):
            raise ConfigError(f"dropout is a rate in [0, 1), got {self.dropout!r}")
        if self.mc_dropout and not self.dropout:
            raise ConfigError("mc_dropout=True needs a dropout rate > 0")
        if self.head not in HEADS:
            raise ConfigError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        self._set("n_layers", int(self.n_layers))
        self._set("n_nodes", int(self.n_nodes))
        self._set("batch_norm", bool(self.batch_norm))
        self._set("mc_dropout", bool(self.mc_dropout))
        self._set("dropout", float(self.dropout))


@dataclass(frozen=True)
class FitConfig(_Settings):
    """How :func:`nidslab.train.fit` trains: optimiser, schedule, class weights, seed, device.

    ``class_weight``: None, ``"balanced"`` (``n / (2 * count(c))`` on the training labels, see
    :meth:`class_weights`) or ``{0: w0, 1: w1}``; ``"none"`` (a study file's spelling) is read as None.
    ``early_stopping``: None, a patience in epochs, or ``{"patience", "min_delta",
    "restore_best_weights"}`` on ``val_loss``. ``threads``: torch's CPU threads for the run (None: torch's
    choice). ``step``: ``"auto"`` | ``"fused"`` (hand-derived backward, CPU) | ``"autograd"``.
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    batch_size: int = 10_000
    epochs: int = 20
    class_weight: None | str | dict[int, float] = None
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    early_stopping: None | int | dict[str, Any] = None
    step: str = "auto"
    _WHAT = "fit config"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (_is_number(self.lr) and self.lr >= 0):
            raise ConfigError(f"lr must be a number >= 0, got {self.lr!r}")
        if not (_is_int(self.batch_size) and self.batch_size >= 1):
            raise ConfigError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not (_is_int(self.epochs) and self.epochs >= 0):
            raise ConfigError(f"epochs must be an integer >= 0, got {self.epochs!r}")
        if not _is_int(self.seed):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if self.threads is not None and not (_is_int(self.threads) and self.threads >= 1):
            raise ConfigError(f"threads must be None or an integer >= 1, got {self.threads!r}")
        if self.step not in STEPS:
            raise ConfigError(f"step must be one of {', '.join(STEPS)}, got {self.step!r}")
        device = str(self.device)  # a torch.device reads as its name
        if not device:
            raise ConfigError("device must be 'auto', 'cpu', 'cuda' or a torch device name, got ''")
        self._set("device", device)
        self._set("lr", float(self.lr))
        for name in ("batch_size", "epochs", "seed"):
            self._set(name, int(getattr(self, name)))
        if self.threads is not None:
            self._set("threads", int(self.threads))
        self._set("class_weight", _class_weight(self.class_weight))
        self._set("early_stopping", _early_stopping(self.early_stopping))

    def class_weights(self, y: np.ndarray) -> dict[int, float] | None:
        """The class weights as numbers for training labels ``y`` ``(n,)`` 0/1: None, the given pair,
        or :func:`balanced_class_weight` of ``y``."""
        if self.class_weight == "balanced":
            return balanced_class_weight(y)
        return dict(self.class_weight) if isinstance(self.class_weight, dict) else None


def _class_weight(cw: Any) -> None | str | dict[int, float]:
    """The one check of a class weight setting; returns its canonical form."""
    if cw is None or (isinstance(cw, str) and cw == "none"):
        return None
    if isinstance(cw, str) and cw == "balanced":
        return "balanced"
    if isinstance(cw, dict):
        try:
            out = {int(k): float(v) for k, v in cw.items()}  # JSON and TOML keys arrive as "0", "1"
        except (TypeError, ValueError):
            out = {}
        if sorted(out) == [0, 1] and all(np.isfinite(w) and w >= 0 for w in out.values()):
            return {0: out[0], 1: out[1]}
    raise ConfigError(f"class_weight must be None, 'balanced' or {{0: w0, 1: w1}} with weights >= 0, got {cw!r}")


def _early_stopping(es: Any) -> None | int | dict[str, Any]:
    """The one check of an early-stopping setting: None, a patience >= 1, or a dict of its three keys."""
    if es is None:
        return None
    if _is_int(es) and es >= 1:
        return int(es)
    if isinstance(es, dict) and not set(es) - set(_EARLY_STOPPING_KEYS):
        p, d = es.get("patience"), es.get("min_delta", 0.0)
        if _is_int(p) and p >= 1 and _is_number(d) and d >= 0:
            return {"patience": int(p), "min_delta": float(d),
                    "restore_best_weights": bool(es.get("restore_best_weights", True))}
    raise ConfigError("early_stopping must be None, a patience >= 1, or {'patience': int >= 1, 'min_delta': "
                      f"float >= 0, 'restore_best_weights': bool}}, got {es!r}")


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    """scikit-learn's ``compute_class_weight('balanced')``: ``n / (2 * count(c))`` for c in {0, 1}.

    On the lab's training split this is ``{0: 3.137, 1: 0.595}``.
    """
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(y)
    classes = np.unique(y)
    if not np.array_equal(classes, [0, 1]):
        raise ValueError(f"balanced class weights need labels 0 and 1 both present, got classes {classes.tolist()}")
    w = compute_class_weight("balanced", classes=classes, y=y)
    return {0: float(w[0]), 1: float(w[1])}


__all__ = ["ModelSpec", "FitConfig", "balanced_class_weight", "ACTIVATIONS", "BUILD_DNN_KEYS", "HEADS", "OPTIMIZERS",
           "STEPS"]
