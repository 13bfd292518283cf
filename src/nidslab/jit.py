"""Options the project's numba kernels share.

``NO_NRT``: compile a kernel without numba's runtime (NRT). With the runtime, numba wraps every
array handed to an inlined helper in an atomic reference count (increment and decrement per
call) that its pruning pass cannot remove once the helper branches: on the kitsune-py feature
layout those atomics were 45% of the extractor's CPU time (perf), and a fifth of KitNET's
training. A kernel compiled without it must allocate nothing (scratch comes from the caller).
``_nrt`` is numba's own option of its CPU target (``numba.core.cpu.CPUTargetOptions``); should a
numba release drop it, kernels compile with the runtime as before: slower, the same numbers.
"""

from __future__ import annotations

from numba.core.cpu import CPUTargetOptions

NO_NRT: dict = {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}
