"""Kitsune (AfterImage) features from packet captures.

>>> from nidslab.features import extract_features, column_names
>>> X = extract_features("capture.pcap")            # doctest: +SKIP  float32 (n, 115)
>>> X = extract_features("capture.pcap", layout="kitsune-py")  # doctest: +SKIP  (n, 100)

Files: :mod:`.pcap` (capture reader), :mod:`.streams` (stream keys -> ids),
:mod:`.afterimage` (stream kernels), :mod:`.links` (links between streams, lazily updated for
streams with many links), :mod:`.extract` (layouts and the driver), :mod:`.output` (feature
files written chunk by chunk), :mod:`.describe` (what every column means; imports no numba).

The names below are imported on first use (PEP 562), so ``nidslab.features.describe`` answers
without loading numba and the compiled kernels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_FROM = {
    "LAYOUTS": "extract", "CaptureWarning": "extract", "FeatureExtractor": "extract", "column_names": "extract",
    "extract_features": "extract", "iter_features": "extract",
    "Packets": "pcap", "ReadReport": "pcap", "ExtractionReport": "pcap", "iter_packets": "pcap",
    "read_packets": "pcap", "write_pcap": "pcap",
}

if TYPE_CHECKING:
    from nidslab.features.extract import (
        LAYOUTS,
        CaptureWarning,
        FeatureExtractor,
        column_names,
        extract_features,
        iter_features,
    )
    from nidslab.features.pcap import Packets, ReadReport, iter_packets, read_packets, write_pcap

    ExtractionReport = ReadReport


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'nidslab.features' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nidslab.features.{module}"), "ReadReport" if name ==
                    "ExtractionReport" else name)
    globals()[name] = value
    return value


__all__ = [
    "LAYOUTS",
    "CaptureWarning",
    "ExtractionReport",
    "FeatureExtractor",
    "Packets",
    "ReadReport",
    "column_names",
    "extract_features",
    "iter_features",
    "iter_packets",
    "read_packets",
    "write_pcap",
]
