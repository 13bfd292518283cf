"""results.json: each part's typed result, serialised under the part's name, and read back strictly.

A part's ``Result`` is a dataclass. :func:`to_plain` turns it into JSON-ready data (the exact layout of
results.json); :func:`from_plain` reads it back and fails loudly (:class:`ResultsLayoutError`, naming the
part and the field) when a field is missing or unknown, so a renamed field can never turn into "Not
measured" in the report. A part the study did not run is stored as ``{"not_run": "<why>"}``
(:class:`NotRun`), never as a missing key.

The layout is documented in docs/results-schema.md, written from these dataclasses by
:func:`nidslab.study.schema_doc.write_schema`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

import numpy as np

T = TypeVar("T")

#: the key of a part's entry in results.json when the study did not run it
NOT_RUN_KEY = "not_run"


class ResultsLayoutError(ValueError):
    """results.json does not have the layout the code reads (a field renamed, missing or unknown)."""


@dataclasses.dataclass(frozen=True)
class NotRun:
    """A part the study did not run, and why (results.json: ``{"not_run": why}``)."""

    why: str

    def to_plain(self) -> dict[str, str]:
        return {NOT_RUN_KEY: self.why}


def optional(doc: str = "") -> Any:
    """A result field that may be absent: None, and then left out of results.json."""
    return dataclasses.field(default=None, metadata={"optional": True, "doc": doc})


def doc(text: str, **kw: Any) -> Any:
    """A documented result field (the text goes into docs/results-schema.md)."""
    return dataclasses.field(metadata={"doc": text}, **kw)


def is_not_run(raw: Any) -> bool:
    """True for a part's entry that says it was not run (``null`` in results.json files before 2026-12)."""
    return raw is None or (isinstance(raw, dict) and set(raw) == {NOT_RUN_KEY})


def not_run_as_none(results: dict[str, Any]) -> dict[str, Any]:
    """results.json with every part that was not run as None (what the questions and the summary read)."""
    return {k: (None if k not in ("meta", "questions") and is_not_run(v) else v) for k, v in results.items()}


def to_plain(value: Any) -> Any:
    """JSON-ready data of a result: dataclasses as dicts (optional None fields left out), tuples as lists,
    NumPy scalars and arrays as Python numbers and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, NotRun):
            return value.to_plain()
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None and f.metadata.get("optional"):
                continue
            out[f.name] = to_plain(v)
        return out
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def from_plain(cls: type[T], raw: Any, where: str) -> T:
    """``cls`` (a Result dataclass, or ``dict[str, Result]``) read from results.json data ``raw``.

    Raises ResultsLayoutError naming ``where`` (e.g. ``search``) and the field when a field the code
    reads is missing, or the data holds a field the code does not know."""
    return typing.cast(T, _read(cls, raw, where))


def _read(tp: Any, raw: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(raw, dict):
            raise ResultsLayoutError(f"results.json: {where} must be an object, got {type(raw).__name__}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise ResultsLayoutError(f"results.json: {where} has field(s) {', '.join(unknown)} that "
                                     f"{tp.__name__} does not declare (expected {', '.join(fields)}); was a "
                                     "field renamed?")
        kw = {}
        for name, f in fields.items():
            if name not in raw:
                if f.metadata.get("optional") or f.default is not dataclasses.MISSING:
                    continue
                raise ResultsLayoutError(f"results.json: {where} has no field {name!r} ({tp.__name__} needs it); "
                                         "was it renamed?")
            kw[name] = _read(hints[name], raw[name], f"{where}/{name}")
        return tp(**kw)
    if origin is dict and typing.get_args(tp):
        _, value_type = typing.get_args(tp)
        if not isinstance(raw, dict):
            raise ResultsLayoutError(f"results.json: {where} must be an object, got {type(raw).__name__}")
        return {k: _read(value_type, v, f"{where}/{k}") for k, v in raw.items()}
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None:
            return None
        if len(args) == 1:
            return _read(args[0], raw, where)
        return raw
    return raw


def type_name(tp: Any) -> str:
    """A short name of a field's type for the schema (``int``, ``list[float]``, ``Metrics or null``)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is not None:
        inner = ", ".join(type_name(a) for a in typing.get_args(tp))
        base = {dict: "dict", list: "list", tuple: "list"}.get(origin, getattr(origin, "__name__", str(origin)))
        return f"{base}[{inner}]" if inner else base
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


__all__ = ["NOT_RUN_KEY", "NotRun", "ResultsLayoutError", "doc", "from_plain", "is_not_run", "not_run_as_none", "optional",
           "to_plain", "type_name"]
