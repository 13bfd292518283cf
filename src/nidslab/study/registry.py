"""The study's parts, in the order they run and appear in the report: one line each.

To add a part, write its module under :mod:`nidslab.study.parts` (see that package's docstring) and add
it to :data:`PARTS` below; nothing else changes.
"""

from __future__ import annotations

from types import ModuleType

from nidslab.study.parts import (batch_size_timing, cross_validation, data, evaluation, experiments, hardware,
                                 kitnet, mc_dropout, regression, search, tree_baseline,
                                 unseen_networks)

PARTS: list[ModuleType] = [
    hardware,
    data,
    experiments,
    batch_size_timing,
    search,
    mc_dropout,
    cross_validation,
    regression,
    tree_baseline,
    kitnet,
    evaluation,
    unseen_networks,
]


def names(parts: list[ModuleType] | None = None) -> list[str]:
    """The parts' names (results.json's keys), in order."""
    return [p.NAME for p in (PARTS if parts is None else parts)]


def tables(parts: list[ModuleType] | None = None) -> list[str]:
    """The parts that have a study-file table of their own (a Config), in order."""
    return [p.NAME for p in (PARTS if parts is None else parts) if p.Config is not None]


__all__ = ["PARTS", "names", "tables"]
