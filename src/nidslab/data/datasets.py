"""Cached datasets: parsed once, then opened memory-mapped.

A dataset is a folder ``<home>/datasets/<name>/`` (see :func:`nidslab.paths.datasets_dir`)::

    features.npy        float32 (rows, columns), C order, opened with mmap_mode="r"
    labels.npy          uint8 (rows,): 0 benign, 1 malicious (the dataset's default labels)
    labels-<kind>.npy   other label sets of the same rows (e.g. ``truth`` for the simulation)
    meta.json           schema, feature names, row count, class counts, source files and the size
                        and sha256 of every file above

The folder is written under a temporary name and renamed into place, so a reader never sees a half-written
dataset. Opening checks every file's size and array header against ``meta.json`` (cheap: the full-size
Mirai table opens in milliseconds); ``verify=True`` also re-hashes the files.

Built-in datasets are made on first use and then cached like any other:

* ``mirai-sim`` (the default): a simulated IoT camera LAN with a Mirai outbreak
  (:mod:`nidslab.simulate`), written as a capture and run through nidslab's own feature extractor, so the
  data is made the way the real Kitsune table was. 764,137 packets, seed 0.
* ``synthetic``: a fast statistical stand-in with the Kitsune schema (:mod:`nidslab.data.synthetic`),
  for tests and quick experiments.
* ``kitsune-<attack>`` (``kitsune-mirai`` ...): the real Kitsune table, downloaded from the UCI archive.

``$NIDSLAB_DATASET`` overrides the default dataset's name.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nidslab import __version__, schema
from nidslab.data.leftovers import OWNER_FILE, Leftover, clean_stale, find_leftovers, make_temp_dir
from nidslab.errors import CacheError, DataError
from nidslab.paths import datasets_dir, disk_error
from nidslab.progress import Progress


#: the name "default" resolves to this (``$NIDSLAB_DATASET`` overrides it)
DEFAULT_DATASET = "mirai-sim"
#: datasets nidslab makes itself on first use
BUILTIN_DATASETS = ("mirai-sim", "synthetic")
#: the version of each built-in dataset's recipe, kept in its meta.json: bump it whenever the simulator,
#: the feature extractor or the synthetic generator changes what it writes, and caches made by an
#: older recipe are made again on next use instead of being served stale
BUILTIN_RECIPES = {"mirai-sim": "2026-11-25", "synthetic": "2026-11-25"}
#: rows of the real Mirai table, and of the simulation's default
MIRAI_ROWS = schema.MIRAI_PACKETS
FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclasses.dataclass
class Dataset:
    """An opened dataset.

    ``X``: float32 (rows, columns), read-only memory map. ``y``: uint8 (rows,). ``labels``: every label set
    by kind (``"default"`` is ``y``). ``meta``: the parsed ``meta.json``.
    """

    name: str
    path: Path
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    labels: dict[str, np.ndarray]
    meta: dict[str, Any]
    #: other per-row arrays of any dtype by name (memory-mapped; e.g. ``network``, ``phase`` of a family)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def columns(self, spec: str | Sequence[str] | None = "lab") -> np.ndarray:
        """The columns of a feature selection (``"lab"``, ``"all"``, groups or names), as float32 (rows, k)."""
        from nidslab.data.prep import select_columns

        cols, _ = select_columns(self.feature_names, spec)
        return np.asarray(self.X[:, cols])

    def __repr__(self) -> str:
        counts = np.bincount(self.y, minlength=2)
        return (f"Dataset({self.name!r}: {self.n_rows:,} rows x {self.n_features} features, "
                f"{counts[0]:,} benign / {counts[1]:,} malicious, at {self.path})")


# --------------------------------------------------------------------------------------------- names


def default_dataset() -> str:
    """The name ``"default"`` stands for: ``$NIDSLAB_DATASET`` or :data:`DEFAULT_DATASET`."""
    return os.environ.get("NIDSLAB_DATASET") or DEFAULT_DATASET


def dataset_dir(name: str) -> Path:
    """The cache folder of dataset ``name`` (it need not exist)."""
    _check_name(name)
    return datasets_dir() / name


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise DataError(f"{name!r} is not a valid dataset name: use letters, digits, '.', '_' and '-' "
                        "(at most 100, starting with a letter or digit)")


# --------------------------------------------------------------------------------------------- write


def write_dataset(name_or_dir: str | os.PathLike, X: np.ndarray, y: np.ndarray, *,
                  feature_names: Sequence[str] | None = None, labels: dict[str, np.ndarray] | None = None,
                  sources: Sequence[dict[str, Any]] = (), extra: dict[str, Any] | None = None,
                  progress: Progress | None = None, arrays: dict[str, np.ndarray] | None = None,
                  attachments: Mapping[str, str | os.PathLike] | None = None) -> Dataset:
    """Write ``X`` (rows, k) and ``y`` (rows,) as a dataset folder, atomically, and open it.

    ``name_or_dir`` is a dataset name (cached under :func:`nidslab.paths.datasets_dir`) or a folder path.
    ``feature_names`` default to the 115 Kitsune names (then ``X`` must have 115 columns). ``labels`` holds
    other label sets of the same rows (kind -> uint8 array). ``sources`` describe where the data came from;
    ``extra`` is stored under ``meta["extra"]``. ``arrays``: other per-row arrays of any dtype (name ->
    (rows, ...) array, stored as ``rows-<name>.npy``, opened as ``Dataset.arrays``). ``attachments``: files
    moved into the folder (relative name -> existing path; e.g. the captures a dataset was made from),
    listed with their size and sha256 like the arrays. An existing dataset of that name is replaced.
    """
    dest = Path(name_or_dir) if _is_pathlike(name_or_dir) else dataset_dir(str(name_or_dir))
    names = tuple(feature_names) if feature_names is not None else schema.FEATURE_NAMES
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = _check_labels(np.asarray(y), "y")
    if X.ndim != 2 or X.shape[1] != len(names):
        raise DataError(f"features have shape {X.shape}; expected (rows, {len(names)}) for the feature names given")
    if len(X) != len(y):
        raise DataError(f"features have {len(X):,} rows but labels have {len(y):,}")
    if len(set(names)) != len(names):
        raise DataError("feature names must be unique")
    extra_labels = {k: _check_labels(np.asarray(v), f"labels[{k!r}]") for k, v in (labels or {}).items()}
    for kind, v in extra_labels.items():
        if not re.match(r"^[a-z0-9_]+$", kind) or len(v) != len(y):
            raise DataError(f"label set {kind!r}: needs a lower-case name and {len(y):,} rows, got {len(v):,}")
    row_arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    for kind, v in row_arrays.items():
        if not re.match(r"^[a-z0-9_]+$", kind) or len(v) != len(y):
            raise DataError(f"array {kind!r}: needs a lower-case name and {len(y):,} rows, got {len(v):,}")

    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.parent == datasets_dir():  # only the cache: a folder of the user's is not ours to tidy
        clean_stale(dest.parent)
    tmp = make_temp_dir(dest.parent, dest.name)
    try:
        files = {"features.npy": X, "labels.npy": y}
        files.update({f"labels-{k}.npy": v for k, v in extra_labels.items()})
        files.update({f"rows-{k}.npy": v for k, v in row_arrays.items()})
        entries = {}
        for i, (fname, arr) in enumerate(files.items()):
            if progress:
                progress(i, len(files), f"writing {fname}")
            np.save(tmp / fname, arr)
            entries[fname] = {"bytes": (tmp / fname).stat().st_size, "sha256": sha256_file(tmp / fname),
                              "shape": list(arr.shape), "dtype": arr.dtype.str}
        for rel, src in (attachments or {}).items():
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise DataError(f"attachment {rel!r}: expected a relative name inside the dataset folder")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(os.fspath(src), tmp / rel)
            entries[rel] = {"bytes": (tmp / rel).stat().st_size, "sha256": sha256_file(tmp / rel)}
        counts = np.bincount(y, minlength=2)
        meta = {
            "format": FORMAT_VERSION,
            "name": dest.name,
            "schema": "kitsune-115" if names == schema.FEATURE_NAMES else "custom",
            "rows": int(len(y)),
            "n_features": len(names),
            "feature_names": list(names),
            "class_counts": {"benign": int(counts[0]), "malicious": int(counts[1])},
            "label_sets": ["default", *extra_labels],
            **({"row_arrays": list(row_arrays)} if row_arrays else {}),
            "files": entries,
            "sources": list(sources),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "nidslab": __version__,
            "extra": extra or {},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        (tmp / OWNER_FILE).unlink()
        _replace_dir(tmp, dest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if (named := disk_error(exc, dest)) is not None:  # a full disk names the dataset, not numpy's byte counts
            raise named from None
        raise
    if progress:
        progress(len(files), len(files), f"wrote {dest.name}")
    return _open_dir(dest)


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` to ``dest``; an existing ``dest`` is moved aside first and removed after."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_labels(y: np.ndarray, what: str) -> np.ndarray:
    if y.ndim != 1:
        raise DataError(f"{what}: labels must be one value per row, got shape {y.shape}")
    if y.dtype != np.uint8:
        bad = ~np.isin(y, (0, 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{what}: labels must be 0 (benign) or 1 (malicious); row {i + 1} holds {y[i].item()!r}")
        y = y.astype(np.uint8)
    elif y.size and y.max() > 1:
        i = int(np.argmax(y > 1))
        raise DataError(f"{what}: labels must be 0 (benign) or 1 (malicious); row {i + 1} holds {y[i]}")
    return np.ascontiguousarray(y)


def _is_pathlike(x: Any) -> bool:
    return isinstance(x, Path) or (isinstance(x, str) and (os.sep in x or x.startswith(".")))


# --------------------------------------------------------------------------------------------- open


def open_dataset(name_or_path: str | os.PathLike = "default", *, progress: Progress | None = None,
                 verify: bool = False, rows: int | None = None, seed: int = 0) -> Dataset:
    """Open a dataset by name (cached, built-in, or ``kitsune-<attack>``) or by folder path.

    ``"default"`` is :func:`default_dataset`. A built-in dataset (``mirai-sim``, ``synthetic``) is made on
    first use; ``rows`` and ``seed`` choose a non-default size or seed for it (cached under a name such as
    ``mirai-sim-20000-s1``). ``kitsune-mirai`` (or another attack) is downloaded and imported on first use.
    Raises :class:`~nidslab.errors.CacheError` when the cached files no longer match ``meta.json``
    (built-in datasets are then rebuilt instead, as they are when an older recipe made them: see
    ``BUILTIN_RECIPES``), :class:`~nidslab.errors.DataError` for unknown names.
    """
    name = str(name_or_path)
    if name == "default":
        name = default_dataset()
    if _is_pathlike(name_or_path) or Path(name).is_dir() and (Path(name) / "meta.json").exists():
        path = Path(name_or_path)
        if path.is_file():
            raise DataError(f"{path}: is a file, not a dataset folder; import it first with "
                            f"`nidslab data import {path} LABELS --name NAME`")
        if not (path / "meta.json").exists():
            raise DataError(f"{path}: not a nidslab dataset folder (no meta.json)")
        return _open_dir(path, verify=verify)

    base = name
    if base in BUILTIN_DATASETS and (rows is not None or seed != 0):
        name = f"{base}-{rows or MIRAI_ROWS}-s{seed}"
    folder = dataset_dir(name)
    if (folder / "meta.json").exists():
        try:
            ds = _open_dir(folder, verify=verify)
            if base not in BUILTIN_DATASETS or ds.meta.get("extra", {}).get("recipe") == BUILTIN_RECIPES[base]:
                return ds
            # made by another version of nidslab's recipe: make it again (below)
        except CacheError:
            if base not in BUILTIN_DATASETS:
                raise
            # a built-in dataset is deterministic: make it again rather than fail
    if base == "mirai-sim":
        return _build_mirai_sim(name, rows or MIRAI_ROWS, seed, progress)
    if base == "synthetic":
        from nidslab.data.synthetic import make_synthetic

        X, y = make_synthetic(rows or MIRAI_ROWS, seed=seed)
        return write_dataset(name, X, y, extra={"builtin": "synthetic", "recipe": BUILTIN_RECIPES["synthetic"],
                                                "rows": len(y), "seed": seed},
                             sources=[{"kind": "synthetic", "seed": seed}], progress=progress)
    if base.startswith("kitsune-"):
        return _fetch_kitsune(base.removeprefix("kitsune-"), name, progress)
    if base == "mirai-sim-family":  # many drawn networks (nidslab.data.family); built on first use
        from nidslab.data.family import open_family

        return open_family(base, progress=progress).dataset
    known = [d["name"] for d in list_datasets()]
    raise DataError(f"no dataset named {name!r}. Cached: {', '.join(known) or 'none'}; built in: "
                    f"{', '.join(BUILTIN_DATASETS)}, mirai-sim-family (`nidslab data build mirai-sim-family`); downloadable: kitsune-mirai (and the other Kitsune attacks). "
                    "Import your own with `nidslab data import FEATURES LABELS --name NAME`.")


def _open_dir(folder: Path, *, verify: bool = False) -> Dataset:
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        files = meta["files"]
        names = tuple(meta["feature_names"])
        rows = int(meta["rows"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CacheError(f"{meta_path}: unreadable or incomplete ({exc}); remove the folder and import again") from None
    for fname, entry in files.items():
        f = folder / fname
        hint = f"the cache at {folder} is damaged; remove it (`nidslab data remove {folder.name}`) and import again"
        if not f.exists():
            raise CacheError(f"{f}: missing; {hint}")
        size = f.stat().st_size
        if size != entry["bytes"]:
            raise CacheError(f"{f}: {size:,} bytes, meta.json says {entry['bytes']:,}; {hint}")
        if verify and sha256_file(f) != entry["sha256"]:
            raise CacheError(f"{f}: sha256 differs from meta.json; {hint}")
    try:
        X = np.load(folder / "features.npy", mmap_mode="r")
        y = np.load(folder / "labels.npy", mmap_mode="r")
        extra = {k: np.load(folder / f"labels-{k}.npy", mmap_mode="r") for k in meta.get("label_sets", [])
                 if k != "default"}
        arrays = {k: np.load(folder / f"rows-{k}.npy", mmap_mode="r") for k in meta.get("row_arrays", [])}
    except (OSError, ValueError) as exc:
        raise CacheError(f"{folder}: cannot read the cached arrays ({exc})") from None
    if X.dtype != np.float32 or X.shape != (rows, len(names)) or y.shape != (rows,) or y.dtype != np.uint8:
        raise CacheError(f"{folder}: arrays are {X.shape} {X.dtype} and {y.shape} {y.dtype}; meta.json says "
                         f"({rows}, {len(names)}) float32 and ({rows},) uint8")
    for k, v in arrays.items():
        if len(v) != rows:
            raise CacheError(f"{folder}: rows-{k}.npy has {len(v):,} rows; meta.json says {rows:,}")
    return Dataset(name=meta.get("name", folder.name), path=folder, X=X, y=y, feature_names=names,
                   labels={"default": y, **extra}, meta=meta, arrays=arrays)


# --------------------------------------------------------------------------------------------- import


def import_dataset(features: str | os.PathLike | np.ndarray, labels: str | os.PathLike | np.ndarray | None,
                   name: str, *, nonfinite: str = "error", feature_names: Sequence[str] | None = None,
                   progress: Progress | None = None) -> Dataset:
    """Read features and labels (files in any form :mod:`nidslab.data.readers` knows, or arrays) and cache them.

    ``labels`` may be None when the features file carries them (an N-BaIoT CSV's ``Normal`` column, a
    ``label`` column). The row counts must agree. Returns the opened :class:`Dataset`.
    """
    _check_name(name)
    if name in BUILTIN_DATASETS:
        raise DataError(f"{name!r} is a built-in dataset's name; choose another --name")
    sources: list[dict[str, Any]] = []
    from_file = None
    if isinstance(features, np.ndarray):
        X = features
        sources.append({"kind": "array", "shape": list(X.shape)})
    else:
        from nidslab.data.readers import read_table

        fpath = Path(features)
        X, from_file = read_table(fpath, nonfinite=nonfinite, progress=progress)
        sources.append(_source(fpath, "features"))
    if labels is None:
        if from_file is None:
            raise DataError(f"{features}: holds no label column; give a labels file too")
        y = from_file
    elif isinstance(labels, np.ndarray):
        y = labels
        sources.append({"kind": "array", "shape": list(labels.shape)})
    else:
        from nidslab.data.readers import read_labels

        y = read_labels(Path(labels))
        sources.append(_source(Path(labels), "labels"))
    if len(X) != len(y):
        raise DataError(f"{_what(features)} has {len(X):,} rows but {_what(labels)} has {len(y):,}; "
                        "they must describe the same packets")
    if isinstance(features, np.ndarray) and nonfinite != "keep":
        bad = ~np.isfinite(X)
        if bad.any():
            if nonfinite == "zero":
                X = np.where(bad, 0, X)
            else:
                r, c = np.argwhere(bad)[0]
                raise DataError(f"features: {int(bad.sum()):,} NaN/inf cells, the first at row {r + 1}, column "
                                f"{c + 1}; clean them, or pass nonfinite='zero'")
    return write_dataset(name, X, y, feature_names=feature_names, sources=sources, progress=progress)


def _source(path: Path, kind: str) -> dict[str, Any]:
    return {"kind": kind, "path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _what(x: Any) -> str:
    return "the features array" if isinstance(x, np.ndarray) else ("the labels array" if x is None else str(x))


# --------------------------------------------------------------------------------------------- list / remove


def list_datasets() -> list[dict[str, Any]]:
    """Every cached dataset: name, rows, features, class counts, size on disk, created, source kinds."""
    out = []
    root = datasets_dir()
    for folder in sorted(root.iterdir()) if root.exists() else []:
        meta_path = folder / "meta.json"
        if folder.name.startswith(".") or not meta_path.exists():
            continue
        try:
            meta = json.loads(meta_path.read_text())
            out.append({"name": folder.name, "rows": meta["rows"], "n_features": meta["n_features"],
                        "benign": meta["class_counts"]["benign"], "malicious": meta["class_counts"]["malicious"],
                        "bytes": sum(e["bytes"] for e in meta["files"].values()), "created": meta.get("created"),
                        "source": ", ".join(sorted({s.get("kind", "?") for s in meta.get("sources", [])}))})
        except (ValueError, KeyError, TypeError):
            out.append({"name": folder.name, "rows": None, "n_features": None, "benign": None, "malicious": None,
                        "bytes": None, "created": None, "source": "damaged meta.json"})
    return out


def list_leftovers() -> list[Leftover]:
    """Temporary folders and captures in the cache: unfinished writes, live or left by a killed one."""
    return find_leftovers(datasets_dir())


def remove_dataset(name: str) -> Path:
    """Delete a cached dataset's folder; returns the path removed."""
    folder = dataset_dir(name)
    if not folder.exists():
        raise DataError(f"no cached dataset named {name!r} (at {folder})")
    shutil.rmtree(folder)
    return folder


# --------------------------------------------------------------------------------------------- builders


def _build_mirai_sim(name: str, packets: int, seed: int, progress: Progress | None) -> Dataset:
    """simulate -> capture -> extract (uci layout) -> cache. The capture is deleted afterwards."""
    from nidslab.features import extract_features
    from nidslab.features.extract import compile_link_kernel_in_background
    from nidslab.simulate import simulate_capture

    compile_link_kernel_in_background()  # a fresh checkout: the link kernel compiles while this simulates
    clean_stale(datasets_dir())  # a killed build's capture and folders go before a new one is made
    work = datasets_dir() / ".build"
    work.mkdir(parents=True, exist_ok=True)
    pcap = work / f"{name}.{os.getpid()}.pcap"
    try:
        sim = simulate_capture(pcap, packets=packets, seed=seed,
                               progress=_stage(progress, "simulating the IoT network"))
        X = extract_features(pcap, layout="uci", progress=_stage(progress, "extracting features"))
        if len(X) != sim.n_packets:
            raise DataError(f"the simulated capture gave {len(X):,} feature rows for {sim.n_packets:,} packets")
        return write_dataset(name, X, sim.labels_kitsune, labels={"truth": sim.labels_truth},
                             sources=[{"kind": "simulation", "packets": packets, "seed": seed}],
                             extra={"builtin": "mirai-sim", "recipe": BUILTIN_RECIPES["mirai-sim"],
                                    "simulation": sim.to_dict()}, progress=progress)
    finally:
        pcap.unlink(missing_ok=True)


def _fetch_kitsune(attack: str, name: str, progress: Progress | None) -> Dataset:
    from nidslab.data.downloader import download

    paths = download(attack, progress=progress)
    return import_dataset(paths["features"], paths["labels"], name, progress=progress)


def _stage(progress: Progress | None, stage: str) -> Progress | None:
    if progress is None:
        return None

    def report(done: int, total: int | None, message: str = "") -> None:
        progress(done, total, message or stage)

    return report
