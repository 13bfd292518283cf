"""The lab's dense network (``build_DNN``) as a PyTorch module, with Keras's defaults.

Layer order as the lab: ``Dense -> activation -> BatchNorm -> Dropout`` per hidden layer, then
``Dense(1)``. The binary head returns *logits* (the sigmoid is applied by the loss, BCE-with-logits,
and by :func:`nidslab.evaluate.predict_scores`), the regression head a linear output.

Keras defaults are kept so numbers compare with the lab: Glorot-uniform weights, zero biases,
BatchNormalization momentum 0.99 and epsilon 1e-3 (PyTorch ``momentum=0.01, eps=1e-3``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nidslab import settings
from nidslab.settings import ModelSpec

#: the module of each activation name :class:`ModelSpec` accepts (names: ``nidslab.settings.ACTIVATIONS``)
#: ("linear" is no activation at all: the lab's Question 5, Dense layers stacked without one)
ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU,
                                           "gelu": nn.GELU, "linear": nn.Identity}
if tuple(ACTIVATION_MODULES) != settings.ACTIVATIONS:  # pragma: no cover - a table edited on one side only
    raise ImportError("nidslab.model.ACTIVATION_MODULES and nidslab.settings.ACTIVATIONS name different activations")
HEADS = settings.HEADS
#: BatchNorm as Keras's defaults (momentum 0.99 of the old value, epsilon 1e-3), in PyTorch's terms
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
#: rows per inference batch (evaluate, validation in fit): a 10x80 network's activations stay in cache
#: (65,536: 1.4x slower)
EVAL_BATCH = 16_384


#: CPU dropout masks come from NumPy's PCG64 (see dropout_mask), not torch's single-threaded CPU generator.
_mask_rng = np.random.Generator(np.random.PCG64(0))


def seed_dropout(seed: int) -> None:
    """Reseed the generator of the CPU dropout masks (``fit`` does it per epoch, ``mc_dropout`` per call)."""
    global _mask_rng
    _mask_rng = np.random.Generator(np.random.PCG64(seed))


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator | None = None) -> torch.Tensor:
    """A CPU dropout mask of ``shape``: float32, ``1 / (1 - p)`` where a value is kept, 0 where dropped.

    Each value is 16 raw random bits from :func:`seed_dropout`'s generator, read as an int16 and kept
    when it is at least ``round(p * 65536) - 32768``: ``p`` is applied in steps of 1/65,536 (0.5
    exactly). The comparison runs on all torch threads. A 10,000 x 80 mask takes 1.76 ms, against
    2.9 ms from torch's CPU generator or from ``Generator.bytes`` (``benchmarks/bench_step.py``).
    ``rng``: draw from this PCG64 generator instead (``nidslab.stacked``: one per network).
    """
    n = int(np.prod(shape))
    raw = (rng or _mask_rng).bit_generator.random_raw((n + 3) // 4)  # uint64: four 16-bit values each
    bits = torch.from_numpy(raw.view(np.int16)[:n].reshape(shape))
    mask = torch.empty(shape, dtype=torch.float32)
    return torch.ge(bits, round(p * 65_536) - 32_768, out=mask).mul_(1.0 / (1.0 - p))


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout, always on: zero each value with probability ``p``, scale the rest by 1/(1-p).

    On the CPU the mask is :func:`dropout_mask`; on CUDA ``F.dropout``'s fused kernel is used, seeded
    by ``torch.manual_seed``.
    """
    if p == 0.0:
        return x
    if x.is_cuda:
        return F.dropout(x, p, training=True)
    return x * dropout_mask(tuple(x.shape), p)


class Dropout(nn.Dropout):
    """Keras-style dropout: on in ``train()`` mode, off in ``eval()`` mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p) if self.training else x


class MCDropout(Dropout):
    """Dropout that stays on in ``eval()`` mode (the lab's ``myDropout``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p)


@dataclass(frozen=True, eq=False)
class Block:
    """One hidden layer as the lab builds it: ``Dense -> activation -> BatchNorm? -> Dropout?``.

    ``activation`` is the name :class:`ModelSpec` gave (``act`` its module); ``bn`` and ``dropout``
    are None when the spec has no batch normalisation or no dropout.
    """

    linear: nn.Linear
    activation: str
    act: nn.Module
    bn: nn.BatchNorm1d | None = None
    dropout: Dropout | None = None

    def layers(self) -> list[nn.Module]:
        """The block's modules in forward order."""
        return [m for m in (self.linear, self.act, self.bn, self.dropout) if m is not None]


class DNN(nn.Sequential):
    """The network: hidden :class:`Block` s, then the output layer ``Dense(1)``.

    ``forward(x)`` takes ``(n, n_inputs)`` float32 and returns ``(n,)``: logits for the binary
    head, values for the regression head. ``blocks`` holds the hidden blocks and ``output`` the last
    Dense layer; their modules are also this ``nn.Sequential``'s children in forward order, so the
    state_dict keys (``"0.weight"``, ...) are those of model folders saved before blocks existed.
    ``spec`` and ``n_inputs`` are kept on the module.
    """

    def __init__(self, spec: ModelSpec, n_inputs: int):
        blocks: list[Block] = []
        width = n_inputs
        for _ in range(spec.n_layers):
            blocks.append(Block(
                linear=nn.Linear(width, spec.n_nodes), activation=spec.activation, act=ACTIVATION_MODULES[spec.activation](),
                # Keras momentum 0.99 (weight of the old value) is PyTorch momentum 0.01.
                bn=nn.BatchNorm1d(spec.n_nodes, eps=BN_EPS, momentum=BN_MOMENTUM) if spec.batch_norm else None,
                dropout=(MCDropout if spec.mc_dropout else Dropout)(spec.dropout) if spec.dropout else None))
            width = spec.n_nodes
        super().__init__(*[m for b in blocks for m in b.layers()], nn.Linear(width, 1))
        self.blocks: tuple[Block, ...] = tuple(blocks)  # a plain tuple: the modules are registered above
        self.spec = spec
        self.n_inputs = n_inputs

    @property
    def output(self) -> nn.Linear:
        """The output layer, ``Dense(1)``."""
        layer = self[-1]
        assert isinstance(layer, nn.Linear)  # built so by __init__; nn.Sequential's indexing is typed Module
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)


def build_model(spec: ModelSpec, n_inputs: int, *, seed: int | None = None) -> DNN:
    """Build the network of ``spec`` for ``n_inputs`` features, initialised as Keras does.

    Glorot-uniform weights, zero biases. With ``seed`` the draw comes from torch's CPU generator
    seeded with it, inside ``torch.random.fork_rng`` (the same numbers as ``torch.manual_seed(seed)``
    before the call, without touching the global generator); without, from the global generator.
    ``nidslab.train.fit`` does not re-initialise.
    """
    if not (isinstance(n_inputs, int) and n_inputs >= 1):
        raise ValueError(f"n_inputs must be an integer >= 1, got {n_inputs!r}")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = DNN(spec, n_inputs)  # nn.Linear draws its own init first: part of the seeded sequence
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    return model


@dataclass(frozen=True)
class LayerRow:
    """One row of :class:`Summary`: a layer's name, kind, output shape and parameter counts."""

    name: str
    kind: str
    output_shape: tuple
    params: int
    trainable: int


@dataclass(frozen=True)
class Summary:
    """Keras-style model summary. Parameter counts follow Keras: BatchNorm's moving mean and
    variance count as non-trainable parameters (4 per node, 2 of them trainable)."""

    rows: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int
    non_trainable_params: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        w = max([len(f"{r.name} ({r.kind})") for r in self.rows] + [12]) + 2
        lines = [f"{'Layer (type)':<{w}}{'Output Shape':<14}{'Param #':>9}"]
        lines += [f"{r.name + ' (' + r.kind + ')':<{w}}{str(r.output_shape):<14}{r.params:>9,}" for r in self.rows]
        lines += [f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}"]
        return "\n".join(lines)


_KIND = {nn.Linear: "Dense", nn.BatchNorm1d: "BatchNormalization", nn.Dropout: "Dropout", Dropout: "Dropout",
         MCDropout: "MCDropout"}


def summary(model: nn.Module, n_inputs: int | None = None) -> Summary:
    """Per-layer output shape and parameter counts of a :class:`DNN`, like Keras ``model.summary()``.

    Activations are folded into the Dense row before them (as Keras's ``Dense(activation=...)``).
    ``n_inputs`` defaults to ``model.n_inputs``; shapes are ``(None, width)``.
    """
    n_inputs = n_inputs if n_inputs is not None else getattr(model, "n_inputs", None)
    rows: list[LayerRow] = []
    width = n_inputs
    counters: dict[str, int] = {}
    for layer in model.children():
        kind = _KIND.get(type(layer))
        if kind is None:  # an activation: fold into the previous Dense row's kind
            if rows and rows[-1].kind == "Dense":
                r = rows[-1]
                rows[-1] = dataclasses.replace(r, kind=f"Dense, {type(layer).__name__.lower()}")
            continue
        if isinstance(layer, nn.Linear):
            width = layer.out_features
        trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        total = sum(p.numel() for p in layer.parameters()) + sum(
            b.numel() for n, b in layer.named_buffers() if n in ("running_mean", "running_var"))
        base = kind.lower() if kind != "BatchNormalization" else "batch_normalization"
        i = counters.get(base, 0)
        counters[base] = i + 1
        rows.append(LayerRow(base if i == 0 else f"{base}_{i}", kind, (None, width), total, trainable))
    total = sum(r.params for r in rows)
    trainable = sum(r.trainable for r in rows)
    return Summary(tuple(rows), total, trainable, total - trainable)


__all__ = ["ModelSpec", "DNN", "Block", "EVAL_BATCH", "Dropout", "MCDropout", "dropout", "dropout_mask", "seed_dropout", "build_model", "summary", "Summary", "LayerRow", "ACTIVATION_MODULES", "HEADS"]
