"""What a part is handed when it runs: :class:`Context`.

The prepared data, the executor, the study-wide settings, progress, and the results of the parts it
declares it needs (``NEEDS``) — never the runner's state or the other parts' results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nidslab.cluster import Executor, LocalExecutor
from nidslab.progress import Progress, no_progress
from nidslab.study.config import Study
from nidslab.study.prepared import Arrays, PreparedData

#: cached(unit, settings, compute) -> compute()'s dict, from the per-part cache when ``settings`` match
Cached = Callable[[str, Any, Callable[[], dict[str, Any]]], dict[str, Any]]


def _no_cache(unit: str, settings: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return compute()


def _never_cached(unit: str, settings: Any) -> bool:
    return False


@dataclass
class Context:
    """A part's view of the run."""

    study: Study                # the study's settings (shared ones, experiments, every part's config)
    data: PreparedData
    executor: Executor = field(default_factory=LocalExecutor)
    threads: int | None = None  # torch threads per task (the executor's)
    device: str = "cpu"         # "cpu" or "cuda (<name>)"
    detail: Progress = no_progress   # detail(done, total, message) within the part
    needs: dict[str, Any] = field(default_factory=dict)   # results of the parts in NEEDS (None: not run)
    cached: Cached = _no_cache  # the per-part cache, for parts that cache their own units (CACHE = "self")
    has_cached: Callable[[str, Any], bool] = _never_cached   # is that unit's result in the cache
    #: trained models a later part may reuse (the search's final network for Monte Carlo dropout), by settings
    models: dict[str, Any] = field(default_factory=dict)
    #: the executor's handles of arrays already sent, by id (see :meth:`shared`)
    handles: dict[int, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.study.seed

    def train_eval(self, settings: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays | None,
                   *, seed: int | None = None, mc_dropout: bool = False) -> tuple[dict[str, Any], Any]:
        """:func:`nidslab.study.training.train_eval` with the study's seed (unless ``seed``), threads, progress."""
        from nidslab.study.training import train_eval

        return train_eval(settings, train, validation, test, seed=self.seed if seed is None else seed,
                          threads=self.threads, mc_dropout=mc_dropout, detail=self.detail)

    def job(self, settings: dict[str, Any]) -> dict[str, Any]:
        """What a task (:mod:`nidslab.study.tasks`) needs besides the data to train ``settings``."""
        return {"settings": settings, "seed": self.seed, "threads": self.threads}

    def shared(self, *arrays: Any) -> list[Any]:
        """The executor's handles of ``arrays``: on a cluster each is put once per run, then reused; in
        this process they are the arrays themselves (nothing is kept)."""
        if not self.executor.remote:
            return list(arrays)
        out = []
        for a in arrays:
            if id(a) not in self.handles:
                self.handles[id(a)] = (a, self.executor.put(a))  # keeps ``a`` alive: its id stays its own
            out.append(self.handles[id(a)][1])
        return out


def model_key(settings: dict[str, Any]) -> str:
    """The key of a kept model (:attr:`Context.models`)."""
    return json.dumps(settings, sort_keys=True)


__all__ = ["Cached", "Context", "model_key"]
