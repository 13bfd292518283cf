"""What every Kitsune feature means, in both column layouts: its group, stream, statistic, decay and unit.

Derived, not listed: names come from :mod:`nidslab.schema` (``FEATURE_NAMES`` for the ``uci`` layout,
``KITSUNE_PY_FEATURE_NAMES`` for ``kitsune-py``), lambdas from ``schema.LAMBDAS`` (the same tuple the
extractor decays with: ``nidslab.features.extract.LAMBDAS`` is built from it) and half-lives from
:func:`nidslab.schema.half_life`. What each statistic holds follows the extractor's column map
(:mod:`nidslab.features.extract`; the test checks the two agree). No numpy, numba or torch here: the
CLI's ``nidslab features describe`` must answer in well under half a second.

>>> from nidslab.features.describe import describe_features
>>> d = describe_features("H_L5_weight")[0]
>>> d.stream, d.statistic, d.half_life_s, d.unit
('source IP', 'weight', 0.2, 'packets')
>>> d.phrase
'packets this host sent in the last ~0.2 s'
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from nidslab import schema
from nidslab.errors import UnknownNameError

LAYOUT_NAMES: tuple[str, ...] = ("uci", "kitsune-py")

#: One line per layout: what is common to all of its columns.
LAYOUT_NOTES: dict[str, str] = {
    "uci": "The 115 columns of the released Kitsune / N-BaIoT tables. Packet size is the length on the wire; "
           "sizes in bytes, times in seconds. Every statistic is decayed: a packet of age t weighs "
           "2^(-lambda t), so a statistic mostly reflects the last few half-lives.",
    "kitsune-py": "The 100 columns of the public reference implementation (Kitsune-py HEAD, scapy parser). Packet "
                  "size is the captured length (a frame cut to the snap length counts as its snap length). It has "
                  "no H group; its 'std' columns hold the variance; its 2D columns come as radius, magnitude, "
                  "covariance, pcc; the 1D part of its HH/HpHp groups describes the source's stream alone.",
}

# group -> (stream the 1D statistics key on, who: the packets counted, pair: the two ends of the 2D statistics)
_STREAMS = {
    "uci": {
        "MI_dir": ("source MAC+IP", "packets this host (its MAC and IP) sent", None),
        "H": ("source IP", "packets this host sent", None),
        "HH": ("IP pair", "packets from this host to this destination", "this host and this destination"),
        "HH_jit": ("IP pair", "packets from this host to this destination", None),
        "HpHp": ("socket pair", "packets from this source port to this destination port",
                 "this source port and this destination port"),
    },
    "kitsune-py": {
        "MI_dir": ("source MAC+IP", "packets this host (its MAC and IP) sent", None),
        "HH": ("source IP", "packets this host sent", "this host and this destination"),
        "HH_jit": ("IP pair", "packets from this host to this destination", None),
        "HpHp": ("source socket", "packets this host sent from this port",
                 "this source port and this destination port"),
    },
}

_PAIR_STREAM = {"HH": "IP pair", "HpHp": "socket pair"}

# statistic -> unit, for packet sizes and for inter-arrival times (HH_jit)
_UNITS = {
    "weight": ("packets", "packets"), "mean": ("bytes", "s"), "variance": ("bytes²", "s²"),
    "std": ("bytes", "s"), "magnitude": ("bytes", "s"), "radius": ("bytes²", "s²"),
    "covariance": ("bytes²", "s²"), "pcc": ("", ""),
}
_TWO_D = ("magnitude", "radius", "covariance", "pcc")


@dataclasses.dataclass(frozen=True)
class FeatureDescription:
    """One column of a layout, described.

    ``statistic`` is what the column *holds* (kitsune-py's ``MI_dir_5_std`` holds a variance: its
    statistic is ``variance``; ``quirks`` says so). ``lam``: decay factor (1/s); ``half_life_s``: seconds
    after which a packet's weight has halved. ``unit``: of the value ("" for a correlation). ``phrase``:
    a short noun phrase for reasons ("packets this host sent in the last ~0.2 s"); ``meaning``: one
    sentence. ``column``: 0-based position in the layout.
    """

    name: str
    layout: str
    column: int
    group: str
    stream: str
    direction: str
    statistic: str
    lam: float
    half_life_s: float
    unit: str
    phrase: str
    meaning: str
    quirks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lambda"] = d.pop("lam")
        d["quirks"] = list(self.quirks)
        return d


def approx_seconds(s: float) -> str:
    """A duration for prose: ``0.2 s``, ``0.33 s``, ``1 s``, ``100 s``."""
    return f"{s:.2g} s" if s < 1 else f"{s:g} s"


def _layout(layout: str) -> str:
    if layout not in LAYOUT_NAMES:
        raise UnknownNameError(f"unknown feature layout {layout!r}; expected one of {', '.join(LAYOUT_NAMES)}")
    return layout


def columns_of(layout: str = "uci") -> tuple[str, ...]:
    """Column names of a layout, from :mod:`nidslab.schema` (115 for ``uci``, 100 for ``kitsune-py``)."""
    return schema.FEATURE_NAMES if _layout(layout) == "uci" else schema.KITSUNE_PY_FEATURE_NAMES


def _split(name: str, layout: str) -> tuple[str, str, str]:
    """(group, lambda label, column statistic) of a column name of ``layout``."""
    for group in ("HH_jit", "HpHp", "MI_dir", "HH", "H"):
        head = f"{group}_L" if layout == "uci" else f"{group}_"
        if name.startswith(head):
            lam, _, stat = name[len(head):].partition("_")
            return group, lam, stat
    raise AssertionError(name)  # unreachable for a name of the layout


def _describe(name: str, column: int, layout: str) -> FeatureDescription:
    group, lam_label, col_stat = _split(name, layout)
    lam = schema.LAMBDAS[schema.LAMBDA_LABELS.index(lam_label)]
    hl = schema.half_life(lam)
    hl_txt = approx_seconds(hl)
    stream, who, pair = _STREAMS[layout][group]
    base = col_stat.split("_")[0]  # kitsune-py's weight_0, radius_0_1, ... -> weight, radius
    quirks: list[str] = []
    statistic = base
    if layout == "kitsune-py" and base == "std":
        statistic = "variance"
        quirks.append("named std, holds the variance (the reference's quirk)")
    two_d = statistic in _TWO_D
    if two_d:
        stream = _PAIR_STREAM[group]
        direction = "both directions"
    elif group in ("MI_dir", "H") or stream in ("source IP", "source socket"):
        direction = "sent by the host (to any destination)"
    else:
        direction = "source to destination (the packet's own direction)"
    jitter = group == "HH_jit"
    unit = _UNITS[statistic][1 if jitter else 0]
    window = f"(half-life ~{hl_txt})"
    if statistic == "weight":
        phrase = f"{who} in the last ~{hl_txt}"
        meaning = (f"Decayed count of the {who}: each packet adds 1 and counts half as much every {hl_txt}, so it "
                   f"is about the number of such packets in the last ~{hl_txt}.")
    elif statistic in ("mean", "variance", "std"):
        spread = {"mean": "mean", "variance": "variance of the", "std": "standard deviation of the"}[statistic]
        of = f"{spread} time between {who}" if jitter else f"{spread} size{'' if statistic == 'mean' else 's'} of the {who}"
        phrase = f"{of} {window}"
        meaning = f"Decayed {of} ({unit}), each packet weighted by 2^(-{lam:g} x its age in s)."
    else:
        phrase = {
            "magnitude": f"mean packet size of both directions between {pair}, combined {window}",
            "radius": f"size variance of both directions between {pair}, combined {window}",
            "covariance": f"covariance of packet sizes between the two directions of {pair} {window}",
            "pcc": f"correlation of packet sizes between the two directions of {pair} {window}",
        }[statistic]
        meaning = {
            "magnitude": "sqrt(mean_out² + mean_in²) of the decayed mean packet sizes of the two directions (bytes).",
            "radius": "sqrt(var_out² + var_in²) of the decayed size variances of the two directions (bytes²).",
            "covariance": "Decayed covariance of the packet sizes of the two directions (bytes²): how they vary "
                          "together.",
            "pcc": "Pearson correlation (-1 to 1) of the packet sizes of the two directions, decayed.",
        }[statistic]
    quirks += _quirks(layout, group, statistic, lam_label, two_d)
    return FeatureDescription(name=name, layout=layout, column=column, group=group, stream=stream,
                              direction=direction, statistic=statistic, lam=lam, half_life_s=hl, unit=unit,
                              phrase=phrase, meaning=meaning, quirks=tuple(quirks))


def _quirks(layout: str, group: str, statistic: str, lam_label: str, two_d: bool) -> list[str]:
    q = []
    if layout == "uci":
        if group == "H":
            q.append("the released tables repeat MI_dir here (columns 15-29 equal 0-14); nidslab's extractor does too")
        if group == "HH_jit" and statistic == "weight":
            q.append(f"equals HH_L{lam_label}_weight (same channel, same packets)")
        if group == "HH_jit" and statistic != "weight":
            q.append("a new channel's first inter-arrival time is measured from time 0 (the epoch), as in the "
                     "released rows, so slow lambdas carry huge values (HH_jit_L0.01 variances ~1e10)")
        if group == "HpHp" and not two_d:
            q.append("ARP frames use MAC addresses in place of ports; ICMP's socket is 'icmp'")
    else:
        if group in ("HH", "HpHp") and not two_d:
            q.append(f"the statistics of the {'source IP' if group == 'HH' else 'source socket'} alone (every "
                     f"packet it sent), not of the {_PAIR_STREAM[group]}, though the group is named after it")
        if group in ("HH", "HpHp") and statistic in ("radius", "magnitude"):
            q.append("the reference writes radius before magnitude (the uci layout: magnitude, radius)")
        if group in ("HH", "HpHp") and two_d:
            q.append("once the two streams are linked, the reference updates these twice per packet")
        if group in ("HH_jit", "HpHp"):
            q.append("stream keys are string concatenations without a separator, so two different "
                     f"{'pairs' if group == 'HH_jit' else 'sockets'} can share one (as in the reference)")
    return q


@functools.cache
def _all(layout: str) -> dict[str, FeatureDescription]:
    """Every column of ``layout`` described, by name (built once: reasons look phrases up per alert)."""
    return {n: _describe(n, i, layout) for i, n in enumerate(columns_of(layout))}


def describe_features(which: str | Iterable[str] | None = None, *, layout: str = "uci") -> list[FeatureDescription]:
    """Describe columns of ``layout`` (``uci`` or ``kitsune-py``), in column order.

    ``which``: ``None`` or ``"all"`` (every column), a group (``"HH"``), a column name, ``"lab"`` (uci: the
    lab's 92), or a comma-separated string / iterable of these. Raises
    :class:`~nidslab.errors.UnknownNameError` naming what it does not know (and the layout it looked in).
    """
    names = columns_of(layout)
    if which is None:
        items = ["all"]
    else:
        items = [s.strip() for s in which.split(",") if s.strip()] if isinstance(which, str) else list(which)
    groups = {_split(n, layout)[0] for n in names}
    wanted: set[str] = set()
    index = {n: i for i, n in enumerate(names)}
    for item in items:
        if item == "all":
            wanted.update(names)
        elif item == "lab" and layout == "uci":
            wanted.update(schema.LAB_FEATURES)
        elif item in groups:
            wanted.update(n for n in names if _split(n, layout)[0] == item)
        elif item in index:
            wanted.add(item)
        else:
            other = [o for o in LAYOUT_NAMES if o != layout and item in columns_of(o)]
            hint = f" (it is a column of the {other[0]} layout: pass --layout {other[0]})" if other else ""
            raise UnknownNameError(
                f"unknown feature or group {item!r} in the {layout} layout{hint}; expected a group "
                f"({', '.join(g for g in schema.GROUPS if g in groups)}), a column such as {names[0]!r}, or 'all'")
    table = _all(layout)
    return [table[n] for n in names if n in wanted]


def describe_feature(name: str, layout: str | None = None) -> FeatureDescription:
    """One column by name; ``layout`` defaults to the one whose columns include ``name`` (uci first)."""
    for lay in (layout,) if layout else LAYOUT_NAMES:
        found = _all(_layout(lay)).get(name)
        if found is not None:
            return found
    raise UnknownNameError(f"unknown feature {name!r}; expected a column of the "
                           f"{layout or ' or '.join(LAYOUT_NAMES)} layout such as {columns_of(layout or 'uci')[0]!r}")


def group_summary(names: Sequence[str], layout: str | None = None) -> list[dict[str, Any]]:
    """Per group of ``names`` (columns of one layout, e.g. a dataset's): its stream(s), statistics, lambdas
    with half-lives and column count, in column order. ``layout``: inferred from the first name if omitted."""
    if not names:
        return []
    descs = [describe_feature(n, layout) for n in names]
    out: dict[str, dict[str, Any]] = {}
    for d in descs:
        g = out.setdefault(d.group, {"group": d.group, "columns": 0, "streams": [], "statistics": [],
                                     "lambdas": [], "half_lives_s": []})
        g["columns"] += 1
        for key, value in (("streams", d.stream), ("statistics", d.statistic), ("lambdas", d.lam),
                           ("half_lives_s", d.half_life_s)):
            if value not in g[key]:
                g[key].append(value)
    order = list(_UNITS)  # weight, mean, variance, std, magnitude, radius, covariance, pcc
    for g in out.values():
        g["statistics"].sort(key=order.index)
        g["lambdas"].sort(key=schema.LAMBDAS.index)
        g["half_lives_s"].sort()
    return list(out.values())


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def table_rows(descriptions: Sequence[FeatureDescription] | None = None, *, by: str = "feature"
               ) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of plain strings describing ``descriptions`` (default: every uci column), for a
    report's ``("table", header, rows)`` block or :func:`markdown_table`.

    ``by="feature"``: one row per column (name, group, stream, statistic, lambda, half-life, unit, meaning,
    quirks). ``by="group"``: one row per group (what :func:`group_summary` says), for a report's data part.
    """
    descs = list(descriptions) if descriptions is not None else describe_features()
    if by == "group":
        header = ["group", "columns", "stream", "statistics", "lambdas (1/s)", "half-lives"]
        rows = [[g["group"], str(g["columns"]), ", ".join(g["streams"]), ", ".join(g["statistics"]),
                 ", ".join(f"{x:g}" for x in g["lambdas"]), ", ".join(approx_seconds(x) for x in g["half_lives_s"])]
                for g in group_summary([d.name for d in descs], descs[0].layout if descs else None)]
        return header, rows
    if by != "feature":
        raise ValueError(f"by must be 'feature' or 'group', got {by!r}")
    header = ["feature", "group", "stream", "statistic", "lambda (1/s)", "half-life", "unit", "meaning", "quirks"]
    rows = [[d.name, d.group, d.stream, d.statistic, f"{d.lam:g}", approx_seconds(d.half_life_s), d.unit or "-",
             d.meaning, "; ".join(d.quirks) or "-"] for d in descs]
    return header, rows


def markdown_table(descriptions: Sequence[FeatureDescription] | None = None, *, by: str = "feature") -> str:
    """:func:`table_rows` as a GitHub-markdown table (feature names in backticks)."""
    header, rows = table_rows(descriptions, by=by)
    right = {"columns", "lambda (1/s)", "half-life"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---:" if h in right else "---" for h in header) + " |"]
    for r in rows:
        cells = [f"`{r[0]}`" if by == "feature" else r[0], *r[1:]]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["FeatureDescription", "LAYOUT_NAMES", "LAYOUT_NOTES", "approx_seconds", "columns_of", "describe_feature",
           "describe_features", "group_summary", "markdown_table", "table_rows"]
