"""docs/contracts.md names the public API: every function it shows with arguments exists in the module it
names, with parameters of those names (issue 22, item 10)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "contracts.md"
#: a call in backticks: `name(args)`, optionally with a return type; methods (`.name(`) are skipped
CALL = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)\(([^`]*?)\)(?: -> [^`]*)?`")


def _rows() -> list[tuple[str, str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `(nidslab(?:\.[a-z_]+)*)(?:\.<name>)?`[^|]*\| (.*) \|$", line)
        if m and "<name>" not in line.split("|")[1]:
            rows.append((m.group(1), m.group(2)))
    return rows


def _params(args: str) -> list[str]:
    names = []
    depth = 0
    current = ""
    for ch in args:  # split on top-level commas only
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += ch
    names.append(current)
    out = []
    for part in names:
        part = part.strip()
        name = re.split(r"[=:]", part, maxsplit=1)[0].strip()
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            out.append(name)
    return out


def _top_level_calls(text: str) -> list[tuple[str, str]]:
    """The calls of a row outside parentheses (inside them, the row describes methods and fields)."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text[i] == "`":
            m = CALL.match(text, i)
            end = text.find("`", i + 1)
            if m and depth == 0 and not m.group(1).startswith(".") and "." not in m.group(1):
                out.append((m.group(1), m.group(2)))
            i = (m.end() if m else end + 1) if end != -1 else len(text)
            continue
        depth += text[i] == "("
        depth -= text[i] == ")"
        i += 1
    return out


CASES = [(module, name, args) for module, text in _rows() for name, args in _top_level_calls(text)]


def test_the_contracts_name_modules_and_calls():
    assert len(_rows()) >= 30 and len(CASES) >= 60


@pytest.mark.parametrize("module, name, args", CASES, ids=[f"{m}.{n}" for m, n, _ in CASES])
def test_a_named_call_exists_with_its_parameters(module, name, args):
    mod = importlib.import_module(module)
    assert hasattr(mod, name), f"docs/contracts.md names {module}.{name}, which does not exist"
    obj = getattr(mod, name)
    if not callable(obj):
        return
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin or a C extension
        return
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()) and \
            any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return
    missing = [p for p in _params(args) if p not in sig.parameters]
    assert not missing, f"docs/contracts.md shows {module}.{name}({args}); {sig} has no {missing}"
