"""Many independent networks of one architecture trained at once, as one stacked model.

The lab's networks are tiny (2,301 to 12,351 parameters), so one network's epoch is mostly per-step
overhead, not arithmetic. Stacking k networks of the same :class:`nidslab.settings.ModelSpec` puts a
leading network axis on every weight, ``(k, out, in)``, and runs each layer of all k as one batched
matmul (``torch.baddbmm``), so the per-step overhead is paid once for k networks. Each network keeps
its own rows, class weights, seed (initial weights, shuffle, dropout masks) and, in the shared way,
its own standardiser. Two ways to feed them:

- :func:`fit_stacked` (**own batches**): network i draws its own shuffle of its own rows, exactly as
  :func:`nidslab.train.fit` would, and gathers its own batches. The result equals k separate ``fit``
  calls to float rounding (``tests/test_stacked.py``). The gather of k batches is the price, so this
  way gains little on the CPU (the issue measured 0.37 s per network-epoch against 0.31 s alone).
- :func:`fit_shared` (**shared batches**): all networks walk one shuffle of one table; a row weighs 0
  in the loss (and in BatchNorm's statistics) of every network it does not belong to, so a fold's
  held-out rows move none of its network's weights. One gather serves all k networks, and the first
  Dense layer of all k is one wide matmul (``(B, d) @ (d, k * n_nodes)``). Each batch holds
  ``batch_size * n / mean(rows per network)`` rows, so each network still sees about ``batch_size`` of
  its own rows per step (11,111 for 10-fold CV at 10,000). Not equal bit for bit to one-by-one
  training (other batches); ``benchmarks/bench_train.py --cv`` compares the folds' accuracies.

On top: :func:`cross_validate` (k-fold CV of one spec, per-fold results shaped as the study's fold
tasks) and :func:`fit_seeds` (one spec trained from several seeds). Gradients come from a
hand-derived backward pass (:meth:`StackedDNN.fused`, BatchNorm and dropout included), from autograd
on the stacked graph for an activation it has no kernel for (or with ``step="autograd"``). The
optimiser steps the stacked tensors elementwise, so each network's slice steps as if alone: SGD with
one learning rate per network, Adam and AdamW with their own step counts per network (a network may sit
out a step; SGD and one of them may share a stack), RMSprop torch's. Each network keeps its own
activation and dropout rate (see :class:`StackedDNN`). Not supported here (use ``fit``): early stopping,
checkpoints and resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nidslab.model import BN_EPS, BN_MOMENTUM, DNN, EVAL_BATCH, build_model, dropout_mask
from nidslab.progress import Progress
from nidslab.settings import FitConfig, ModelSpec
from nidslab.threads import torch_threads
from nidslab.train import History, _check_arrays, _tune_malloc, epoch_seed, make_optimizer, resolve_device

Arrays = tuple[np.ndarray, np.ndarray]
#: ``callback(epoch, histories)`` after each epoch (1-based), with every network's History so far
StackedCallback = Callable[[int, list[History]], None]

_ACT = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh, "elu": F.elu,
        "gelu": F.gelu, "linear": lambda z: z}


def _running(m: DNN, j: int, name: str) -> torch.Tensor:
    """Block j's BatchNorm running statistic ``name`` (running_mean or running_var) of ``m``."""
    bn = m.blocks[j].bn
    stat = getattr(bn, name, None)
    assert isinstance(stat, torch.Tensor), "a batch-norm spec's blocks track running statistics"
    return stat


@dataclass
class DropoutMasks:
    """One step's dropout masks of the networks ``lo:hi`` of a stack (those with dropout and any between
    them): ``layers[j]`` ``(hi - lo, B, n_nodes)``, already scaled by ``1 / (1 - p)``; ones for a network
    in the range without dropout. Networks outside the range are not masked (no pass over them)."""

    lo: int
    hi: int
    layers: list[torch.Tensor]

    def apply(self, j: int, u: torch.Tensor) -> torch.Tensor:
        """Layer j's masked copy of ``u`` ``(k, B, n)`` (``u`` itself is kept for the backward)."""
        m = self.layers[j]
        if self.lo == 0 and self.hi == len(u):
            return u * m
        h = torch.empty_like(u)
        h[:self.lo].copy_(u[:self.lo])
        torch.mul(u[self.lo:self.hi], m, out=h[self.lo:self.hi])
        h[self.hi:].copy_(u[self.hi:])
        return h

    def apply_autograd(self, j: int, u: torch.Tensor) -> torch.Tensor:
        """As :meth:`apply`, as an autograd graph (no writes into slices)."""
        return torch.cat([u[:self.lo], u[self.lo:self.hi] * self.layers[j], u[self.hi:]])

    def backward_(self, j: int, dh: torch.Tensor) -> torch.Tensor:
        """``dh`` ``(k, B, n)`` times layer j's masks, in place."""
        dh[self.lo:self.hi].mul_(self.layers[j])
        return dh


def _shape(spec: ModelSpec) -> ModelSpec:
    """What stacked networks must share: the spec with activation and dropout taken out."""
    return spec.replace(activation="sigmoid", dropout=0.0)


class StackedDNN(nn.Module):
    """k :class:`DNN` s of one shape as stacked tensors: ``weights[j]`` ``(k, out, in)``, ``biases[j]``
    ``(k, out)``, BatchNorm's ``gammas``/``betas`` and running statistics ``(k, n_nodes)``.

    The networks share layers, nodes, BatchNorm, head and input width; each keeps its own activation
    and dropout rate (``activations``, ``dropouts``): runs of networks with one activation are applied
    as one slice of the stack (``segments``), so ordering networks by activation keeps the calls few.

    Built from trained-or-fresh models (their weights are copied in); :meth:`copy_into` writes each
    network's slice back. ``forward`` takes a shared batch ``(B, d)`` or one batch per network
    ``(k, B, d)`` and returns ``(k, B)`` logits (or values for the regression head).
    """

    def __init__(self, models: Sequence[DNN]):
        super().__init__()
        if not models:
            raise ValueError("stacking needs at least one network")
        spec, n_inputs = models[0].spec, models[0].n_inputs
        for i, m in enumerate(models):
            if type(m) is not DNN or _shape(m.spec) != _shape(spec) or m.n_inputs != n_inputs:
                raise ValueError(f"network {i} is not a DNN of the first one's shape and input width "
                                 f"({spec}, {n_inputs} inputs); stacked networks share layers, nodes, batch norm "
                                 "and head (activation and dropout may differ)")
        self.spec, self.n_inputs, self.k = spec, n_inputs, len(models)
        self.activations = [m.spec.activation for m in models]
        self.dropouts = [float(m.spec.dropout) for m in models]
        #: (start, stop, activation): runs of consecutive networks with one activation
        self.segments: list[tuple[int, int, str]] = []
        for i, a in enumerate(self.activations):
            if self.segments and self.segments[-1][2] == a:
                self.segments[-1] = (self.segments[-1][0], i + 1, a)
            else:
                self.segments.append((i, i + 1, a))

        def stack(get) -> nn.Parameter:
            return nn.Parameter(torch.stack([get(m).detach().float().cpu() for m in models]).contiguous())

        layers = [lambda m, j=j: m.blocks[j].linear for j in range(spec.n_layers)] + [lambda m: m.output]
        self.weights = nn.ParameterList([stack(lambda m, g=g: g(m).weight) for g in layers])
        self.biases = nn.ParameterList([stack(lambda m, g=g: g(m).bias) for g in layers])
        self.gammas = nn.ParameterList()
        self.betas = nn.ParameterList()
        if spec.batch_norm:
            for j in range(spec.n_layers):
                self.gammas.append(stack(lambda m, j=j: m.blocks[j].bn.weight))
                self.betas.append(stack(lambda m, j=j: m.blocks[j].bn.bias))
                for name in ("running_mean", "running_var"):
                    self.register_buffer(f"{name}{j}", torch.stack([_running(m, j, name) for m in models]))

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        """Each network's activation of ``h`` ``(k, B, n)`` (autograd-friendly: no in-place slices)."""
        if len(self.segments) == 1:
            return _ACT[self.segments[0][2]](h)
        return torch.cat([_ACT[a](h[lo:hi]) for lo, hi, a in self.segments])

    def copy_into(self, models: Sequence[DNN]) -> None:
        """Write network i's weights (and BatchNorm statistics) into ``models[i]``, in place."""
        with torch.no_grad():
            for i, m in enumerate(models):
                dev = next(m.parameters()).device
                for j, lin in enumerate([b.linear for b in m.blocks] + [m.output]):
                    lin.weight.copy_(self.weights[j][i].to(dev))
                    lin.bias.copy_(self.biases[j][i].to(dev))
                for j, b in enumerate(m.blocks):
                    if b.bn is not None:
                        b.bn.weight.copy_(self.gammas[j][i].to(dev))
                        b.bn.bias.copy_(self.betas[j][i].to(dev))
                        rm, rv = b.bn.running_mean, b.bn.running_var
                        assert rm is not None and rv is not None, "build_model's BatchNorm tracks running statistics"
                        rm.copy_(getattr(self, f"running_mean{j}")[i].to(dev))
                        rv.copy_(getattr(self, f"running_var{j}")[i].to(dev))

    def forward(self, x: torch.Tensor, *, rows: torch.Tensor | None = None, counts: torch.Tensor | None = None,
                shift: torch.Tensor | None = None, scale: torch.Tensor | None = None,
                masks: DropoutMasks | None = None) -> torch.Tensor:
        """Logits ``(k, B)`` of every network.

        ``x``: ``(B, d)`` (one batch for all) or ``(k, B, d)``. ``rows`` ``(k, B)`` float 0/1: which rows
        belong to which network (BatchNorm's batch statistics use only those; ``counts`` ``(k,)`` their
        sums); None: all. ``shift``/``scale`` ``(k, d)``: each network's standardiser, ``(x - shift) *
        scale``, folded into its first layer. ``masks``: this step's dropout masks (None: no dropout).
        In train mode BatchNorm uses batch statistics and updates its running ones; in eval mode it uses
        the running ones.
        """
        k, s = self.k, self.spec
        W, b = self.weights[0], self.biases[0]
        if scale is not None:
            assert shift is not None, "a standardiser is a shift and a scale"
            W = W * scale[:, None, :]
            b = b - torch.bmm(W, shift[:, :, None]).squeeze(-1)
        if x.dim() == 2:  # one wide matmul for every network's first layer
            h = torch.addmm(b.reshape(-1), x, W.reshape(-1, x.shape[1]).t())
            h = h.view(len(x), k, -1).transpose(0, 1)
        else:
            h = torch.baddbmm(b[:, None, :], x, W.transpose(1, 2))
        for j in range(s.n_layers):
            if j:
                h = torch.baddbmm(self.biases[j][:, None, :], h, self.weights[j].transpose(1, 2))
            h = self._act(h)
            if s.batch_norm:
                h = self._batch_norm(j, h, rows, counts)
            if masks is not None:
                h = masks.apply_autograd(j, h)
        out = torch.baddbmm(self.biases[-1][:, None, :], h, self.weights[-1].transpose(1, 2))
        return out.squeeze(-1)

    def can_fuse(self) -> bool:
        """Whether :meth:`fused` applies: an activation of ``nidslab.fused_step`` that needs only its
        output for the backward, float32 weights on the CPU (BatchNorm and dropout included)."""
        from nidslab.fused_step import ACTIVATION_KERNELS

        kernels = [ACTIVATION_KERNELS.get(a) for a in set(self.activations)]
        return (all(a is not None and not a.needs_input for a in kernels)
                and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in self.parameters()))

    @torch.no_grad()
    def fused(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, counts: torch.Tensor, *,
              rows: torch.Tensor | None = None, shift: torch.Tensor | None = None, scale: torch.Tensor | None = None,
              masks: DropoutMasks | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step's forward and hand-derived backward (as ``nidslab.fused_step`` for one
        network): fills every parameter's ``.grad`` with the gradient of ``sum_i(loss_i / counts_i)``
        and returns ``(loss_i * counts_i, logits)`` as ``(k,)`` and ``(k, B)``. ``w`` ``(k, B)``: per-row
        loss weights (class weight times membership) or None; ``rows`` ``(k, B)`` membership (BatchNorm's
        statistics over each network's own rows; None: all); other arguments as :meth:`forward`.

        BatchNorm (after the activation, as :class:`nidslab.model.Block`) is ``u = s * a + c`` with
        ``a = gamma * invstd``, ``c = beta - mean * a`` per network and column, and its backward is
        ``ds = rows * (du * a + s * kk + q)`` with ``nidslab.fused_step``'s per-column coefficients,
        computed over each network's own rows (``counts``)."""
        from nidslab.fused_step import ACTIVATION_KERNELS

        acts = [(lo, hi, ACTIVATION_KERNELS[a]) for lo, hi, a in self.segments]
        k, L = self.k, self.spec.n_layers
        W1, b1 = self.weights[0], self.biases[0]
        if scale is not None:
            assert shift is not None, "a standardiser is a shift and a scale"
            W1 = W1 * scale[:, None, :]
            b1 = b1 - torch.bmm(W1, shift[:, :, None]).squeeze(-1)
        B = x.shape[-2]
        if x.dim() == 2:
            z = torch.addmm(b1.reshape(-1), x, W1.reshape(-1, x.shape[1]).t()).view(B, k, -1).transpose(0, 1)
            z = z.contiguous()
        else:
            z = torch.baddbmm(b1[:, None, :], x, W1.transpose(1, 2))
        s_list, h_list, bns = [], [], []
        h = x
        for j in range(L):
            if j:
                z = torch.baddbmm(self.biases[j][:, None, :], h, self.weights[j].transpose(1, 2))
            for lo, hi, act in acts:  # in place: a leading-axis slice of z is a view
                act.forward(z[lo:hi], z[lo:hi])
            s = u = z
            if self.spec.batch_norm:
                u, stats = self._batch_norm_fused(j, s, rows, counts)
                bns.append(stats)
            h = masks.apply(j, u) if masks is not None else u
            s_list.append(s)
            h_list.append(h)
        out = torch.baddbmm(self.biases[-1][:, None, :], h, self.weights[-1].transpose(1, 2)).squeeze(-1)
        yy = y.expand_as(out)
        if self.spec.head == "binary":
            loss_rows = F.binary_cross_entropy_with_logits(out, yy, weight=w, reduction="none").sum(1)
            go = torch.sigmoid(out).sub_(yy)
        else:
            diff = out - yy
            loss_rows = (diff.square() * w if w is not None else diff.square()).sum(1)
            go = diff.mul_(2.0)
        if w is not None:
            go.mul_(w)
        go.div_(counts.clamp(min=1.0)[:, None])
        # backward, top down
        self.weights[-1].grad = torch.bmm(go[:, None, :], h_list[-1])
        self.biases[-1].grad = go.sum(1, keepdim=True)
        dh = go[:, :, None] * self.weights[-1]
        for j in range(L - 1, -1, -1):
            if masks is not None:
                masks.backward_(j, dh)
            if self.spec.batch_norm:
                dh = self._batch_norm_backward(j, dh, s_list[j], bns[j], rows, counts)
            for lo, hi, act in acts:
                act.backward(dh[lo:hi], s_list[j][lo:hi], s_list[j][lo:hi])
            dz = dh
            self.biases[j].grad = torch.bmm(_ones(dz), dz).squeeze(1)
            if j:
                self.weights[j].grad = torch.bmm(dz.transpose(1, 2), h_list[j - 1])
                dh = torch.bmm(dz, self.weights[j])
            else:
                xs = x.expand(k, -1, -1) if x.dim() == 2 else x
                dW = torch.bmm(dz.transpose(1, 2), xs)
                if scale is not None:  # through W1 * scale and b1 - (W1 * scale) @ shift
                    db1 = self.biases[0].grad
                    assert db1 is not None and shift is not None, "set above; a standardiser is a shift and a scale"
                    dW.sub_(db1[:, :, None] * shift[:, None, :]).mul_(scale[:, None, :])
                self.weights[0].grad = dW
        return loss_rows, out

    def _batch_norm_fused(self, j: int, s: torch.Tensor, rows: torch.Tensor | None,
                          counts: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Training-mode BatchNorm of layer j on ``s`` ``(k, B, n)`` without autograd: returns the output
        and ``(mean, invstd, a)`` ``(k, n)`` for :meth:`_batch_norm_backward`; updates the running statistics."""
        mean, var, n = _batch_stats(s, rows, counts)
        self._update_running(j, mean, var, n)
        invstd = torch.rsqrt(var + BN_EPS)
        a = self.gammas[j] * invstd
        c = self.betas[j] - mean * a
        return torch.addcmul(c[:, None, :], s, a[:, None, :]), (mean, invstd, a)

    def _batch_norm_backward(self, j: int, du: torch.Tensor, s: torch.Tensor, stats: tuple[torch.Tensor, ...],
                             rows: torch.Tensor | None, counts: torch.Tensor) -> torch.Tensor:
        """``dL/ds`` ``(k, B, n)`` from ``du = dL/du`` (in place in ``du``); fills gamma's and beta's grads."""
        mean, invstd, a = stats
        m = counts.clamp(min=1.0)[:, None]
        one = _ones(du)
        dbeta = torch.bmm(one, du).squeeze(1)
        dgamma = invstd * (torch.bmm(one, torch.mul(du, s)).squeeze(1) - mean * dbeta)
        self.gammas[j].grad, self.betas[j].grad = dgamma, dbeta
        kk = a * invstd * dgamma / -m
        q = a * dbeta / -m - kk * mean
        ds = du.mul_(a[:, None, :]).addcmul_(s, kk[:, None, :]).add_(q[:, None, :])
        return ds.mul_(rows[:, :, None]) if rows is not None else ds

    def _update_running(self, j: int, mean: torch.Tensor, var: torch.Tensor, n: torch.Tensor) -> None:
        """As nn.BatchNorm1d (momentum ``BN_MOMENTUM``): the running variance takes the unbiased batch
        variance; a network with no rows in the batch keeps its statistics."""
        momentum = BN_MOMENTUM
        rm, rv = getattr(self, f"running_mean{j}"), getattr(self, f"running_var{j}")
        with torch.no_grad():
            live = (n > 0)[:, None]
            unbiased = var * (n / (n - 1).clamp(min=1.0))[:, None]
            rm.copy_(torch.where(live, rm * (1 - momentum) + mean * momentum, rm))
            rv.copy_(torch.where(live, rv * (1 - momentum) + unbiased * momentum, rv))

    def _batch_norm(self, j: int, s: torch.Tensor, rows: torch.Tensor | None, counts: torch.Tensor | None) -> torch.Tensor:
        gamma, beta = self.gammas[j][:, None, :], self.betas[j][:, None, :]
        rm, rv = getattr(self, f"running_mean{j}"), getattr(self, f"running_var{j}")
        eps = BN_EPS
        if not self.training:
            return (s - rm[:, None, :]) * torch.rsqrt(rv[:, None, :] + eps) * gamma + beta
        mean, var, n = _batch_stats(s, rows, counts)
        self._update_running(j, mean.detach(), var.detach(), n)
        return (s - mean[:, None, :]) * torch.rsqrt(var[:, None, :] + eps) * gamma + beta


def _batch_stats(s: torch.Tensor, rows: torch.Tensor | None,
                 counts: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BatchNorm's batch mean and (biased) variance ``(k, n)`` of ``s`` ``(k, B, n)`` over each network's own
    rows (``rows`` ``(k, B)`` 0/1, ``counts`` their sums; None: all rows), and the row counts ``(k,)``. The
    sums are (1, B) @ (B, n) matmuls: torch's ``var_mean`` over the middle axis took 50x as long."""
    if rows is None:
        r, n = _ones(s), torch.full((len(s),), float(s.shape[1]), device=s.device)
    else:
        assert counts is not None, "rows come with their counts"
        r, n = rows[:, None, :], counts
    cnt = n.clamp(min=1.0)[:, None]
    mean = torch.bmm(r, s).squeeze(1) / cnt
    var = torch.bmm(r, (s - mean[:, None, :]).square()).squeeze(1) / cnt
    return mean, var, n


def _ones(t: torch.Tensor) -> torch.Tensor:
    """``(k, 1, B)`` ones for column sums of ``t`` ``(k, B, n)`` as one batched matmul (2.4x faster on the
    CPU than ``t.sum(1)``, a reduction over the middle axis)."""
    return torch.ones(1, 1, t.shape[1], dtype=t.dtype, device=t.device).expand(t.shape[0], 1, t.shape[1])


class _StackedAdam:
    """Adam/AdamW over stacked tensors with one step count per network, as torch's Adam computes it
    (``make_optimizer``'s settings: betas (0.9, 0.999), eps 1e-7, AdamW weight decay 0.004)."""

    def __init__(self, params: list[nn.Parameter], k: int, like: torch.optim.Optimizer, lrs: torch.Tensor,
                 mine: torch.Tensor | None = None):
        g = like.param_groups[0]
        self.params, self.k = params, k
        #: ``(k,)`` bool: the networks this optimiser steps (the others train with SGD in the same stack)
        self.mine = torch.ones(k, dtype=torch.bool) if mine is None else mine
        self.lr, self.eps, self.wd = lrs, g["eps"], g["weight_decay"] if isinstance(like, torch.optim.AdamW) else 0.0
        self.b1, self.b2 = g["betas"]
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.steps = torch.zeros(k, dtype=torch.float64)

    def step(self, active: list[int] | None) -> None:
        live = torch.ones(self.k, dtype=torch.bool) if active is None else torch.zeros(self.k, dtype=torch.bool)
        if active is not None:
            live[active] = True
        live &= self.mine
        self.steps += live.double()
        bc1 = (1 - self.b1 ** self.steps).clamp(min=1e-300)
        bc2_sqrt = (1 - self.b2 ** self.steps).clamp(min=1e-300).sqrt()
        step_size = (self.lr / bc1).float()
        for p, m, v in zip(self.params, self.m, self.v):
            shape = (self.k,) + (1,) * (p.dim() - 1)
            dev = p.device
            on = live.to(dev).view(shape)
            g = p.grad
            assert g is not None, "the step filled every gradient"
            if self.wd:
                p.mul_(torch.where(on, (1 - self.lr * self.wd).float().to(dev).view(shape), 1.0))
            m.copy_(torch.where(on, m.lerp(g, 1 - self.b1), m))
            v.copy_(torch.where(on, v * self.b2 + (1 - self.b2) * g * g, v))
            denom = (v.sqrt() / bc2_sqrt.float().to(dev).view(shape)).add_(self.eps)
            p.sub_(torch.where(on, step_size.to(dev).view(shape) * m / denom, 0.0))


def _same_schedule(configs: Sequence[FitConfig]) -> FitConfig:
    """The networks' common settings; ``seed``, ``class_weight`` and (except with RMSprop) ``lr`` may differ
    between them, and ``optimizer`` between SGD and one of Adam or AdamW."""
    c0 = configs[0]
    adaptive = {c.optimizer for c in configs} - {"sgd"}
    if "rmsprop" in adaptive and len({c.optimizer for c in configs}) > 1 or len(adaptive) > 1:
        raise ValueError(f"stacked networks share an optimizer, or mix SGD with one of Adam and AdamW; got "
                         f"{', '.join(sorted({c.optimizer for c in configs}))}")
    for i, c in enumerate(configs):
        shared = ("batch_size", "epochs", "device", "threads") + (("lr",) if c0.optimizer == "rmsprop" else ())
        for name in shared:
            if getattr(c, name) != getattr(c0, name):
                raise ValueError(f"stacked networks share {name}: network {i} has {getattr(c, name)!r}, "
                                 f"network 0 {getattr(c0, name)!r} (only seed, class_weight, optimizer and, "
                                 "except with RMSprop, lr may differ)")
        if c.early_stopping is not None:
            raise ValueError("stacked training has no early stopping; train that network with nidslab.train.fit")
    return c0


def _configs(config: FitConfig | Sequence[FitConfig], k: int) -> list[FitConfig]:
    configs = [config] * k if isinstance(config, FitConfig) else list(config)
    if len(configs) != k:
        raise ValueError(f"{k} networks need {k} configs, got {len(configs)}")
    return configs


class _Trainer:
    """What both ways share: the stacked model, its optimiser, per-network class weights and metrics."""

    def __init__(self, models: Sequence[DNN], configs: list[FitConfig], train_labels: Sequence[np.ndarray]):
        self.models, self.configs = list(models), configs
        self.cfg = _same_schedule(configs)
        self.k = len(models)
        self.dev = resolve_device(self.cfg.device)
        if self.dev.type == "cpu":
            _tune_malloc()
        self.head = models[0].spec.head
        self.net = StackedDNN(models).to(self.dev).train()
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        names = [c.optimizer for c in configs]
        self.optimizer = next((o for o in names if o != "sgd"), "sgd")  # the one besides SGD, if any
        self.opt = make_optimizer(self.optimizer, self.params, self.cfg.lr)
        self.lrs = torch.tensor([c.lr for c in configs], dtype=torch.float64)
        sgd = torch.tensor([o == "sgd" for o in names])
        #: SGD's learning rate per network, 0 for the networks another optimiser steps
        self.sgd_lrs = torch.where(sgd, self.lrs, 0.0) if bool(sgd.any()) else None
        self.sgd_only = bool(sgd.all())
        # Adam's bias correction counts each network's own steps (a network may sit out a step)
        self.adam = (_StackedAdam(self.params, self.k, self.opt, self.lrs, mine=~sgd)
                     if self.optimizer in ("adam", "adamw") else None)
        seen: dict[tuple[int, str], Any] = {}  # the same labels and setting: weighed once (sklearn's np.unique)
        cws = []
        for c, yk in zip(configs, train_labels):
            key = (id(yk), repr(c.class_weight))
            if self.head == "binary" and key not in seen:
                seen[key] = c.class_weights(yk)
            cws.append(seen.get(key))
        if self.head != "binary" and any(c.class_weight is not None for c in configs):
            raise ValueError("class_weight applies to the binary head only")
        self.weighted = any(cw is not None for cw in cws)
        self.w0 = torch.tensor([cw[0] if cw else 1.0 for cw in cws], device=self.dev)[:, None]
        self.w1 = torch.tensor([cw[1] if cw else 1.0 for cw in cws], device=self.dev)[:, None]
        self.histories = [History() for _ in models]
        self.ps = [float(m.spec.dropout) for m in models]
        self._mask_buffers: list[torch.Tensor] | None = None
        #: the hand-derived step (``StackedDNN.fused``) where it applies; ``step="autograd"`` forces autograd
        self.fuse = self.cfg.step != "autograd" and self.net.can_fuse()

    def masks(self, rngs: list[np.random.Generator], shapes: list[tuple[int, int]], B: int) -> DropoutMasks | None:
        """Each network's dropout masks of this step, drawn in its own generator's order (as ``fit``); None
        when no network has dropout. The masks live in buffers kept across steps: only the rows of the
        networks with dropout are redrawn (the others in the range stay ones)."""
        drop = [i for i, p in enumerate(self.ps) if p]
        if not drop:
            return None
        lo, hi, n = drop[0], drop[-1] + 1, self.net.spec.n_nodes
        if self._mask_buffers is None or self._mask_buffers[0].shape[1] < B:
            self._mask_buffers = [torch.ones(hi - lo, B, n, device=self.dev) for _ in range(self.net.spec.n_layers)]
        layers = [buf[:, :B] for buf in self._mask_buffers]
        for m in layers:
            for i in drop:
                rows = shapes[i][0]
                if rows:
                    m[i - lo, :rows] = dropout_mask(shapes[i], self.ps[i], rngs[i]).to(self.dev)
                if rows < B:  # padding rows of a short batch: no weight in the loss; zero as they were
                    m[i - lo, rows:] = 0.0
        return DropoutMasks(lo, hi, layers)

    def step(self, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None, counts: torch.Tensor,
             active: list[int] | None, **forward: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss of every network (``sum(w_i * loss_i) / its rows`` as ``fit``), backward, one
        optimiser step. ``active``: the networks that have rows in this step (None: all); the others stay
        as they are. ``forward``: :meth:`StackedDNN.forward`'s keywords. Returns each network's
        (loss * rows, hits) as ``(k,)`` tensors."""
        w = None
        if self.head == "binary" and self.weighted:
            w = torch.where(y > 0.5, self.w1, self.w0)
        if rows is not None:
            w = rows if w is None else w * rows
        if self.fuse:
            loss_rows, out = self.net.fused(x, y, w, counts, rows=rows, shift=forward.get("shift"),
                                            scale=forward.get("scale"), masks=forward.get("masks"))
        else:
            out = self.net(x, rows=rows, counts=counts, **forward)
            yy = y.expand_as(out)
            if self.head == "binary":
                per_row = F.binary_cross_entropy_with_logits(out, yy, weight=w, reduction="none")
            else:
                per_row = F.mse_loss(out, yy, reduction="none")
                if w is not None:
                    per_row = per_row * w
            loss_rows = per_row.sum(1)
            loss = (loss_rows / counts.clamp(min=1.0)).sum()
            for p in self.params:
                p.grad = None
            loss.backward()
        with torch.no_grad():
            if self.sgd_only and bool((self.lrs == self.lrs[0]).all()):
                # a zero gradient leaves an idle network as it is
                grads = [p.grad for p in self.params]
                assert all(g is not None for g in grads), "the step filled every gradient"
                torch._foreach_add_(list[torch.Tensor](self.params), cast(list[torch.Tensor], grads), alpha=-self.cfg.lr)
            elif self.sgd_lrs is not None:  # one learning rate per network (0: another optimiser's network)
                for p in self.params:
                    lr = self.sgd_lrs.to(p.device, torch.float32).view((self.k,) + (1,) * (p.dim() - 1))
                    assert p.grad is not None, "the step filled every gradient"
                    p.sub_(p.grad * lr)
            if self.adam is not None:
                self.adam.step(active)
            elif not self.sgd_only:  # RMSprop moves even on a zero gradient: put idle networks back
                idle = [] if active is None else [i for i in range(self.k) if i not in set(active)]
                keep = [(t, t[idle].clone()) for p in self.params for t in [p, *self.opt.state.get(p, {}).values()]
                        if idle and isinstance(t, torch.Tensor) and t.dim() and len(t) == self.k]
                self.opt.step()
                for t, saved in keep:
                    t[idle] = saved
        with torch.no_grad():
            hits = torch.zeros(self.k, device=self.dev)
            if self.head == "binary":
                ok = torch.eq(out.detach() > 0, y > 0.5).float()
                hits = (ok * rows).sum(1) if rows is not None else ok.sum(1)
        return loss_rows.detach(), hits

    @torch.inference_mode()
    def validate(self, validations: Sequence[tuple[torch.Tensor, torch.Tensor] | None]) -> None:
        """Each network's val_loss and val_accuracy (eval mode, no class weights) into its History."""
        self.net.eval()
        first = validations[0]
        shared = first is not None and all(v is not None and v[0] is first[0] for v in validations)
        losses, accs = [0.0] * self.k, [0.0] * self.k
        if shared and first is not None:
            Xv, yv = first
            ls = torch.zeros(self.k, dtype=torch.float64, device=self.dev)
            hit = torch.zeros(self.k, dtype=torch.int64, device=self.dev)
            for s0 in range(0, len(yv), EVAL_BATCH):
                o, t = self.net(Xv[s0:s0 + EVAL_BATCH]), yv[s0:s0 + EVAL_BATCH]
                ls += self._loss_sum(o, t)
                hit += ((o > 0) == (t > 0.5)).sum(1)
            losses = (ls / max(1, len(yv))).tolist()
            accs = (hit.double() / max(1, len(yv))).tolist()
        else:
            for i, v in enumerate(validations):
                if v is None:
                    continue
                Xv, yv = v
                loss_i, hits_i = 0.0, 0
                for s0 in range(0, len(yv), EVAL_BATCH):
                    xb = Xv[s0:s0 + EVAL_BATCH].expand(self.k, -1, -1)
                    o, t = self.net(xb)[i:i + 1], yv[s0:s0 + EVAL_BATCH]
                    loss_i += float(self._loss_sum(o, t)[0])
                    hits_i += int(((o > 0) == (t > 0.5)).sum())
                losses[i], accs[i] = loss_i / max(1, len(yv)), hits_i / max(1, len(yv))
        for i, v in enumerate(validations):
            if v is not None:
                self.histories[i].val_loss.append(losses[i])
                if self.head == "binary":
                    self.histories[i].val_accuracy.append(accs[i])
        self.net.train()

    def _loss_sum(self, o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.expand_as(o)
        per = (F.binary_cross_entropy_with_logits(o, t, reduction="none") if self.head == "binary"
               else F.mse_loss(o, t, reduction="none"))
        return per.double().sum(1)

    def end_epoch(self, loss_sum: torch.Tensor, hits: torch.Tensor, rows: Sequence[int], seconds: float) -> None:
        for i, h in enumerate(self.histories):
            n = max(1, int(rows[i]))
            h.loss.append(float(loss_sum[i]) / n)
            if self.head == "binary":
                h.accuracy.append(float(hits[i]) / n)
            h.epoch_seconds.append(seconds)

    def finish(self) -> list[History]:
        self.net.copy_into(self.models)
        return self.histories


def _tensor_pair(pair: Arrays, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(pair[0]).to(dev), torch.from_numpy(pair[1].astype(np.float32, copy=False)).to(dev)


def _validation_tensors(vals: list, head: str, dev: torch.device) -> list:
    """Each network's validation pair as tensors; the same arrays passed twice become the same tensors
    (checked and copied once), which :meth:`_Trainer.validate` scores in one pass."""
    cache: dict[int, tuple] = {}
    out = []
    for i, v in enumerate(vals):
        if v is not None and id(v[0]) not in cache:
            cache[id(v[0])] = _tensor_pair(_check_arrays(v, head, f"validation[{i}]"), dev)
        out.append(None if v is None else cache[id(v[0])])
    return out


def fit_stacked(models: Sequence[DNN], trains: Sequence[Arrays], validations: Sequence[Arrays | None] | None = None,
                config: FitConfig | Sequence[FitConfig] = FitConfig(), *,
                callback: StackedCallback | None = None) -> list[History]:
    """Train ``models`` (k :class:`DNN` s of one spec) side by side, each on its own batches; return
    their :class:`History` s. The models are trained in place, as :func:`nidslab.train.fit` does.

    ``trains[i] = (X_i, y_i)``: network i's standardised rows ``(n_i, d)`` float32 and labels ``(n_i,)``;
    ``validations[i]`` its validation pair or None (pass the very same arrays to every network to score
    them in one pass). ``config``: one :class:`FitConfig` or one per network; they may differ in
    ``seed`` (the shuffle and dropout masks of network i are ``fit``'s for ``configs[i].seed``; the
    initial weights are the models' own) and ``class_weight``, and must agree on the rest.
    Equal to calling ``fit(models[i], trains[i], validations[i], configs[i])`` for each i, to float
    rounding: each network draws its own shuffle and gathers its own ``batch_size`` rows per step. When
    row counts differ, a network's short or missing last batch is padded with rows that weigh 0 and
    leave it unchanged. ``callback(epoch, histories)`` after each epoch.
    """
    k = len(models)
    configs = _configs(config, k)
    if len(trains) != k:
        raise ValueError(f"{k} networks need {k} training sets, got {len(trains)}")
    vals = list(validations) if validations is not None else [None] * k
    if len(vals) != k:
        raise ValueError(f"{k} networks need {k} validation sets (or None), got {len(vals)}")
    head = models[0].spec.head if k else "binary"
    seen: dict[tuple[int, int], Arrays] = {}  # the same arrays for several networks: checked once
    checked = []
    for i, t in enumerate(trains):
        key = (id(t[0]), id(t[1]))
        if key not in seen:
            seen[key] = _check_arrays(t, head, f"train[{i}]")
        checked.append(seen[key])
    T = _Trainer(models, configs, [c[1] for c in checked])
    cfg, dev = T.cfg, T.dev
    d = models[0].n_inputs
    for i, (X, _) in enumerate(checked):
        if X.shape[1] != d:
            raise ValueError(f"train[{i}] has {X.shape[1]} columns, the networks take {d}")
    with torch_threads(cfg.threads):
        tensors: dict[int, tuple] = {}
        for c in checked:
            if id(c) not in tensors:
                tensors[id(c)] = _tensor_pair(c, dev)
        data = [tensors[id(c)] for c in checked]
        val_t = _validation_tensors(vals, head, dev)
        ns = [len(y) for _, y in data]
        B = min(cfg.batch_size, max(ns))
        steps = [math.ceil(n / cfg.batch_size) for n in ns]
        for h, s in zip(T.histories, steps):
            h.updates_per_epoch = s
        xb = torch.zeros(k, B, d, device=dev)
        yb = torch.zeros(k, B, device=dev)
        rows = torch.zeros(k, B, device=dev)
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            seeds = [epoch_seed(c.seed, epoch) for c in configs]
            perms = [torch.randperm(n, generator=torch.Generator().manual_seed(s)).to(dev) for n, s in zip(ns, seeds)]
            rngs = [np.random.Generator(np.random.PCG64(s ^ 0x5EED)) for s in seeds]
            loss_sum = torch.zeros(k, device=dev)
            hits = torch.zeros(k, device=dev)
            for j in range(max(steps)):
                idx = [p[j * cfg.batch_size:(j + 1) * cfg.batch_size] for p in perms]
                ms = [len(ix) for ix in idx]
                m = max(ms)
                ragged = min(ms) != m
                for i, ix in enumerate(idx):
                    if ms[i]:
                        torch.index_select(data[i][0], 0, ix, out=xb[i, :ms[i]])
                        torch.index_select(data[i][1], 0, ix, out=yb[i, :ms[i]])
                counts = torch.tensor(ms, dtype=torch.float32, device=dev)
                r = None
                if ragged:
                    rows.zero_()
                    for i, mi in enumerate(ms):
                        rows[i, :mi] = 1.0
                    r = rows[:, :m]
                masks = T.masks(rngs, [(mi, models[0].spec.n_nodes) for mi in ms], m)
                active = [i for i, mi in enumerate(ms) if mi] if ragged else None
                ls, hs = T.step(xb[:, :m], yb[:, :m], r, counts, active, masks=masks)
                loss_sum += ls
                hits += hs
            if any(v is not None for v in val_t):
                T.validate(val_t)
            T.end_epoch(loss_sum, hits, ns, time.perf_counter() - t0)
            if callback is not None:
                callback(epoch + 1, T.histories)
        return T.finish()


def fit_shared(models: Sequence[DNN], X: np.ndarray, y: np.ndarray, members: np.ndarray,
               config: FitConfig | Sequence[FitConfig] = FitConfig(), *,
               standardizers: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
               validations: Sequence[Arrays | None] | None = None, shuffle_seed: int | None = None,
               callback: StackedCallback | None = None) -> list[History]:
    """Train ``models`` side by side on one table with shared batches; return their History s.

    ``X`` ``(n, d)`` float32, ``y`` ``(n,)``; ``members`` ``(k, n)`` bool: the rows network i trains on
    (for cross-validation, every row but its fold's). Each epoch draws one shuffle of all n rows (seeded
    by ``shuffle_seed``, default ``configs[0].seed``, and the epoch) and cuts it into batches of
    ``round(batch_size * n / mean(rows per network))`` rows, so each network sees about ``batch_size`` of
    its own rows per step. Network i's batch loss is ``sum(member * w * loss) / its rows in the batch``;
    BatchNorm's batch statistics use its rows only; so a row outside ``members[i]`` moves none of
    network i's weights. ``standardizers[i] = (mean, scale)`` ``(d,)``: network i sees ``(X - mean) /
    scale``, folded into its first layer (pass X roughly centred, e.g. standardised once over all rows,
    so the fold stays well conditioned in float32); None: X as it is. ``validations[i]``: network i's
    validation pair in the scale it sees (its standardiser applied; the same arrays for every
    network are scored in one pass) or None. Dropout masks come from each network's seed.
    Not equal bit for bit to :func:`fit_stacked` (other batches); the test accuracies agree
    within the folds' spread (``benchmarks/bench_train.py --cv``).
    """
    k = len(models)
    configs = _configs(config, k)
    head = models[0].spec.head if k else "binary"
    X, y = _check_arrays((X, y), head, "X")
    members = np.asarray(members, dtype=bool)
    if members.shape != (k, len(y)):
        raise ValueError(f"members must have shape ({k}, {len(y)}) (networks, rows), got {members.shape}")
    ns = members.sum(1)
    if (ns == 0).any():
        raise ValueError(f"network {int(np.flatnonzero(ns == 0)[0])} has no training rows in members")
    T = _Trainer(models, configs, [y] * k if members.all() else [y[mk] for mk in members])
    cfg, dev = T.cfg, T.dev
    with torch_threads(cfg.threads):
        n, d = X.shape
        X_t, y_t = _tensor_pair((X, y), dev)
        everyone = bool(members.all())  # every network trains on every row (e.g. seeds): no membership masks
        # membership as one int64 bit field per row (k <= 63): one 8-byte gather per row instead of k floats
        # (gathering (n, k) float rows cost 9% of a 10-fold CV epoch); more networks: the (n, k) floats
        packed = k <= 63
        mem_t = None if everyone else torch.from_numpy(_membership_bits(members) if packed
                                                       else members.T.astype(np.float32)).to(dev)
        bit = torch.arange(k, dtype=torch.int64, device=dev)[:, None]
        shift = scale = None
        if standardizers is not None:
            if len(standardizers) != k:
                raise ValueError(f"{k} networks need {k} standardisers, got {len(standardizers)}")
            shift = torch.tensor(np.stack([np.asarray(s[0], np.float64) for s in standardizers]), dtype=torch.float32, device=dev)
            scale = torch.tensor(1.0 / np.stack([np.asarray(s[1], np.float64) for s in standardizers]),
                                 dtype=torch.float32, device=dev)
        vals = list(validations) if validations is not None else [None] * k
        if len(vals) != k:
            raise ValueError(f"{k} networks need {k} validation sets (or None), got {len(vals)}")
        val_t = _validation_tensors(vals, head, dev)
        B = min(n, max(1, round(cfg.batch_size * n / float(ns.mean()))))
        for h in T.histories:
            h.updates_per_epoch = math.ceil(n / B)
        xb = torch.empty(B, d, device=dev)
        yb = torch.empty(B, device=dev)
        rb = None if everyone else torch.empty((B,) if packed else (B, k), dtype=mem_t.dtype if mem_t is not None
                                               else torch.float32, device=dev)
        base_seed = configs[0].seed if shuffle_seed is None else int(shuffle_seed)
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            g = torch.Generator().manual_seed(epoch_seed(base_seed, epoch))
            perm = torch.randperm(n, generator=g).to(dev)
            rngs = [np.random.Generator(np.random.PCG64(epoch_seed(c.seed, epoch) ^ 0x5EED)) for c in configs]
            loss_sum = torch.zeros(k, device=dev)
            hits = torch.zeros(k, device=dev)
            for start in range(0, n, B):
                idx = perm[start:start + B]
                m = len(idx)
                torch.index_select(X_t, 0, idx, out=xb[:m])
                torch.index_select(y_t, 0, idx, out=yb[:m])
                if mem_t is None or rb is None:
                    rows, counts = None, torch.full((k,), float(m), device=dev)
                else:
                    torch.index_select(mem_t, 0, idx, out=rb[:m])
                    rows = rb[:m].bitwise_right_shift(bit).bitwise_and_(1).float() if packed else rb[:m].t()  # (k, m)
                    counts = rows.sum(1)
                masks = T.masks(rngs, [(m, models[0].spec.n_nodes)] * k, m)
                ls, hs = T.step(xb[:m], yb[:m], rows, counts, None, shift=shift, scale=scale, masks=masks)
                loss_sum += ls
                hits += hs
            if any(v is not None for v in val_t):
                T.validate(val_t)
            T.end_epoch(loss_sum, hits, ns.tolist(), time.perf_counter() - t0)
            if callback is not None:
                callback(epoch + 1, T.histories)
        return T.finish()  # the first layers stay those of standardised inputs, as each network saw them


# ----------------------------------------------------------------------------- what the study calls


MODES = ("shared", "own", "single")


def cross_validate(X: np.ndarray, y: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]], spec: ModelSpec,
                   config: FitConfig = FitConfig(), *, mode: str = "shared", seed: int | None = None,
                   progress: Progress | None = None) -> list[dict[str, Any]]:
    """k-fold cross-validation of one network spec, the folds trained side by side.

    ``X`` ``(n, d)`` raw (unstandardised) features, ``y`` ``(n,)`` 0/1; ``splits``: the folds' ``(train,
    test)`` row positions (``nidslab.data.prep.kfold`` / ``blocked_kfold``). Per fold, as the study's
    fold task: a standardiser fitted on the fold's training rows (float64 mean and scale, as
    ``Standardizer``), class weights from its training labels (``config.class_weight``), a fresh
    network seeded ``seed`` (default ``config.seed``), trained without validation, then scored on the
    fold's test rows by :func:`nidslab.evaluate.evaluate`.
    ``mode``: ``"shared"`` (:func:`fit_shared`: one gather per step for all folds; the folds' standardisers
    folded into their first layers over X standardised once), ``"own"`` (:func:`fit_stacked`: each fold
    its own batches; equal to one-by-one training to float rounding) or ``"single"`` (one ``fit`` per
    fold, the reference). ``progress(done, total, message)`` per epoch.

    Returns one dict per fold, in fold order: ``fold``, ``rows_train``, ``rows_test``, ``history``
    (:meth:`History.to_dict`), ``updates_per_epoch``, ``train_seconds`` (the stacked run's wall time
    divided by the number of folds, except in ``"single"`` mode), ``test`` (evaluate's dict:
    ``accuracy``, ``balanced_accuracy``, ``roc_auc``, ``confusion_matrix``, ...) -- so
    ``[r["test"]["accuracy"] for r in results]`` is what the study's fold tasks give today.
    """
    from nidslab.data.prep import Standardizer
    from nidslab.evaluate import evaluate
    from nidslab.train import fit

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    X = np.asarray(X)
    y = np.asarray(y)
    splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splits]
    k = len(splits)
    if k < 1:
        raise ValueError("cross_validate needs at least one fold")
    seed = config.seed if seed is None else int(seed)
    cfg = config.replace(seed=seed)
    n_inputs = X.shape[1]
    models = [build_model(spec, n_inputs, seed=seed) for _ in range(k)]
    done = [0]
    total = cfg.epochs * (k if mode == "single" else 1)

    def tick(*_: Any) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, f"epoch {done[0]}/{total}")

    start = time.perf_counter()
    tests: list[tuple[np.ndarray, np.ndarray]] = []
    seconds: list[float] = []
    if mode == "shared":
        glob = Standardizer().fit(X)
        Xg = glob.transform(X)  # once, over all rows; each fold's own standardiser is then a small correction
        stds, members = [], np.zeros((k, len(y)), dtype=bool)
        all_rows = _column_moments(Xg)
        for i, (tr, te) in enumerate(splits):
            held = Xg[te]
            if _complement(tr, te, len(y)):  # the fold's moments: all rows' minus its held-out rows'
                mean, scale = _standardiser_of(all_rows, _column_moments(held), len(tr))
            else:
                s = Standardizer().fit(Xg[tr])
                assert s.mean_ is not None and s.scale_ is not None, "fitted"
                mean, scale = s.mean_, s.scale_
            stds.append((mean, scale))
            members[i, tr] = True
            tests.append((((held.astype(np.float64) - mean) / scale).astype(np.float32), y[te]))
        histories = fit_shared(models, Xg, y, members, cfg, standardizers=stds, callback=tick)
        seconds = [(time.perf_counter() - start) / k] * k
    elif mode == "own":
        trains = []
        for tr, te in splits:
            s = Standardizer().fit(X[tr])
            trains.append((s.transform(X[tr]), y[tr]))
            tests.append((s.transform(X[te]), y[te]))
        histories = fit_stacked(models, trains, None, cfg, callback=tick)
        seconds = [(time.perf_counter() - start) / k] * k
    else:  # one fold at a time, as the study's fold tasks: one fold's standardised copy in memory at once
        histories = []
        for model, (tr, te) in zip(models, splits):
            s = Standardizer().fit(X[tr])
            train = (s.transform(X[tr]), y[tr])
            t0 = time.perf_counter()
            histories.append(fit(model, train, None, cfg, callback=tick))
            seconds.append(time.perf_counter() - t0)
            tests.append((s.transform(X[te]), y[te]))
    results = []
    with torch_threads(cfg.threads):
        for i, ((tr, te), model, h, test) in enumerate(zip(splits, models, histories, tests)):
            results.append({"fold": i, "rows_train": len(tr), "rows_test": len(te), "history": h.to_dict(),
                            "updates_per_epoch": h.updates_per_epoch, "train_seconds": seconds[i],
                            "test": evaluate(model, *test)})
    return results


def _membership_bits(members: np.ndarray) -> np.ndarray:
    """``members`` ``(k, n)`` bool as ``(n,)`` int64: bit i of row r set when network i trains on row r."""
    k = len(members)
    assert k <= 63, "an int64 holds 63 membership bits (and a sign)"
    bits = np.zeros(members.shape[1], dtype=np.int64)
    for i in range(k):
        bits |= members[i].astype(np.int64) << i
    return bits


def _column_moments(X: np.ndarray, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Per-column sums of ``X`` and of its squares ``(d,)`` float64, in row chunks (no float64 copy of all)."""
    s1 = np.zeros(X.shape[1], dtype=np.float64)
    s2 = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, len(X), chunk):
        c = X[start:start + chunk].astype(np.float64)
        s1 += c.sum(0)
        s2 += np.einsum("ij,ij->j", c, c)
    return s1, s2


def _complement(tr: np.ndarray, te: np.ndarray, n: int) -> bool:
    """Whether ``tr`` and ``te`` split the ``n`` rows between them (each row in exactly one)."""
    if len(tr) + len(te) != n:
        return False
    seen = np.zeros(n, dtype=np.int8)
    seen[tr] += 1
    seen[te] += 1
    return bool((seen == 1).all())


def _standardiser_of(total: tuple[np.ndarray, np.ndarray], held: tuple[np.ndarray, np.ndarray],
                     n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the rows ``total`` minus ``held`` (``n`` of them) from their column moments, as
    :class:`nidslab.data.prep.Standardizer` fits them (population sd; 1 for a constant column). On
    columns already standardised over all rows (mean ~0, sd ~1) the moments lose nothing to cancellation."""
    mean = (total[0] - held[0]) / n
    var = np.maximum((total[1] - held[1]) / n - mean * mean, 0.0)
    scale = np.sqrt(var)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # StandardScaler's rule for constant columns
    return mean, scale


def fit_seeds(spec: ModelSpec, train: Arrays, validation: Arrays | None, config: FitConfig, seeds: Sequence[int], *,
              mode: str = "own", callback: StackedCallback | None = None) -> list[tuple[DNN, History]]:
    """One spec trained from each of ``seeds`` on the same standardised ``train`` (and ``validation``).

    Network i is ``build_model(spec, d, seed=seeds[i])`` trained with ``config.replace(seed=seeds[i])``.
    ``mode="own"`` (:func:`fit_stacked`): each seed draws its own shuffle, so the result equals one ``fit``
    per seed to float rounding; ``"shared"`` (:func:`fit_shared`): one shuffle (of ``seeds[0]``) for all,
    the seeds differing only in initial weights and dropout masks (faster, less independent);
    ``"single"``: one ``fit`` per seed. Returns ``[(model, history)]`` in seed order.
    """
    from nidslab.train import fit

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    d = np.asarray(train[0]).shape[1]
    models = [build_model(spec, d, seed=int(s)) for s in seeds]
    configs = [config.replace(seed=int(s)) for s in seeds]
    if mode == "single":
        return [(m, fit(m, train, validation, c)) for m, c in zip(models, configs)]
    vals = [validation] * len(models)
    if mode == "own":
        hs = fit_stacked(models, [train] * len(models), vals, configs, callback=callback)
    else:
        members = np.ones((len(models), len(train[1])), dtype=bool)
        hs = fit_shared(models, train[0], train[1], members, configs, validations=vals, callback=callback)
    return list(zip(models, hs))


__all__ = ["StackedDNN", "fit_stacked", "fit_shared", "cross_validate", "fit_seeds", "MODES", "StackedCallback"]
