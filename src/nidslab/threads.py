"""torch's CPU thread count for a block of work: the one home of :func:`torch_threads`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block on ``threads`` torch CPU threads (None or 0: as it is), restoring the count after.

    Float sums split differently over different thread counts, so a network trained (or evaluated) on
    2 threads differs in its last bits from one on 1: a cluster task and a local run agree bit for bit
    when both run on the same count (``nidslab.cluster``). Small networks scored in chunks (``nidslab
    watch``) also run faster on one thread: with more, the pool's hand-offs cost more than the matmuls.
    """
    old = torch.get_num_threads()
    if threads and threads != old:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        if threads and threads != old:
            torch.set_num_threads(old)


__all__ = ["torch_threads"]
