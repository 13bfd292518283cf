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

    def keep(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        loss = batch_loss(net(x), y, head, w)
    out["saved_for_backward"] = count(saved)
    loss.backward()
    out["gradients"] = count(p.grad for p in params)
    opt.step()
    out["optimizer_state"] = count(v for state in opt.state.values() for v in state.values()
                                   if isinstance(v, torch.Tensor))
    out["total"] = sum(out.values())
    return out


NVML = "NVML (torch.cuda.utilization)"


class DeviceUsage:
    """How busy the device was, and how much memory it used, while a block of work ran (the lab's
    Question 8: "run nvidia-smi a few times during training").

    With a CUDA GPU: utilisation sampled every ``interval_s`` by a background thread through NVML
    (``torch.cuda.utilization``, which needs the ``pynvml`` / ``nvidia-ml-py`` package; else ``nvidia-smi``),
    and torch's peak allocated and reserved bytes over the block. Without one: the CPU measured instead,
    the process's CPU seconds over the wall seconds (how many cores were busy on average).

    >>> with DeviceUsage() as usage:           # doctest: +SKIP
    ...     fit(...)
    >>> usage.result()["gpu_utilization_mean_pct"]
    """

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.gpu = torch.cuda.is_available()
        self.samples: list[float] = []
        self.sampler = ""
        self._stop: Any = None
        self._thread: Any = None

    def _utilization(self) -> float | None:
        """One utilisation reading in percent (None: neither NVML nor nvidia-smi answered)."""
        import subprocess

        if self.sampler in ("", NVML):
            try:
                value = float(torch.cuda.utilization())
                self.sampler = NVML
                return value
            except Exception:  # no pynvml, or NVML refused: the tool the lab names
                self.sampler = "nvidia-smi"
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                  f"--id={torch.cuda.current_device()}"], capture_output=True, text=True,
                                 timeout=5, check=True).stdout
            return float(out.strip().splitlines()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            self.sampler = "none"
            return None

    def __enter__(self) -> DeviceUsage:
        import threading
        import time

        self._wall, self._cpu = time.perf_counter(), time.process_time()
        if self.gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._stop = threading.Event()

            def sample() -> None:
                while not self._stop.wait(self.interval_s):
                    v = self._utilization()
                    if v is None:
                        return
                    self.samples.append(v)
                    if self.sampler == "nvidia-smi" and len(self.samples) > 200:  # a subprocess per sample: enough
                        return

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        import time

        if self.gpu:
            torch.cuda.synchronize()
            self._stop.set()
            self._thread.join()
        self._wall, self._cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu

    def result(self) -> dict[str, Any]:
        """``device`` (cuda | cpu), ``wall_seconds``; on a GPU ``gpu_utilization_mean_pct``,
        ``gpu_utilization_max_pct``, ``samples``, ``sampler``, ``gpu_max_memory_allocated`` and
        ``gpu_max_memory_reserved`` (bytes; None where not measured); on the CPU ``cpu_seconds`` and
        ``cpu_busy_cores`` (CPU seconds over wall seconds, all of this process's threads)."""
        out: dict[str, Any] = {"device": "cuda" if self.gpu else "cpu", "wall_seconds": self._wall,
                               "cpu_seconds": self._cpu,
                               "cpu_busy_cores": self._cpu / self._wall if self._wall > 0 else None}
        if self.gpu:
            s = self.samples
            out.update(gpu_utilization_mean_pct=sum(s) / len(s) if s else None,
                       gpu_utilization_max_pct=max(s) if s else None, samples=len(s), sampler=self.sampler,
                       gpu_max_memory_allocated=int(torch.cuda.max_memory_allocated()),
                       gpu_max_memory_reserved=int(torch.cuda.max_memory_reserved()))
        return out
