"""docs/results-schema.md, written from the parts' Result dataclasses (the one source of the layout).

``python -m nidslab.study.schema_doc`` rewrites the file; a test checks that the committed file equals
:func:`schema_markdown`'s output.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

from nidslab.paths import atomic_write
from nidslab.study import registry
from nidslab.study.results import NOT_RUN_KEY, type_name

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "results-schema.md"

_HEAD = f"""# results.json

Written by `nidslab lab` (`nidslab.study.run_study`) beside report.html; the report is rebuilt from it alone
(`nidslab lab report RUN_DIR`). This file is generated from the parts' `Result` dataclasses by
`python -m nidslab.study.schema_doc`; a test checks that it matches the code.

Top level: `meta` (the run: title, study_file, quick, full, dataset, dataset_source, dataset_fingerprint,
nidslab_version, finished_utc, wall_s, executor, `parts` (per cached unit: seconds, cached, key), `study` (every
setting)), then one entry per part below, in this order, then `questions` (the 21 answers: id, part,
question, answer, evidence [path, kind, value, text]).

A part the study did not run is `{{"{NOT_RUN_KEY}": "<why>"}}` (files written before 2026-12: `null`). A part's
entry is read back strictly: a field missing or unknown stops the report with an error naming it. Optional
fields (marked *optional*) are left out when they do not apply.
"""


def _fields(cls: type) -> list[str]:
    hints = typing.get_type_hints(cls)
    rows = ["| field | type | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        text = f.metadata.get("doc", "")
        if f.metadata.get("optional"):
            text = f"*optional*; {text}" if text else "*optional*"
        rows.append(f"| `{f.name}` | {type_name(hints[f.name])} | {text} |")
    return rows


def _part(part: ModuleType) -> list[str]:
    result: Any = part.Result
    first = (part.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    out = [f"## `{part.NAME}`", "", first, ""]
    needs = ", ".join(f"`{n}`" for n in part.NEEDS) or "none"
    table = f"`[{part.NAME}]`" if part.Config is not None else "none (runs in every study)"
    if getattr(part, "TABLES", None):
        table = f"`{part.TABLES}`"
    out += [f"Study-file table: {table}. Needs: {needs}. Cached: {part.CACHE}.", ""]
    if isinstance(result, type) and dataclasses.is_dataclass(result):
        out += _fields(result)
    else:  # dict[str, SomeResult]
        value = typing.get_args(result)[1]
        out += [f"An object: one `{value.__name__}` per name.", "", f"### `{value.__name__}`", ""]
        out += _fields(value)
    nested: set[type] = {t for t in typing.get_type_hints(result).values()
                         if isinstance(t, type) and dataclasses.is_dataclass(t)} if isinstance(result, type) else set()
    for t in sorted(nested, key=lambda t: t.__name__):
        out += ["", f"### `{t.__name__}` (in `{part.NAME}`)", "", "As in `experiments`."]
    for t in _contained(result):  # dataclasses inside a field's dict or list: documented here
        out += ["", f"### `{t.__name__}` (in `{part.NAME}`)", ""] + _fields(t)
    return out + [""]


def _contained(cls: Any) -> list[type]:
    """The dataclasses that ``cls``'s fields hold inside a dict or a list (and theirs), in reading order."""
    found: list[type] = []

    def inner(tp: Any, top: bool) -> None:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not top and tp not in found:
                found.append(tp)
                walk(tp)
            return
        for arg in typing.get_args(tp):
            inner(arg, top and typing.get_origin(tp) not in (dict, list, tuple))

    def walk(c: type) -> None:
        for tp in typing.get_type_hints(c).values():
            inner(tp, True)

    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        walk(cls)
    return found


def schema_markdown(parts: list[ModuleType] | None = None) -> str:
    """The whole schema document."""
    lines = [_HEAD]
    for part in registry.PARTS if parts is None else parts:
        lines += _part(part)
    return "\n".join(lines).rstrip() + "\n"


def write_schema(path: str | Path = DOC_PATH) -> Path:
    """Write :func:`schema_markdown` to ``path`` (default: docs/results-schema.md of this checkout)."""
    path = Path(path)
    with atomic_write(path, "w") as fh:
        fh.write(schema_markdown())
    return path


if __name__ == "__main__":
    print(write_schema(sys.argv[1] if len(sys.argv) > 1 else DOC_PATH))
