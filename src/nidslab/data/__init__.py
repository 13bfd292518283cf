"""The data layer: read every form the Kitsune data comes in, cache it, describe it.

Names are imported lazily so that ``import nidslab.data`` (and the CLI's start-up) stays cheap:
pyarrow is loaded only by the readers, urllib only by the downloader.

    read_features, read_labels, read_table      nidslab.data.readers
    download, KITSUNE_ATTACKS                     nidslab.data.downloader
    Dataset, open_dataset, import_dataset,
    write_dataset, list_datasets, DEFAULT_DATASET nidslab.data.datasets
    describe, Description                         nidslab.data.description
    make_synthetic                                nidslab.data.synthetic
    fingerprint                                   nidslab.data.fingerprint
    Standardizer, Split, lab_split, kfold,
    temporal_split, blocked_kfold,
    subsample, prepare, Prepared,
    network_split, NetworkSplit                   nidslab.data.prep
    Family, open_family, build_family             nidslab.data.family
"""

from __future__ import annotations

import importlib

_WHERE = {
    "read_features": "readers", "read_labels": "readers", "read_table": "readers",
    "download": "downloader", "KITSUNE_ATTACKS": "downloader",
    "Dataset": "datasets", "open_dataset": "datasets", "import_dataset": "datasets",
    "write_dataset": "datasets", "list_datasets": "datasets", "remove_dataset": "datasets", "list_leftovers": "datasets",
    "default_dataset": "datasets", "DEFAULT_DATASET": "datasets", "BUILTIN_DATASETS": "datasets",
    "describe": "description", "Description": "description",
    "make_synthetic": "synthetic", "fingerprint": "fingerprint",
    "Standardizer": "prep", "Split": "prep", "lab_split": "prep", "kfold": "prep",
    "temporal_split": "prep", "blocked_kfold": "prep",
    "subsample": "prep", "prepare": "prep", "Prepared": "prep",
    "network_split": "prep", "NetworkSplit": "prep",
    "Family": "family", "open_family": "family", "build_family": "family",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value  # cache; also wins over a submodule of the same name
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
