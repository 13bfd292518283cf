"""How much memory one training step of a network holds, counted from the tensors a real step makes.

Why a count and not the process's memory: at the lab's sizes (a 2 x 20 network, batches of 100 to
10,000 rows) a step holds kilobytes to megabytes, far below the resident-memory noise of a process
that has torch and a 200 MB training split loaded; and the process's high-water mark never falls,
so successive measurements in one process read the growth of the first one only. Here a step at
batch size B runs once on a copy of the model: the tensors autograd saves for the backward pass
(every layer's outputs, BatchNorm's statistics, dropout masks) are caught with
``torch.autograd.graph.saved_tensors_hooks``, then the batch, the weights, their gradients and the
optimiser's state after the step are added, each storage once. Temporaries that live inside a single
op are not counted. This is what a GPU (or the CPU's RAM) holds for training beyond the data itself.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def step_memory(model: nn.Module, n_inputs: int, batch_size: int, *, optimizer: str = "sgd", lr: float = 0.1,
                class_weighted: bool = True, seed: int = 0) -> dict[str, int]:
    """Bytes held by one training step of ``model`` on a batch of ``batch_size`` rows of ``n_inputs``
    float32 features (random values; memory does not depend on them).

    Returns a dict of byte counts: ``batch`` (inputs, targets, per-row weights), ``saved_for_backward``
    (activations and the like, kept from the forward pass until backward), ``parameters``,
    ``gradients``, ``optimizer_state`` and ``total`` (their sum, every storage counted once). The
    model is copied; ``model`` itself is left as it was.
    """
    from nidslab.train import batch_loss, make_optimizer

    net = copy.deepcopy(model).cpu().train()
    head = getattr(getattr(net, "spec", None), "head", "binary")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, n_inputs, generator=gen)
    y = (torch.rand(batch_size, generator=gen) < 0.5).float()
    w = torch.ones(batch_size) if class_weighted and head == "binary" else None
    params = [p for p in net.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params, lr)
    seen: set[int] = set()

    def count(tensors: Any) -> int:
        total = 0
        for t in tensors:
            if t is None:
                continue
            storage = t.untyped_storage()
            if storage.data_ptr() not in seen and storage.nbytes():
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        return total

    out: dict[str, int] = {"batch": count([x, y, w]), "parameters": count(params)}
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        loss = batch_loss(net(x), y, head, w)
    out["saved_for_backward"] = count(saved)
    loss.backward()
    out["gradients"] = count(p.grad for p in params)
    opt.step()
    out["optimizer_state"] = count(v for state in opt.state.values() for v in state.values()
                                   if isinstance(v, torch.Tensor))
    out["total"] = sum(out.values())
    return out
