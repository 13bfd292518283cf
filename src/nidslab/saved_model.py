"""A trained model as a folder, written atomically and read without unpickling user files.

Layout::

    model/
      weights.pt         torch.save(state_dict), loaded with weights_only=True (tensors only)
      spec.json          ModelSpec fields and n_inputs
      standardizer.json  the fitted standardiser's dict (nidslab.data.prep.Standardizer.to_dict())
      features.json      the feature names, in column order
      metrics.json       evaluation metrics (any JSON dict)
      history.json       the training History
      meta.json          format version, nidslab and torch versions
      thresholds.json    optional: decision thresholds for target false-positive rates (on the logit scale),
                         picked from validation benign rows at training time (see :func:`thresholds_doc`)
                         or from a site's benign traffic (:mod:`nidslab.calibrate`)
      calibration.json   optional: what :func:`nidslab.calibrate.calibrate` saw at the site and re-fitted
      kitnet.npz         optional: a KitNET trained on the site's benign traffic (a second opinion)

The folder is built beside its destination and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nidslab.errors import CacheError, DataError, UnknownNameError
from nidslab.model import DNN, ModelSpec, build_model
from nidslab.paths import temp_dir, write_bytes_atomic

FORMAT = 1
FILES = ("weights.pt", "spec.json", "standardizer.json", "features.json", "metrics.json", "history.json", "meta.json")


@dataclass
class SavedModel:
    """A model folder loaded back: the network (eval mode, CPU) and everything saved with it."""

    path: Path
    model: DNN
    spec: ModelSpec
    standardizer: dict | None
    feature_names: list[str]
    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    thresholds: dict | None = None
    calibration: dict | None = None  # calibration.json: the site this model was calibrated to, if any

    def threshold_for(self, target_fpr: float) -> float:
        """The stored logit threshold for ``target_fpr`` (flag a row when its logit is ``>=`` it).

        Raises :class:`DataError` when the folder has no thresholds or none for that rate."""
        points = (self.thresholds or {}).get("points", [])
        for p in points:
            if abs(p["target_fpr"] - target_fpr) <= 1e-12 * max(1.0, target_fpr):
                return float(p["threshold"])
        have = ", ".join(f"{p['target_fpr']:g}" for p in points) or "none (trained before thresholds were saved)"
        raise DataError(f"{self.path} has no threshold for a false-positive rate of {target_fpr:g}; stored: {have}")

    def check_features(self, names: Sequence[str], *, source: str = "the data") -> None:
        """Raise :class:`DataError` unless ``names`` are this model's features in this order."""
        check_features(self.feature_names, list(names), model=self.path, source=source)

    def inputs(self, X: np.ndarray, *, source: str = "the data") -> np.ndarray:
        """The network's inputs from raw features ``X``: ``(n, 115)`` Kitsune features (this model's
        columns are selected) or ``(n, k)`` already in this model's ``k`` columns, standardised with the
        saved standardiser. Returns ``(n, k)`` float32; :class:`DataError` names ``source`` otherwise."""
        from nidslab import schema

        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"{source}: features must be a 2-D table, got shape {X.shape}")
        if X.shape[1] == schema.N_FEATURES:
            try:
                columns = schema.indices(self.feature_names)
            except UnknownNameError as exc:
                raise DataError(f"{self.path / 'features.json'}: {exc}; this model cannot score a 115-column "
                                "table") from None
            X = X[:, columns]
        elif X.shape[1] != len(self.feature_names):
            raise DataError(f"{source}: {X.shape[1]} columns; expected the {schema.N_FEATURES} Kitsune features "
                            f"or the model's own {len(self.feature_names)}")
        if self.standardizer:
            from nidslab.data.prep import Standardizer

            X = Standardizer.from_dict(self.standardizer).transform(X)
        return np.ascontiguousarray(X, dtype=np.float32)

    def predict(self, X: np.ndarray, *, source: str = "the data") -> np.ndarray:
        """Scores ``(n,)`` float32 of raw features ``X`` (see :meth:`inputs`): the malicious-class
        probability for a binary head, the predicted value for a regression head."""
        from nidslab.evaluate import predict_scores

        return predict_scores(self.model, self.inputs(X, source=source))

    def predict_raw(self, X: np.ndarray, *, source: str = "the data") -> np.ndarray:
        """Raw outputs ``(n,)`` float32 of raw features ``X`` (see :meth:`inputs`): logits for a binary head,
        on the scale of the stored thresholds (:meth:`threshold_for`)."""
        from nidslab.evaluate import predict_raw

        return predict_raw(self.model, self.inputs(X, source=source))


def check_features(expected: list[str], got: list[str], *, model: Any = "the model", source: str = "the data") -> None:
    """Raise :class:`DataError` naming what differs between the model's and the data's features."""
    if list(expected) == list(got):
        return
    missing = [n for n in expected if n not in set(got)]
    extra = [n for n in got if n not in set(expected)]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if extra:
        parts.append(f"unexpected {len(extra)}: {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")
    if not parts:
        i = next(i for i, (a, b) in enumerate(zip(expected, got)) if a != b)
        parts.append(f"same names in another order (column {i} is {got[i]!r}, the model expects {expected[i]!r})")
    raise DataError(f"{source} does not have the features {model} was trained on "
                    f"({len(expected)} expected, {len(got)} given): {'; '.join(parts)}")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    return obj


def is_model_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder :func:`save_model` wrote (its meta.json names a format, weights.pt is there)."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "format" in meta and (path / "weights.pt").is_file()


#: Files a model folder holds besides FILES: thresholds, and the curves `nidslab train` draws beside them
OWN_EXTRAS = ("thresholds.json", "loss.png", "accuracy.png")


def _others(path: Path) -> list[str]:
    """Names in model folder ``path`` that are not the model's own (the user's files, kept or refused)."""
    own = set(FILES) | set(OWN_EXTRAS)
    return sorted(p.name for p in path.iterdir() if p.name not in own)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_destination(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse (:class:`DataError`) to save a model over anything but a model folder of the model's own files
    or an empty folder.

    A file, a link, a folder of other files, or a model folder that also holds other files (scores written
    into it) would be lost: it is replaced only with ``overwrite``. Call it before training, so the mistake
    costs nothing. Returns ``path``.
    """
    path = Path(path)
    if overwrite or not os.path.lexists(path):
        return path
    again = "Choose another output folder, or pass --overwrite to replace it"
    if path.is_symlink():
        target = os.readlink(path)
        inside = _shown(sorted(p.name for p in path.iterdir())) if path.is_dir() else ""
        what = f"a folder holding {inside}" if inside else ("an empty folder" if path.is_dir() else "a file")
        raise DataError(f"{path}: is a link to {target} ({what}), not a model folder; saving the model there would "
                        f"replace the link. {again}")
    if path.is_dir():
        if is_model_folder(path):
            others = _others(path)
            if not others:
                return path
            raise DataError(f"{path}: is a model folder that also holds other files ({_shown(others)}); saving the "
                            f"model there would delete them. Move them out, choose another output folder, or pass "
                            "--overwrite to replace it all")
        held = sorted(p.name for p in path.iterdir())
        if not held:
            return path
        raise DataError(f"{path}: is a folder of other files ({_shown(held)}), not a nidslab model folder; saving the "
                        f"model there would delete them. {again}")
    raise DataError(f"{path}: is a file, not a model folder; saving the model there would delete it. {again}")


def thresholds_doc(val_benign_logits: np.ndarray, *, split: str, targets: Sequence[float] | None = None) -> dict:
    """The thresholds.json document: for each target false-positive rate, the logit threshold picked from
    the validation split's benign rows (:func:`nidslab.evaluate.threshold_for_fpr`), the rate it reaches
    there, and whether the rows can resolve it (``target * rows >= 1``)."""
    from nidslab.evaluate import TARGET_FPRS, threshold_for_fpr

    s = np.asarray(val_benign_logits).ravel()
    points = []
    for f in targets or TARGET_FPRS:
        t = threshold_for_fpr(s, f)  # in the logits' own precision (see threshold_for_fpr)
        points.append({"target_fpr": float(f), "threshold": t, "validation_fpr": float(np.mean(s >= t)),
                       "resolvable": bool(f * s.size >= 1)})
    return {"score": "logit", "rule": "malicious when logit >= threshold", "split": split,
            "validation_benign_rows": int(s.size), "points": points}


def save_model(path: str | os.PathLike, model: DNN, spec: ModelSpec | None = None, *, standardizer: Any = None,
               feature_names: Sequence[str], metrics: dict | None = None, history: Any = None,
               thresholds: dict | None = None, overwrite: bool = False, calibration: dict | None = None,
               extra_files: dict[str, bytes] | None = None) -> Path:
    """Write ``model`` and what it needs to be used again as folder ``path``; returns the folder's path.

    An existing model folder at ``path`` is replaced; anything else there (a file, a folder of other files) is
    refused with :class:`DataError` unless ``overwrite`` (see :func:`check_destination`). ``standardizer``: a dict
    (or anything with ``to_dict()``); ``history``: a History or dict; ``thresholds``: a :func:`thresholds_doc`
    (written as thresholds.json); ``calibration``: the site record (calibration.json, see
    :mod:`nidslab.calibrate`); ``extra_files``: more files by name (bytes, e.g. ``kitnet.npz``). A full disk raises OSError(ENOSPC) and
    leaves ``path`` as it was.
    """
    path = check_destination(path, overwrite=overwrite)
    spec = spec or model.spec
    n_inputs = int(getattr(model, "n_inputs", len(feature_names)))
    if len(feature_names) != n_inputs:
        raise ValueError(f"{len(feature_names)} feature names for a model of {n_inputs} inputs")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(path)
    try:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        buf = io.BytesIO()
        torch.save(state, buf)  # to memory: torch.save to a file reports a full disk as a RuntimeError
        write_bytes_atomic(tmp / "weights.pt", buf.getbuffer())
        docs = {
            "spec.json": {**spec.to_dict(), "n_inputs": n_inputs},
            "standardizer.json": _jsonable(standardizer),
            "features.json": list(feature_names),
            "metrics.json": _jsonable(metrics or {}),
            "history.json": _jsonable(history or {}),
            "meta.json": {"format": FORMAT, "nidslab": _version(), "torch": torch.__version__},
        }
        if thresholds is not None:
            docs["thresholds.json"] = _jsonable(thresholds)
        if calibration is not None:
            docs["calibration.json"] = _jsonable(calibration)
        for name, data in (extra_files or {}).items():
            write_bytes_atomic(tmp / name, data)
        for name, doc in docs.items():
            (tmp / name).write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
        old = None
        if os.path.lexists(path):
            old = path.with_name(f".{path.name}.old")
            _remove(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            _remove(old)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.filename is None or str(exc.filename).startswith(str(tmp)):  # name the folder, not our temp one
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def read_weights(path: str | os.PathLike, *, what: str = "weights file", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never other pickled objects.

    A file holding anything else (a pickle that could run code) or a damaged file raises :class:`CacheError`
    in one line saying it was refused and why; never torch's text, whose advice (``weights_only=False``) would
    run the file's code.
    """
    import pickle
    import re
    import warnings

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns in several lines about the pickle protocol of odd files
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"operand (\d+)", text)
        why = ("it names " + found.group(1) if found and found.group(0).startswith("GLOBAL") else
               f"pickle operand {found.group(1)}" if found else "objects torch's safe loader does not allow")
        raise CacheError(f"{path}: refused: cannot be read as a plain {what} ({why}); it pickles Python objects "
                         "beyond tensors, which could run code") from None
    except Exception as exc:  # cut short, random bytes, another format
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise CacheError(f"{path}: refused: cannot be read as a {what}, the file is damaged or not nidslab's "
                         f"({type(exc).__name__}: {first[:100]})") from None


def load_model(path: str | os.PathLike, *, feature_names: Sequence[str] | None = None) -> SavedModel:
    """Read a folder written by :func:`save_model`. The model comes back in eval mode on the CPU.

    With ``feature_names``, refuse (:class:`DataError`) a model trained on other features.
    A folder with missing or inconsistent files raises :class:`CacheError` naming the file.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a model folder (train one with `nidslab train`)")
    for name in FILES:
        if not (path / name).exists():
            raise CacheError(f"{path} is not a complete model folder: {name} is missing")

    def read(name: str) -> Any:
        try:
            return json.loads((path / name).read_text())
        except json.JSONDecodeError as exc:
            raise CacheError(f"{path / name} is not valid JSON: {exc}") from None

    spec_d = read("spec.json")
    n_inputs = spec_d.pop("n_inputs", None)
    try:
        spec = ModelSpec.from_dict(spec_d)
    except (TypeError, ValueError) as exc:
        raise CacheError(f"{path / 'spec.json'}: {exc}") from None
    names = read("features.json")
    if n_inputs != len(names):
        raise CacheError(f"{path}: spec.json says {n_inputs} inputs, features.json names {len(names)}")
    state = read_weights(path / "weights.pt")
    model = build_model(spec, int(n_inputs))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CacheError(f"{path / 'weights.pt'} does not fit spec.json: {exc}") from None
    model.eval()
    saved = SavedModel(path=path, model=model, spec=spec, standardizer=read("standardizer.json"),
                       feature_names=list(names), metrics=read("metrics.json"), history=read("history.json"),
                       thresholds=read("thresholds.json") if (path / "thresholds.json").is_file() else None,
                       calibration=read("calibration.json") if (path / "calibration.json").is_file() else None)
    if feature_names is not None:
        saved.check_features(feature_names)
    return saved


def _version() -> str:
    with contextlib.suppress(Exception):
        from nidslab import __version__

        return __version__
    return "unknown"


__all__ = ["save_model", "load_model", "read_weights", "SavedModel", "check_features", "check_destination",
           "is_model_folder",
           "thresholds_doc"]
