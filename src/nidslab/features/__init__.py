"""Kitsune (AfterImage) features from packet captures.

>>> from nidslab.features import extract_features, column_names
>>> X = extract_features("capture.pcap")            # doctest: +SKIP  float32 (n, 115)
>>> X = extract_features("capture.pcap", layout="kitsune-py")  # doctest: +SKIP  (n, 100)

Files: :mod:`.pcap` (capture reader), :mod:`.streams` (stream keys -> ids),
:mod:`.afterimage` (stream kernels), :mod:`.links` (links between streams, lazily updated for
streams with many links), :mod:`.extract` (layouts and the driver), :mod:`.output` (feature
files written chunk by chunk).
"""

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
