"""One training step of a :class:`nidslab.model.DNN` with a hand-derived backward pass.

Why not autograd: on the CPU, part of an autograd step of a small dense network goes outside its
matrix multiplications. Every op allocates its output, BatchNorm's CPU backward kernel takes about
1.3 ms on a 10,000 x 80 batch where the elementwise passes below take about 0.2 ms, and every graph
node costs bookkeeping. This step does the same arithmetic in buffers allocated once: per hidden
layer one ``addmm``, the activation in place, BatchNorm's own forward kernel, the dropout mask;
backward two matmuls and a few elementwise passes. When BatchNorm feeds the next Dense layer
directly, its backward needs no pass over the batch of its own (see ``_bn_backward_folded``).
Gradients land in each parameter's ``.grad``, so any torch optimiser steps them. The step walks the
network's :class:`nidslab.model.Block` s; each activation's forward and backward kernels come from the
table :data:`ACTIVATION_KERNELS`, and a network with an activation not in it trains with autograd.

Measured per epoch (``benchmarks/bench_step.py``, 2 cores): 1.04x (4 x 50) to 1.24x (2 x 20 +
BatchNorm) faster than autograd at batch 10,000; the matrix multiplications, which both share, are
most of what is left. ``tests/test_fused_step.py`` checks the gradients against autograd for every
activation, BatchNorm, dropout, head and class weighting.

Per hidden layer, with input ``h_prev`` of B rows (``m`` is the dropout mask, already scaled):

    forward                               backward, from dh = dL/dh
    z = h_prev @ W.T + b                  du = dh * m
    s = act(z)                            dbeta = sum(du), dgamma = invstd * (sum(du * s) - mean * dbeta)
    u = (s - mean) * invstd * gamma + beta
                                          ds = a * (du - dbeta / B - xhat * dgamma / B)
                                             = du * a + s * k + q     (a = gamma * invstd, per column k, q)
    h = u * m                             dz = act'(ds);  dW = dz.T @ h_prev,  db = sum(dz),  dh_prev = dz @ W

Batch statistics are biased (as in training-mode BatchNorm); the running variance is updated with the
unbiased one, as ``nn.BatchNorm1d`` does, by torch's own BatchNorm forward kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

import torch
from torch import nn
from torch.nn import functional as F

from nidslab.model import ACTIVATION_MODULES
from nidslab.model import DNN, Block, Dropout, dropout_mask

aten = torch.ops.aten


@dataclass(frozen=True)
class Activation:
    """An activation the fused step computes by hand.

    ``forward(z, s)`` returns ``act(z)``, in place in ``z`` unless ``needs_input`` (then into ``s``,
    because the backward needs ``z``); ``backward(g, s, z)`` sets ``g <- g * act'(z)`` in place from
    the activation's output ``s`` (or its input ``z``).
    """

    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]
    needs_input: bool = False


#: what the fused step can train, by :class:`nidslab.model.ModelSpec` activation name; a network with any
#: other activation trains with autograd (:func:`supports` is False)
ACTIVATION_KERNELS: dict[str, Activation] = {
    "sigmoid": Activation(lambda z, s: z.sigmoid_(),
                          lambda g, s, z: aten.sigmoid_backward.grad_input(g, s, grad_input=g)),
    "relu": Activation(lambda z, s: z.relu_(),
                       lambda g, s, z: aten.threshold_backward.grad_input(g, s, 0, grad_input=g)),
    "tanh": Activation(lambda z, s: z.tanh_(),
                       lambda g, s, z: aten.tanh_backward.grad_input(g, s, grad_input=g)),
    "elu": Activation(lambda z, s: F.elu_(z),
                      lambda g, s, z: aten.elu_backward.grad_input(g, 1.0, 1, 1, True, s, grad_input=g)),
    "gelu": Activation(lambda z, s: aten.gelu.out(z, approximate="none", out=s),
                       lambda g, s, z: aten.gelu_backward.grad_input(g, z, approximate="none", grad_input=g),
                       needs_input=True),
    "linear": Activation(lambda z, s: z, lambda g, s, z: None),  # Part 11's network without activations
}


def _matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, accumulate: bool = False) -> torch.Tensor:
    """``out (+)= a @ b``; with inner dimension 1 (the output layer's gradient) a broadcast multiply,
    which is 2-3x faster than ``mm`` for that outer product."""
    if a.shape[1] == 1:
        return out.addcmul_(a, b) if accumulate else torch.mul(a, b, out=out)
    return out.addmm_(a, b) if accumulate else torch.mm(a, b, out=out)


@dataclass
class _Hidden:
    """A hidden block with its activation's kernels and its buffers for one step."""

    linear: nn.Linear
    bn: nn.BatchNorm1d | None
    act: Activation
    p: float  # dropout rate, 0 for none
    z: torch.Tensor  # (B, n) pre-activation; the activation overwrites it unless it needs its input
    s: torch.Tensor  # (B, n) activation output
    h: torch.Tensor  # (B, n) the layer's output (after BatchNorm and dropout)
    mean: torch.Tensor | None = None  # (n,) batch statistics saved for backward
    invstd: torch.Tensor | None = None
    mask: torch.Tensor | None = None  # (m, n) this step's dropout mask


def _grad(p: torch.Tensor) -> torch.Tensor:
    """``p.grad``, which :class:`FusedStep` allocates for every parameter before the first step."""
    assert p.grad is not None, "FusedStep allocates every parameter's .grad"
    return p.grad


def _bn(L: _Hidden) -> tuple[nn.BatchNorm1d, torch.Tensor, torch.Tensor]:
    """A BatchNorm block's module and its batch mean and inverse std saved by the forward pass."""
    assert L.bn is not None and L.mean is not None and L.invstd is not None, "a BatchNorm block after its forward"
    return L.bn, L.mean, L.invstd


def _block_supported(b: Block) -> bool:
    """The block is what :class:`nidslab.model.DNN` builds, with an activation in :data:`ACTIVATION_KERNELS`."""
    return (b.activation in ACTIVATION_KERNELS and type(b.act) is ACTIVATION_MODULES.get(b.activation)
            and getattr(b.act, "approximate", "none") == "none"
            and type(b.linear) is nn.Linear and (b.bn is None or type(b.bn) is nn.BatchNorm1d)
            and (b.dropout is None or isinstance(b.dropout, Dropout)))


def supports(model: nn.Module) -> TypeGuard[DNN]:
    """Whether :class:`FusedStep` can train ``model``: a float32 :class:`DNN` on the CPU whose layers are
    its blocks' (as :func:`nidslab.model.build_model` makes them) and whose activation is in
    :data:`ACTIVATION_KERNELS` (anything else trains with autograd)."""
    if type(model) is not DNN or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in model.parameters()):
        return False
    layers = [m for b in model.blocks for m in b.layers()] + [model.output]
    children = list(model.children())
    return (len(children) == len(layers) and all(c is m for c, m in zip(children, layers))
            and type(model.output) is nn.Linear and all(_block_supported(b) for b in model.blocks))


class FusedStep:
    """Forward, loss and backward of one batch of a :class:`DNN` in train mode, without autograd.

    ``step(x, y, w)`` takes ``x`` ``(m, n_inputs)`` float32, ``y`` ``(m,)`` float32 targets and
    ``w`` ``(m,)`` per-row loss weights or None, with ``m <= batch_size``. It fills every
    parameter's ``.grad``, updates BatchNorm's running statistics, and returns the batch loss
    (0-d tensor, as :func:`nidslab.train.fit` defines it) and the ``(m,)`` outputs (logits for
    the binary head). Dropout masks come from :func:`nidslab.model.dropout_mask`, drawn in the
    same order as the module's forward, so a seeded step matches the autograd one.
    """

    def __init__(self, model: DNN, batch_size: int):
        if not supports(model):
            raise ValueError("FusedStep trains a DNN built by nidslab.model.build_model, on the CPU")
        self.head = model.spec.head
        self.out: nn.Linear = model.output
        self.hidden: list[_Hidden] = []
        B, n = batch_size, model.spec.n_nodes
        for block in model.blocks:
            act = ACTIVATION_KERNELS[block.activation]
            p = block.dropout.p if block.dropout is not None else 0.0
            z = torch.empty(B, n)
            s = torch.empty(B, n) if act.needs_input else z
            h = torch.empty(B, n) if (block.bn is not None or p) else s
            self.hidden.append(_Hidden(block.linear, block.bn, act, p, z, s, h))
        self.o = torch.empty(B, 1)  # logits / outputs
        self.go = torch.empty(B)  # dL/do
        self.ga = torch.empty(B, n)  # two scratch buffers for the backward pass
        self.gb = torch.empty(B, n)
        for param in model.parameters():
            if param.grad is None or param.grad.shape != param.shape:
                param.grad = torch.zeros_like(param)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        m = len(x)
        with torch.no_grad():
            h = x
            for L in self.hidden:
                h = self._forward(L, h, m)
            o = torch.addmm(self.out.bias, h, self.out.weight.t(), out=self.o[:m]).view(m)
            go = self.go[:m]
            if self.head == "binary":
                loss = F.binary_cross_entropy_with_logits(o, y, weight=w)
                torch.sigmoid(o, out=go).sub_(y)  # d(bce)/do = sigmoid(o) - y
                if w is not None:
                    go.mul_(w)
            else:
                loss = F.mse_loss(o, y)
                torch.sub(o, y, out=go).mul_(2.0)
            go.mul_(1.0 / m)  # the loss is a mean over the batch's rows
            self._backward(go, x, m)
        return loss, o

    def _forward(self, L: _Hidden, h_prev: torch.Tensor, m: int) -> torch.Tensor:
        z = torch.addmm(L.linear.bias, h_prev, L.linear.weight.t(), out=L.z[:m])
        s = L.act.forward(z, L.s[:m])
        out = s
        if L.bn is not None:
            bn = L.bn
            if m == 1:  # one row has no spread: it normalises to beta (nn.BatchNorm1d would raise)
                L.mean, L.invstd = s[0].clone(), torch.full_like(bn.weight, bn.eps ** -0.5)
                out = L.h[:m].copy_(bn.bias.detach().expand(1, -1))
            else:  # torch's kernel: batch statistics, the normalised output, the running statistics
                out, L.mean, L.invstd = aten.native_batch_norm.out(
                    s, bn.weight, bn.bias, bn.running_mean, bn.running_var, True, bn.momentum, bn.eps,
                    out=L.h[:m], save_mean=torch.empty_like(bn.weight), save_invstd=torch.empty_like(bn.weight))
                tracked = bn.num_batches_tracked
                assert tracked is not None, "nn.BatchNorm1d tracks running statistics (build_model's)"
                tracked.add_(1)
        if L.p:
            L.mask = dropout_mask((m, s.shape[1]), L.p)
            out = torch.mul(out, L.mask, out=L.h[:m])
        return out

    def _backward(self, go: torch.Tensor, x: torch.Tensor, m: int) -> None:
        """From ``go = dL/do``, walk the Dense layers top down; ``dz`` is the gradient at the current
        Dense layer's output (pre-activation), ``below`` the hidden block that feeds it."""
        denses = [L.linear for L in self.hidden] + [self.out]
        dz = go.view(m, 1)
        for j in range(len(denses) - 1, -1, -1):
            dense, below = denses[j], self.hidden[j - 1] if j else None
            torch.sum(dz, 0, out=_grad(dense.bias))
            if below is None:
                torch.mm(dz.t(), x, out=_grad(dense.weight))
                return
            buf = self._other(dz, m)
            s = below.s[:m]
            if below.bn is not None and not below.p:
                ds = self._bn_backward_folded(below, dense, dz, s, buf)
            else:
                torch.mm(dz.t(), below.h[:m], out=_grad(dense.weight))
                ds = _matmul(dz, dense.weight, out=buf)  # dL/dh
                if below.p:
                    assert below.mask is not None, "its forward drew the mask"
                    ds.mul_(below.mask)
                if below.bn is not None:
                    ds = self._bn_backward(below, ds, s, self._other(buf, m))
            below.act.backward(ds, s, below.z[:m])
            dz = ds

    def _other(self, t: torch.Tensor, m: int) -> torch.Tensor:
        """The first ``m`` rows of whichever scratch buffer ``t`` is not in."""
        return self.gb[:m] if t.data_ptr() == self.ga.data_ptr() else self.ga[:m]

    @staticmethod
    def _bn_backward(L: _Hidden, du: torch.Tensor, s: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``dL/ds`` into ``out`` from ``du = dL/du``; fills BatchNorm's gamma and beta gradients."""
        bn, _, _ = _bn(L)
        dbeta = torch.sum(du, 0, out=_grad(bn.bias))
        sum_du_s = torch.mul(du, s, out=out).sum(0)
        a, k, q = FusedStep._bn_coefficients(L, dbeta, sum_du_s, len(s))
        torch.addcmul(q, s, k, out=out)
        return out.addcmul_(du, a)

    @staticmethod
    def _bn_backward_folded(L: _Hidden, dense: nn.Linear, dz: torch.Tensor, s: torch.Tensor,
                            out: torch.Tensor) -> torch.Tensor:
        """``dL/ds`` into ``out`` when BatchNorm feeds ``dense`` directly (no dropout between).

        With ``u = s * a + c`` and ``du = dz @ W``, everything BatchNorm's backward needs comes from
        the one matmul ``M = dz.T @ s`` (``n_next x n``), so no pass over ``du`` is made:
        ``dW = M * a + outer(sum(dz), c)``, ``sum(du) = sum(dz) @ W``, ``sum(du * s) = sum(W * M, 0)``,
        and ``ds = dz @ (W * a) + s * k + q``.
        """
        bn, mean, invstd = _bn(L)
        W, db = dense.weight, _grad(dense.bias)
        a = bn.weight.detach() * invstd
        c = bn.bias.detach() - mean * a
        M = dz.t() @ s
        torch.addr(M * a, db, c, out=_grad(W))  # dW = M * a + outer(db, c)
        dbeta = torch.mv(W.t(), db, out=_grad(bn.bias))
        _, k, q = FusedStep._bn_coefficients(L, dbeta, (W * M).sum(0), len(s))
        torch.addcmul(q, s, k, out=out)
        return _matmul(dz, W * a, out=out, accumulate=True)

    @staticmethod
    def _bn_coefficients(L: _Hidden, dbeta: torch.Tensor, sum_du_s: torch.Tensor,
                         m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fill gamma's gradient; return the per-column ``a, k, q`` of ``ds = du * a + s * k + q``."""
        bn, mean, invstd = _bn(L)
        dgamma = _grad(bn.weight).copy_(invstd * (sum_du_s - mean * dbeta))
        a = bn.weight.detach() * invstd
        k = a * invstd * dgamma * (-1.0 / m)
        return a, k, a * dbeta * (-1.0 / m) - k * mean


__all__ = ["FusedStep", "supports", "Activation", "ACTIVATION_KERNELS"]
