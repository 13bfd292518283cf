"""The training loop: Keras's ``model.fit`` for a :class:`nidslab.model.DNN`, faster.

Read top to bottom: :func:`fit` puts the arrays on the device once, then per epoch draws a
permutation, gathers each batch with ``index_select`` into a reused buffer, computes the gradients
(on the CPU with :class:`nidslab.fused_step.FusedStep`, a hand-derived backward pass in buffers
allocated once; elsewhere with autograd), takes one optimiser step (plain SGD as a single foreach
update, Adam/AdamW as torch's fused kernel), and keeps the running loss and accuracy on the device
(no per-step ``.item()`` sync).
Validation runs under ``torch.inference_mode`` in large batches. After every epoch the state is
checkpointed atomically, so a killed run resumes (``resume=True``) to the same weights, bit for
bit on CPU: each epoch's randomness (shuffle and dropout) comes from a seed derived from
``(seed, epoch)``, not from state carried across epochs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nidslab import fused_step
from nidslab.model import EVAL_BATCH, seed_dropout
from nidslab.settings import OPTIMIZERS, FitConfig, balanced_class_weight
from nidslab.threads import torch_threads

#: what ``fit`` calls after each epoch: ``callback(epoch, logs)``, epoch 1-based, logs that epoch's metrics
EpochCallback = Callable[[int, dict], None]
CHECKPOINT = "checkpoint.pt"


@dataclass
class History:
    """Per-epoch metrics of a :func:`fit` run, as Keras's ``history.history``.

    ``loss``/``accuracy`` are means over the epoch's batches (weighted by batch size; the loss
    includes class weights, as Keras reports it), ``val_*`` are measured after the epoch on the
    validation set without class weights. ``accuracy`` lists stay empty for a regression head.
    ``epoch_seconds`` is the wall time of each epoch including its validation pass.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    updates_per_epoch: int = 0
    best_epoch: int | None = None      # 1-based epoch of the lowest val_loss when early stopping
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}})

    @property
    def epochs(self) -> int:
        return len(self.loss)


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """The optimiser ``name`` with Keras's defaults: SGD without momentum, epsilon 1e-7
    (Adam, AdamW, RMSprop), RMSprop rho 0.9, AdamW weight decay 0.004 as Keras's ``AdamW``.

    Adam and AdamW use torch's fused kernel (one call per step instead of a dozen small ops per
    tensor: about 5x less optimiser time per step at batch 100 on the CPU), RMSprop the foreach one.
    Caveat for comparisons: Keras adds epsilon to ``sqrt(v)`` before bias correction, torch after;
    with eps 1e-7 the two differ only for gradients near 1e-7.
    """
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.0)
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        kw: dict[str, Any] = {} if name == "adam" else {"weight_decay": 0.004}
        try:
            return cls(params, lr=lr, eps=1e-7, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):  # a device or dtype without the fused kernel
            return cls(params, lr=lr, eps=1e-7, foreach=True, **kw)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, foreach=True)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when present, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from nidslab.errors import ConfigError

        raise ConfigError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu "
                          "or auto")
    return dev


_MALLOC_TUNED = False


def _tune_malloc() -> None:
    """Keep freed activation buffers in glibc's heap instead of handing them back to the kernel.

    Every training step allocates and frees activations of a few MiB. By default glibc trims the
    heap (or unmaps) on free, so the next step page-faults the same memory in again: about 100,000
    minor faults per epoch for 10x80 BN at batch 10,000, some 8% of the epoch. Raising the trim
    threshold to 256 MiB and the mmap threshold to 32 MiB (glibc's own dynamic ceiling) cuts that
    to ~15,000. Process-wide and done once; glibc only; ``NIDSLAB_MALLOC_TUNING=0`` turns it off.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or os.environ.get("NIDSLAB_MALLOC_TUNING", "1") == "0":
        return
    _MALLOC_TUNED = True
    with contextlib.suppress(Exception):  # not glibc (musl, macOS, Windows): nothing to do
        import ctypes
        import ctypes.util
        import platform

        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            return
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded ``seed``: independent per epoch."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    config: FitConfig = FitConfig(),
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callback: EpochCallback | None = None,
    run: dict[str, Any] | None = None,
    **overrides: Any,
) -> History:
    """Train ``model`` in place on ``train = (X, y)`` with the settings of ``config``; return its :class:`History`.

    X: ``(n, n_inputs)`` float32, already standardised. y: ``(n,)`` uint8 0/1 for a binary head,
    float32 for a regression head; ``validation`` the same for the rows scored after each epoch.
    ``config`` (:class:`nidslab.settings.FitConfig`) holds every training setting and its default;
    keyword ``overrides`` (``lr=0.01``, ...) are ``config.replace(**overrides)``.
    Each epoch visits every row once in a fresh random order, in ``ceil(n / batch_size)`` weight
    updates. Class weights are applied as Keras does: the batch loss is ``sum(w[y_i] * bce_i) /
    batch_rows`` (Keras 2's ``SUM_OVER_BATCH_SIZE`` and Keras 3's default ``"sum_over_batch_size"``
    reduction divide by the number of rows, not by the sum of weights). Early stopping watches ``val_loss``.
    ``checkpoint_dir``: where ``checkpoint.pt`` is written after each epoch; with ``resume=True``
    training continues from it. ``run``: a JSON-able record of what else the weights depend on (dataset name
    and fingerprint, features, split, fraction, model spec, ...); the checkpoint stores it with the fit settings,
    and a resume whose record or settings differ is refused naming the first difference.
    ``threads`` sets torch's CPU thread count for the run. On the CPU
    the first call tunes glibc's malloc for the run's repeated large allocations (see
    :func:`_tune_malloc`; ``NIDSLAB_MALLOC_TUNING=0`` to skip).
    ``callback(epoch, logs)`` is called after each epoch (1-based), with that epoch's metrics,
    after the checkpoint is written (an exception it raises stops training; the run can resume).
    Each epoch reseeds the dropout masks' generators from ``(seed, epoch)``.
    ``step``: how gradients are computed. ``"fused"`` is :class:`nidslab.fused_step.FusedStep`'s
    hand-derived backward pass in preallocated buffers (a DNN on the CPU; per epoch 1.04-1.24x faster
    than autograd at batch 10,000, up to 1.4x at batch 100 without BatchNorm, even with it: see
    ``benchmarks/bench_step.py``), ``"autograd"`` is ``loss.backward()`` (any module, any device),
    ``"auto"`` the first that applies. Both give the same gradients to float32 rounding.
    """
    cfg = config.replace(**overrides) if overrides else config
    head = getattr(getattr(model, "spec", None), "head", "binary")
    X, y = _check_arrays(train, head, "train")
    Xv = yv = None
    if validation is not None:
        Xv, yv = _check_arrays(validation, head, "validation")
        if Xv.shape[1] != X.shape[1]:
            raise ValueError(f"validation has {Xv.shape[1]} columns, train has {X.shape[1]}")
    if cfg.class_weight is not None and head != "binary":
        raise ValueError("class_weight applies to the binary head only")
    stopper = _EarlyStopping.make(cfg.early_stopping, validation is not None)
    dev = resolve_device(cfg.device)
    if dev.type == "cpu":
        _tune_malloc()
    with torch_threads(cfg.threads):
        return _fit(model, X, y, Xv, yv, cfg, head=head, class_weight=cfg.class_weights(y), dev=dev,
                    stopper=stopper, checkpoint_dir=checkpoint_dir, resume=resume, callback=callback, run=run)


def _fit(model: nn.Module, X: np.ndarray, y: np.ndarray, Xv: np.ndarray | None, yv: np.ndarray | None,
         cfg: FitConfig, *, head: str, class_weight: dict[int, float] | None, dev: torch.device,
         stopper: _EarlyStopping | None, checkpoint_dir: str | os.PathLike | None, resume: bool,
         callback: EpochCallback | None, run: dict[str, Any] | None = None) -> History:
    optimizer, lr, batch_size, epochs, seed, step = cfg.optimizer, cfg.lr, cfg.batch_size, cfg.epochs, cfg.seed, cfg.step
    model.to(dev)
    if step == "fused" and not fused_step.supports(model):
        raise ValueError("step='fused' trains a nidslab DNN on the CPU; use step='autograd' for this model or device")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params, lr)
    sgd_lr = float(lr) if optimizer == "sgd" else None
    n = len(y)
    X_t = torch.from_numpy(X).to(dev)
    y_t = torch.from_numpy(y.astype(np.float32, copy=False)).to(dev)
    # Class weights as two 0-d tensors: each batch picks its rows' weights from its labels.
    w0, w1 = (None, None) if class_weight is None else (torch.tensor(class_weight[0], device=dev),
                                                        torch.tensor(class_weight[1], device=dev))
    val = None if Xv is None or yv is None else (torch.from_numpy(Xv).to(dev),
                                                  torch.from_numpy(yv.astype(np.float32)).to(dev))
    history = History(updates_per_epoch=math.ceil(n / batch_size))
    config = {"optimizer": optimizer, "lr": float(lr), "batch_size": batch_size, "seed": int(seed), "rows": n,
              "class_weight": class_weight, "head": head}
    if run is not None:  # first: the data a run trains on is the first difference worth naming
        config = {"run": run, **config}

    start_epoch = 0
    ckpt = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        start_epoch, history = _load_checkpoint(ckpt, model, opt, config, stopper, dev)

    # Buffers reused by every full batch, so no allocation per step.
    xb = torch.empty((min(batch_size, n), X.shape[1]), dtype=torch.float32, device=dev)
    yb = torch.empty(min(batch_size, n), dtype=torch.float32, device=dev)
    wb = None if w0 is None else torch.empty_like(yb)
    fused = fused_step.FusedStep(model, len(xb)) if step != "autograd" and fused_step.supports(model) else None

    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        model.train()
        e_seed = epoch_seed(seed, epoch)
        g = torch.Generator(device="cpu").manual_seed(e_seed)  # the shuffle
        torch.manual_seed(e_seed ^ 0x5EED)  # dropout masks of this epoch (CUDA)
        seed_dropout(e_seed ^ 0x5EED)  # ... and on the CPU
        perm = torch.randperm(n, generator=g).to(dev)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.int64)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            m = len(idx)
            xm, ym, wm = xb[:m], yb[:m], None if wb is None else wb[:m]
            torch.index_select(X_t, 0, idx, out=xm)
            torch.index_select(y_t, 0, idx, out=ym)
            if wm is not None and w0 is not None and w1 is not None:
                torch.where(ym > 0.5, w1, w0, out=wm)
            if fused is not None:
                loss, out = fused(xm, ym, wm)  # fills p.grad
            else:
                out = model(xm)
                loss = batch_loss(out, ym, head, wm)
                for p in params:  # cheaper than opt.zero_grad(set_to_none=True), same effect
                    p.grad = None
                loss.backward()
            if sgd_lr is not None:
                # Plain SGD as one foreach call: the same arithmetic as SGD.step (p += -lr * g)
                # without its per-step Python bookkeeping (~30 us, about a tenth of a batch-100 step).
                with torch.no_grad():
                    live = [(p, p.grad) for p in params if p.grad is not None]
                    torch._foreach_add_([p for p, _ in live], [g for _, g in live], alpha=-sgd_lr)
            else:
                opt.step()
            with torch.no_grad():
                loss_sum.add_(loss.detach(), alpha=m)
                if head == "binary":
                    # y is 0.0/1.0, so comparing it with the 0/1 prediction is the hit test.
                    correct += torch.eq(out.detach() > 0, ym).sum()
        history.loss.append(float(loss_sum) / n)
        if head == "binary":
            history.accuracy.append(int(correct) / n)
        if val is not None:
            vl, va = _validate(model, *val, head)
            history.val_loss.append(vl)
            if head == "binary":
                history.val_accuracy.append(va)
        history.epoch_seconds.append(time.perf_counter() - t0)

        stop = stopper.update(history, model) if stopper else False
        if ckpt is not None:
            _save_checkpoint(ckpt, epoch + 1, model, opt, history, config, stopper)
        if callback is not None:
            callback(epoch + 1, _logs(history, epoch + 1))
        if stop:
            history.stopped_early = True
            break
    if stopper:
        stopper.finish(history, model)
    return history


def batch_loss(out: torch.Tensor, target: torch.Tensor, head: str, weight: torch.Tensor | None) -> torch.Tensor:
    """Batch loss: BCE-with-logits, ``sum(w_i * l_i) / n`` over the batch's ``n`` rows as Keras reduces
    class-weighted losses (torch's weighted ``reduction="mean"`` is exactly that), or MSE."""
    if head == "regression":
        return F.mse_loss(out, target)
    return F.binary_cross_entropy_with_logits(out, target, weight=weight)


@torch.inference_mode()
def _validate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, head: str) -> tuple[float, float]:
    """(mean loss, accuracy) over ``X`` in eval mode, without class weights."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    for s in range(0, len(y), EVAL_BATCH):
        out, t = model(X[s:s + EVAL_BATCH]), y[s:s + EVAL_BATCH]
        loss_sum += batch_loss(out, t, head, None).double() * len(t)
        if head == "binary":
            correct += ((out > 0) == (t > 0.5)).sum()
    model.train()
    n = max(1, len(y))
    return float(loss_sum) / n, int(correct) / n


def _logs(h: History, epoch: int) -> dict[str, Any]:
    logs: dict[str, Any] = {"epoch": epoch}
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        if getattr(h, k):
            logs[k] = getattr(h, k)[-1]
    return logs


def _check_arrays(pair: Any, head: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        X, y = pair
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (X, y)") from None
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{what} X must be 2-D (rows, features), got shape {X.shape}")
    if y.shape != (len(X),):
        raise ValueError(f"{what} y must have shape ({len(X)},) to match X, got {y.shape}")
    if len(X) == 0:
        raise ValueError(f"{what} has no rows")
    # Fast path: a finite sum means every value is finite; only a non-finite sum (NaN, inf, or an
    # overflow of huge values) needs the elementwise check.
    with warnings.catch_warnings():  # a read-only X (memory-mapped in a worker) is only read here
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        total = float(torch.from_numpy(X).sum())  # torch: all threads
    if not math.isfinite(total) and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{what} X has a non-finite value at row {bad[0]}, column {bad[1]}")
    if head == "binary":
        small = y.dtype in (np.uint8, np.bool_) and (y.size == 0 or y.max() <= 1)  # fast path for 0/1 bytes
        if not small and not np.isin(y, (0, 1)).all():
            bad = int(np.flatnonzero(~np.isin(y, (0, 1)))[0])
            raise ValueError(f"{what} y must be 0/1 labels for a binary head; row {bad} is {y[bad]!r}")
        y = y.astype(np.uint8, copy=False)
    else:
        y = y.astype(np.float32, copy=False)
    return X, y


# ----------------------------------------------------------------------------- early stopping


class _EarlyStopping:
    """Stop when ``val_loss`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, patience: int, min_delta: float = 0.0, restore_best_weights: bool = True):
        self.patience, self.min_delta, self.restore = int(patience), float(min_delta), bool(restore_best_weights)
        self.best = math.inf
        self.best_state: dict | None = None

    @classmethod
    def make(cls, spec: Any, have_validation: bool) -> _EarlyStopping | None:
        """From :attr:`FitConfig.early_stopping` (already checked there): None, a patience, or a dict."""
        if spec is None:
            return None
        if not have_validation:
            raise ValueError("early_stopping watches val_loss: pass validation=(X, y)")
        return cls(spec) if isinstance(spec, int) else cls(**spec)

    def update(self, h: History, model: nn.Module) -> bool:
        if h.val_loss[-1] < self.best - self.min_delta:
            self.best, h.best_epoch = h.val_loss[-1], h.epochs
            if self.restore:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return h.epochs - (h.best_epoch or 0) >= self.patience

    def finish(self, h: History, model: nn.Module) -> None:
        if self.restore and self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state(self) -> dict:
        return {"best": self.best, "best_state": self.best_state}


# ----------------------------------------------------------------------------- checkpoints


def _save_checkpoint(path: Path, epochs_done: int, model: nn.Module, opt: torch.optim.Optimizer, history: History,
                     config: dict, stopper: _EarlyStopping | None) -> None:
    """Write the checkpoint atomically. A full disk raises OSError(ENOSPC) naming ``path`` (torch.save to a
    file would raise a RuntimeError instead), and a checkpoint folder this run made and could not fill goes."""
    import io

    from nidslab.paths import write_bytes_atomic

    state = {"epochs_done": epochs_done, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "history": history.to_dict(), "config": config,
             "early_stopping": stopper.state() if stopper else None}
    buf = io.BytesIO()
    torch.save(state, buf)  # the network and optimiser state: kilobytes to megabytes
    made = not path.parent.exists()
    try:
        write_bytes_atomic(path, buf.getbuffer())
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty
        raise


def _first_difference(saved: dict, now: dict, prefix: str = "") -> tuple[str, str, str]:
    """(where, checkpoint's value, this run's value) of the first setting that differs, in this run's order."""
    for key in [*now, *(k for k in saved if k not in now)]:
        a, b = saved.get(key, "<not recorded>"), now.get(key, "<not recorded>")
        if isinstance(a, dict) and isinstance(b, dict):
            if a != b:
                return _first_difference(a, b, f"{prefix}{key} ")
        elif a != b:
            def show(v: Any) -> str:
                text = repr(v)
                return text if len(text) <= 80 else text[:77] + "..."
            name = f"{prefix}{key}".removeprefix("run ")
            return name.replace("_", " "), show(a), show(b)
    return "settings", "?", "?"


def _load_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, config: dict,
                     stopper: _EarlyStopping | None, dev: torch.device) -> tuple[int, History]:
    from nidslab.errors import CacheError

    from nidslab.saved_model import read_weights

    try:  # empty or cut short (an older nidslab on a full disk), or not ours: one line, not torch's text
        state = read_weights(path, what="checkpoint", map_location=dev)
    except CacheError as exc:
        raise CacheError(f"{exc}; delete it, or train without --resume") from None
    saved = state.get("config") if isinstance(state, dict) else None
    if saved != config:
        where, was, now = _first_difference(saved if isinstance(saved, dict) else {}, config)
        raise CacheError(f"{path} was written by a run with other settings: its {where} is {was}, this run's is {now}; resume "
                         "with the same data and settings, or delete it to start over")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CacheError(f"{path} holds weights of another network shape: {exc}") from None
    opt.load_state_dict(state["optimizer"])
    if stopper and state.get("early_stopping"):
        stopper.best = state["early_stopping"]["best"]
        stopper.best_state = state["early_stopping"]["best_state"]
    return int(state["epochs_done"]), History.from_dict(state["history"])


__all__ = ["fit", "torch_threads", "FitConfig", "History", "balanced_class_weight", "make_optimizer", "resolve_device", "epoch_seed",
           "EpochCallback", "OPTIMIZERS"]
