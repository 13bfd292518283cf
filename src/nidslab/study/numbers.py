"""How the report writes a measured number, and how it finds one in results.json.

One formatter for the report, the markdown and the 21 answers, so a number quoted anywhere is
``fmt(value, kind)`` of a value at a path in results.json, and a test can check exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

KINDS = ("acc", "pct", "int", "s", "ms", "x", "bytes", "mib", "gib", "num", "float")


def fmt(value: Any, kind: str) -> str:
    """Format ``value`` as the report writes it.

    kinds: ``acc`` 0.8406 (4 decimals), ``pct`` 84.1%, ``int`` 534,895, ``s`` seconds (3 significant
    digits, e.g. ``12.3 s``; below a millisecond ``5.48 µs``), ``ms`` milliseconds, ``x`` ratio (``4.2x``), ``bytes`` bytes as KiB below
    1 MiB and as MiB above (``70.7 KiB``, ``5.2 MiB``), ``mib`` bytes as MiB,
    ``gib`` bytes as GiB, ``num`` 4 significant digits (``%.4g``; never in exponent form: 2 significant digits below 0.001,
    ``0.000043``, and ``< 0.000001`` below that), ``float`` the value as Python prints it.
    """
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind == "acc":
        return f"{value:.4f}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "s":  # below a millisecond in microseconds: never 5.48e-06 s
        return f"{_sig(1e6 * value, 3)} µs" if 0 < abs(value) < 1e-3 else f"{_sig(value, 3)} s"
    if kind == "ms":
        return f"{_sig(1000 * value, 3)} ms"
    if kind == "x":
        return f"{_sig(value, 3)}x"
    if kind == "bytes":
        return f"{value / 2**10:,.1f} KiB" if abs(value) < 2**20 else f"{value / 2**20:,.1f} MiB"
    if kind == "mib":
        return f"{value / 2**20:,.1f} MiB"
    if kind == "gib":
        return f"{value / 2**30:,.1f} GiB"
    if kind == "num":  # written out, never 4.306e-05: 4 significant digits, 2 below 0.001, a bound below 1e-6
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        if value and abs(value) < 1e-6:
            return "< 0.000001" if value > 0 else "> -0.000001"
        return _sig(value, 2) if value and abs(value) < 1e-3 else f"{value:.4g}"
    if kind == "float":
        return repr(float(value))
    raise ValueError(f"unknown number kind {kind!r}; expected one of {KINDS}")


def _sig(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, without exponent for everyday magnitudes."""
    if value == 0:
        return "0"
    mag = math.floor(math.log10(abs(value)))
    if mag < -9:  # too small for people to count zeros
        return f"{value:.{digits}g}"
    decimals = max(0, digits - 1 - mag)
    return f"{value:,.{decimals}f}"


def get(results: dict[str, Any], path: Sequence[str | int]) -> Any:
    """The value at ``path`` (keys and list indices) in ``results``.

    KeyError naming the path when it runs into a part that was not run (None); ResultsLayoutError when a
    part that ran lacks the key or index (a renamed field fails loudly, never as "Not measured")."""
    from nidslab.study.results import ResultsLayoutError

    node: Any = results
    for i, key in enumerate(path):
        where = "/".join(map(str, path[: i + 1]))
        if node is None:
            raise KeyError(f"results.json has no {where}: {'/'.join(map(str, path[:i])) or 'it'} was not run")
        try:
            node = node[key]
        except KeyError:
            if i == 0:  # a whole part absent: an older results.json, or a hand-made one
                raise KeyError(f"results.json has no {where}") from None
            raise ResultsLayoutError(f"results.json has no {where}; was the field renamed?") from None
        except (IndexError, TypeError):
            raise ResultsLayoutError(f"results.json has no {where}") from None
    return node


def has(results: dict[str, Any], path: Sequence[str | int]) -> bool:
    """True when ``path`` exists in ``results`` and its value is not None."""
    from nidslab.study.results import ResultsLayoutError

    try:
        return get(results, path) is not None
    except (KeyError, ResultsLayoutError):
        return False
