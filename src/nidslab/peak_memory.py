"""A memory meter for one block of work: peak resident memory on the CPU, peak allocated on a GPU."""

from __future__ import annotations


class PeakRSS:
    """Peak memory of this process during the block, in MiB: ``with PeakRSS() as peak: ...; peak.mib``.

    On CUDA: torch's peak allocated bytes since the block began. On the CPU: ``ru_maxrss``, the
    process's lifetime peak resident memory (so a block after a larger one reports the larger peak).
    """

    mib: float = 0.0

    def __enter__(self) -> PeakRSS:
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> bool:
        import resource

        import torch

        if self.cuda:
            self.mib = torch.cuda.max_memory_allocated() / 2**20
        else:  # ru_maxrss is the process's lifetime peak (KiB on Linux)
            self.mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return False


__all__ = ["PeakRSS"]
