"""Features of many captures at once, one task per capture, on any :mod:`nidslab.cluster` executor.

Captures are independent (AfterImage statistics never cross files), so each is extracted by its own
task and the results are the same as extracting them one by one. Locally a task reads its capture
from its path; on a cluster the capture's bytes are put into the object store once and the task that
extracts it writes them to a temporary file on its own machine first, so workers need no shared disk.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nidslab.features.extract import CaptureWarning, extract_features
from nidslab.features.pcap import ReadReport, capture_format
from nidslab.progress import Progress


@dataclass(frozen=True)
class Capture:
    """One capture to extract: its path, and its bytes when the task runs on another machine."""

    path: str
    data: bytes | None = None


@dataclass(frozen=True)
class Extracted:
    """Features of one capture: ``X`` float32 (n_packets, n_columns) and the reader's warnings."""

    path: str
    X: np.ndarray
    messages: tuple[str, ...]


def extract_task(capture: Capture, layout: str, limit: int | None) -> Extracted:
    """Extract one capture (a task: runs wherever the executor puts it)."""
    report = ReadReport(capture.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # returned as messages instead
        if capture.data is None:
            X = extract_features(capture.path, layout=layout, limit=limit, report=report)
        else:
            with tempfile.TemporaryDirectory(prefix="nidslab-capture-") as tmp:
                local = Path(tmp) / Path(capture.path).name
                local.write_bytes(capture.data)
                X = extract_features(local, layout=layout, limit=limit, report=report)
                # messages name the capture the user gave, not the temporary copy
                return Extracted(capture.path, X, tuple(m.replace(str(local), capture.path) for m in report.messages()))
    return Extracted(capture.path, X, tuple(report.messages()))


def extract_many(captures: Sequence[str | os.PathLike], *, layout: str = "uci", limit: int | None = None,
                 executor=None, progress: Progress | None = None) -> list[Extracted]:
    """Kitsune features of each capture, in the order given, as :func:`extract_features` computes them.

    ``executor``: a :mod:`nidslab.cluster` executor (default: this process, one capture after another).
    ``progress(done, total, message)`` after each capture. Raises FileNotFoundError for a missing capture and
    :class:`nidslab.errors.DataError` for a file that is not a capture, before any task starts.
    """
    from nidslab.cluster import LocalExecutor

    executor = executor or LocalExecutor()
    paths = [str(p) for p in captures]
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"capture {p} does not exist")
        capture_format(p)  # DataError for a file that is not a pcap/pcapng, before anything is sent
    if executor.remote:
        # each capture's bytes go to the object store once; only its handle travels with the task
        items = [executor.put(Capture(p, Path(p).read_bytes())) for p in paths]
    else:
        items = [Capture(p) for p in paths]
    return executor.map(extract_task, items, layout, limit, progress=progress)


__all__ = ["Capture", "Extracted", "extract_many", "extract_task"]
