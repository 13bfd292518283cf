"""What the study ran on: CPU model and cores, memory, and the GPU when there is one (Part 3).

Read from the machine itself (``/proc/cpuinfo``, ``os``, ``torch.cuda``), never copied from the lab,
so Questions 1-3 are answered for the machine the study runs on. torch is imported lazily and only
to ask CUDA about the GPU.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from typing import Any

# CUDA cores per streaming multiprocessor, by compute capability (NVIDIA CUDA C Programming Guide,
# "Arithmetic Instructions" throughput table: FP32 lanes per SM). RTX 3090 (8.6): 82 SMs x 128 = 10,496.
_CORES_PER_SM = {
    (3, 0): 192, (3, 5): 192, (3, 7): 192, (5, 0): 128, (5, 2): 128, (5, 3): 128,
    (6, 0): 64, (6, 1): 128, (6, 2): 128, (7, 0): 64, (7, 2): 64, (7, 5): 64,
    (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128,
    (10, 0): 128, (10, 3): 128, (12, 0): 128, (12, 1): 128,
}


def cuda_cores(major: int, minor: int, sm_count: int) -> int | None:
    """FP32 CUDA cores of a GPU: SMs x cores per SM for its compute capability (None if unknown)."""
    per_sm = _CORES_PER_SM.get((major, minor))
    return None if per_sm is None else per_sm * sm_count


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where it does not say."""
    pairs, phys = set(), None
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = value.strip()
                elif key == "core id":
                    pairs.add((phys, value.strip()))
    return len(pairs) or None


def _memory_bytes() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    return None


def gpu_info() -> dict[str, Any] | None:
    """Name, memory (bytes), SM count and CUDA cores of GPU 0, or None when CUDA is not available."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    return {
        "name": p.name,
        "memory_bytes": int(p.total_memory),
        "memory_gib": round(p.total_memory / 2**30, 1),
        "sm_count": int(p.multi_processor_count),
        "compute_capability": f"{p.major}.{p.minor}",
        "cuda_cores": cuda_cores(p.major, p.minor, p.multi_processor_count),
        "count": torch.cuda.device_count(),
    }


def describe_hardware() -> dict[str, Any]:
    """The machine as a plain dict: ``cpu`` (model, logical/physical cores, cores this process may use),
    ``memory_bytes`` (RAM), ``gpu`` (see :func:`gpu_info`; None on a CPU-only machine), ``torch_threads``,
    ``platform`` and ``python``."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    threads = None
    with contextlib.suppress(ImportError):
        import torch

        threads = torch.get_num_threads()
    mem = _memory_bytes()
    return {
        "cpu": {
            "model": _cpu_model(),
            "logical_cores": os.cpu_count(),
            "physical_cores": _physical_cores(),
            "usable_cores": usable,
        },
        "memory_bytes": mem,
        "memory_gib": None if mem is None else round(mem / 2**30, 1),
        "gpu": gpu_info(),
        "torch_threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["seconds"]`` (wall clock, perf_counter)."""
    t = {"seconds": 0.0}
    start = time.perf_counter()
    try:
        yield t
    finally:
        t["seconds"] = time.perf_counter() - start
