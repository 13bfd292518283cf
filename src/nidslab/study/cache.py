"""Per-part result cache: an interrupted study resumes, a changed part alone re-runs.

Each part's result is a JSON file named by the part and a hash of everything that determines it:
its settings, the settings of the parts it builds on, the dataset's fingerprint and the cache format.
Changing one experiment changes only that experiment's key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from nidslab.data.fingerprint import fingerprint  # noqa: F401 - the study's key uses the data layer's
from nidslab.paths import atomic_write

#: Bump when the shape of a cached result changes, so old entries are not reused.
CACHE_FORMAT = 1


def key_of(part: str, settings: Any, data_fingerprint: str) -> str:
    """16 hex digits hashing ``part``, its ``settings`` (JSON-able) and the data's fingerprint."""
    blob = json.dumps({"part": part, "settings": settings, "data": data_fingerprint, "format": CACHE_FORMAT},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ResultCache:
    """JSON results under ``root``: ``get(part, key)`` -> dict or None, ``put(part, key, value)``.

    ``fresh=True`` ignores what is stored (and overwrites it)."""

    def __init__(self, root: str | os.PathLike[str], fresh: bool = False):
        self.root = Path(root)
        self.fresh = fresh

    def path(self, part: str, key: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", part)
        return self.root / f"{safe}-{key}.json"

    def get(self, part: str, key: str) -> dict[str, Any] | None:
        if self.fresh:
            return None
        path = self.path(part, key)
        try:
            value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return value
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):  # a damaged entry is recomputed, not trusted
            return None

    def put(self, part: str, key: str, value: dict[str, Any]) -> None:
        with atomic_write(self.path(part, key), "w") as fh:
            json.dump(value, fh, default=plain)


def plain(obj: Any) -> Any:
    """JSON for NumPy scalars and arrays."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in results.json")
