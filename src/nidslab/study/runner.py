"""Run a study: a loop over the registry of parts (:data:`nidslab.study.registry.PARTS`), each part's result
into results.json, then the report.

Each part's result is cached under ``cache_dir`` by a hash of its settings, the study-wide settings and
the data (see :mod:`nidslab.study.cache`), so an interrupted run resumes and a changed experiment alone
re-runs. Library code: it returns values and reports progress through callbacks; the CLI draws the bars.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from nidslab import __version__
from nidslab.cluster import Executor, LocalExecutor
from nidslab.data.provenance import provenance
from nidslab.paths import atomic_write, study_cache_dir
from nidslab.progress import Progress, no_progress
from nidslab.study import registry
from nidslab.data.fingerprint import fingerprint
from nidslab.study.cache import ResultCache, key_of, plain
from nidslab.study.config import Study
from nidslab.study.context import Context
from nidslab.study.prepared import open_prepared
from nidslab.study.questions import answer_questions
from nidslab.study.report import render
from nidslab.study.results import NotRun, ResultsLayoutError, from_plain, to_plain

#: results.json's top-level keys: meta, every part's name, questions
TOP_KEYS = ("meta", *registry.names(), "questions")


def plan(study: Study, parts: list[ModuleType] | None = None) -> list[str]:
    """The cached units a study runs, in order (names as in the progress messages and ``meta.parts``)."""
    out: list[str] = []
    for part in registry.PARTS if parts is None else parts:
        if part.CACHE == "none" or not _runs(part, study):
            continue
        out += part.units(study) if hasattr(part, "units") else [part.NAME]
    return out


def _runs(part: ModuleType, study: Study) -> bool:
    return part.Config is None or study.parts.get(part.NAME) is not None


def new_run_dir(root: str | os.PathLike[str]) -> Path:
    """A fresh ``root/<UTC timestamp>`` folder for one run."""
    root = Path(root)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    run, i = root / stamp, 1
    while run.exists():
        i += 1
        run = root / f"{stamp}-{i}"
    run.mkdir(parents=True)
    return run


def link_latest(root: str | os.PathLike[str], run_dir: str | os.PathLike[str]) -> Path:
    """Point ``root/latest`` at ``run_dir`` (a relative symlink, replaced atomically)."""
    root, run_dir = Path(root), Path(run_dir)
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name if run_dir.parent.resolve() == root.resolve() else run_dir.resolve())
    os.replace(tmp, link)
    return link


def run_study(study: Study, *, data: str = "default", out_dir: str | os.PathLike[str], quick: bool = False,
              full: bool = False, fresh: bool = False, cache_dir: str | os.PathLike[str] | None = None, progress: Progress | None = None,
              detail: Progress | None = None, executor: Executor | None = None,
              parts: list[ModuleType] | None = None) -> dict[str, Any]:
    """Run every part of ``study`` on dataset ``data`` and write results.json, report.html, report.md and
    figures/ into ``out_dir``.

    ``quick`` runs the study's ``[quick]`` settings, ``full`` its ``[full]`` ones (the parts that have
    them: the whole population of networks for ``unseen_networks``; not with ``quick``). Results are cached per part under ``cache_dir``
    (default: :func:`nidslab.paths.study_cache_dir`, under ``$NIDSLAB_HOME``); ``fresh`` recomputes every part.
    ``progress(done, total, message)`` is called per part, ``detail(done, total, message)`` within a
    part (epochs, trials, folds, passes). Returns the results dict (what results.json holds).
    ``executor`` (:mod:`nidslab.cluster`; default: this process) runs the independent work: the
    experiments, batch-size timings, search trials, depth timings and CV folds; its thread count is
    the study's. The numbers do not depend on the executor, only on that thread count.
    ``parts`` replaces the registry (default: :data:`nidslab.study.registry.PARTS`).
    """
    if quick:
        study = study.quick_version()
    if full:
        study = study.full_version()
    parts = registry.PARTS if parts is None else parts
    progress, detail = progress or no_progress, detail or no_progress
    executor = executor or LocalExecutor()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = ResultCache(Path(cache_dir) if cache_dir is not None else study_cache_dir(), fresh=fresh)
    started = time.perf_counter()
    units = plan(study, parts)
    meta_parts: dict[str, dict[str, Any]] = {}
    progress(0, len(units), f"opening dataset {data}")
    prepared = open_prepared(data, features=study.features, fraction=study.fraction, seed=study.seed,
                             temporal=study.split == "temporal", detail=detail)
    fp = fingerprint(prepared.X_raw, prepared.y_all)
    source = provenance(prepared.dataset, data)
    shared = _shared(study)
    done = [0]

    def key(unit: str, settings: Any) -> str:
        return key_of(unit, {"settings": settings, "study": shared}, fp)

    def cached(unit: str, settings: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        progress(done[0], len(units), unit)
        done[0] += 1
        k = key(unit, settings)
        hit = cache.get(unit, k)
        if hit is not None:
            meta_parts[unit] = {"seconds": hit.pop("_seconds", None), "cached": True, "key": k}
            return hit
        t0 = time.perf_counter()
        value = compute()
        seconds = time.perf_counter() - t0
        cache.put(unit, k, {**value, "_seconds": seconds})
        meta_parts[unit] = {"seconds": seconds, "cached": False, "key": k}
        return value

    def has_cached(unit: str, settings: Any) -> bool:
        return cache.get(unit, key(unit, settings)) is not None

    device = _device()
    models: dict[str, Any] = {}
    handles: dict[int, Any] = {}
    typed: dict[str, Any] = {}   # each part's Result, or None when not run
    results: dict[str, Any] = {"meta": {}}
    for part in parts:
        name = part.NAME
        cfg = study.parts.get(name) if part.Config is not None else None
        if not _runs(part, study):
            typed[name] = None
            results[name] = NotRun(f"the study has no [{name}] table").to_plain()
            continue
        ctx = Context(study=study, data=prepared, executor=executor, threads=executor.threads, device=device,
                      detail=detail, needs={n: typed.get(n) for n in part.NEEDS}, cached=cached,
                      has_cached=has_cached, models=models, handles=handles)
        if part.CACHE == "part":
            raw = cached(name, part.cache_settings(cfg, ctx), functools.partial(_run_plain, part, cfg, ctx))
            result = from_plain(part.Result, raw, name)
        else:
            result = part.run(cfg, ctx)
        _check_type(part, result)
        typed[name] = result
        results[name] = to_plain(result)

    progress(len(units), len(units), "writing the report")
    results["meta"] = {
        "title": study.title,
        "study_file": study.source,
        "quick": study.is_quick,
        "full": study.is_full,
        "dataset": source["name"],
        "dataset_source": source,
        "dataset_fingerprint": fp,
        "nidslab_version": __version__,
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - started,
        "executor": executor.describe(),
        "parts": meta_parts,
        "study": study.to_dict(),
    }
    results = json.loads(json.dumps(results, default=plain))  # exactly what results.json will hold
    results["questions"] = answer_questions(results)
    with atomic_write(out / "results.json", "w") as fh:
        json.dump(results, fh, indent=1)
    render(results, out, parts=parts)
    return results


def _run_plain(part: ModuleType, cfg: Any, ctx: Context) -> dict[str, Any]:
    plain_result: dict[str, Any] = to_plain(part.run(cfg, ctx))
    return plain_result


def _check_type(part: ModuleType, result: Any) -> None:
    expected = part.Result
    if isinstance(expected, type) and not isinstance(result, expected):
        raise ResultsLayoutError(f"part {part.NAME}: run returned {type(result).__name__}, not its Result")


def _shared(study: Study) -> dict[str, Any]:
    """Study-wide settings every part depends on."""
    return {"seed": study.seed, "features": study.features, "split": study.split, "fraction": study.fraction}


def _device() -> str:
    from nidslab.study.hardware import gpu_info

    g = gpu_info()
    return f"cuda ({g['name']})" if g else "cpu"


__all__ = ["TOP_KEYS", "link_latest", "new_run_dir", "plan", "run_study"]
