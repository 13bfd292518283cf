"""Run a study: every part of the lab, measured, into one results dict (results.json) and a report.

Parts run in the lab's order: data, the experiments, batch-size timing, search, Monte Carlo dropout,
cross-validation, regression, tree baseline, KitNET, evaluation on new traffic. Each part's result is cached
under ``cache_dir`` by a hash of its settings and the data (see :mod:`nidslab.study.cache`), so an
interrupted run resumes and a changed experiment alone re-runs. Library code: it returns values and
reports progress through callbacks; the CLI draws the bars.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nidslab import __version__
from nidslab.cluster import Executor
from nidslab.data.provenance import provenance
from nidslab.paths import atomic_write, study_cache_dir
from nidslab.progress import Progress, no_progress
from nidslab.study import backend
from nidslab.study.cache import ResultCache, fingerprint, key_of, plain
from nidslab.study.config import Study
from nidslab.study.hardware import describe_hardware
from nidslab.study.kitnet_part import kitnet_part
from nidslab.study.questions import answer_questions
from nidslab.study.report import render
from nidslab.study.tree import tree_baseline


TOP_KEYS = ("hardware", "data", "experiments", "batch_size_timing", "search", "mc_dropout", "cross_validation",
            "regression", "tree_baseline", "kitnet", "evaluation", "questions")


def plan(study: Study) -> list[str]:
    """The parts a study runs, in order (names as they appear in the progress messages and meta)."""
    parts = ["data"] + [f"experiments/{e.name}" for e in study.experiments]
    for key in ("batch_size_timing", "search", "mc_dropout", "cross_validation", "regression", "tree_baseline",
                "kitnet", "evaluation"):
        if getattr(study, key) is not None:
            parts.append(key)
    return parts


def new_run_dir(root: str | os.PathLike) -> Path:
    """A fresh ``root/<UTC timestamp>`` folder for one run."""
    root = Path(root)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    run, i = root / stamp, 1
    while run.exists():
        i += 1
        run = root / f"{stamp}-{i}"
    run.mkdir(parents=True)
    return run


def link_latest(root: str | os.PathLike, run_dir: str | os.PathLike) -> Path:
    """Point ``root/latest`` at ``run_dir`` (a relative symlink, replaced atomically)."""
    root, run_dir = Path(root), Path(run_dir)
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name if run_dir.parent.resolve() == root.resolve() else run_dir.resolve())
    os.replace(tmp, link)
    return link


def run_study(study: Study, *, data: str = "default", out_dir: str | os.PathLike, quick: bool = False,
              fresh: bool = False, cache_dir: str | os.PathLike | None = None, progress: Progress | None = None,
              detail: Progress | None = None, executor: Executor | None = None) -> dict[str, Any]:
    """Run every part of ``study`` on dataset ``data`` and write results.json, report.html, report.md and
    figures/ into ``out_dir``.

    ``quick`` runs the study's ``[quick]`` settings. Results are cached per part under ``cache_dir``
    (default: :func:`nidslab.paths.study_cache_dir`, under ``$NIDSLAB_HOME``); ``fresh`` recomputes every part.
    ``progress(done, total, message)`` is called per part, ``detail(done, total, message)`` within a
    part (epochs, trials, folds, passes). Returns the results dict (what results.json holds).
    ``executor`` (:mod:`nidslab.cluster`; default: this process) runs the independent work: the
    experiments, batch-size timings, search trials, depth timings and CV folds; its thread count is
    the study's. The numbers do not depend on the executor, only on that thread count.
    """
    if quick:
        study = study.quick_version()
    progress, detail = progress or no_progress, detail or no_progress
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = ResultCache(Path(cache_dir) if cache_dir is not None else study_cache_dir(), fresh=fresh)
    started = time.perf_counter()
    parts = plan(study)
    meta_parts: dict[str, dict[str, Any]] = {}
    progress(0, len(parts), f"opening dataset {data}")
    lab = backend.Lab.open(study, data, detail=detail)
    if executor is not None:
        lab.executor, lab.threads = executor, executor.threads
    fp = fingerprint(lab.X_raw, lab.y_all)
    source = provenance(lab.dataset, data)

    results: dict[str, Any] = {"meta": {}, "hardware": describe_hardware()}
    results["hardware"]["device"] = lab.device

    def run_part(i: int, part: str, settings: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        progress(i, len(parts), part)
        key = key_of(part, {"settings": settings, "study": _shared(study)}, fp)
        hit = cache.get(part, key)
        if hit is not None:
            meta_parts[part] = {"seconds": hit.pop("_seconds", None), "cached": True, "key": key}
            return hit
        t0 = time.perf_counter()
        value = compute()
        seconds = time.perf_counter() - t0
        cache.put(part, key, {**value, "_seconds": seconds})
        meta_parts[part] = {"seconds": seconds, "cached": False, "key": key}
        return value

    i = 0
    results["data"] = run_part(i, "data", {"draws": study.random_chance_draws}, lab.data_part)
    i += 1
    results["experiments"] = {}
    ahead = _experiments_ahead(lab, study, cache, fp)
    for e in study.experiments:
        r = run_part(i, f"experiments/{e.name}", e.settings(), lambda e=e: ahead.pop(e.name, None) or lab.experiment(e))
        results["experiments"][e.name] = {**r, "title": e.title or e.name, "part": e.part}
        i += 1

    results["batch_size_timing"] = None
    if (t := study.batch_size_timing) is not None:
        exp = study.experiment(t.experiment)
        results["batch_size_timing"] = run_part(i, "batch_size_timing", [dataclasses.asdict(t), exp.settings()],
                                                lambda: lab.batch_size_timing(t, exp))
        i += 1

    results["search"] = None
    if (s := study.search) is not None:
        results["search"] = run_part(i, "search", dataclasses.asdict(s), lambda: lab.search(s))
        i += 1

    results["mc_dropout"] = None
    if (m := study.mc_dropout) is not None:
        if m.experiment == "best":
            settings = dict(results["search"]["final"]["settings"])
            description = "the best configuration found by the search"
        else:
            settings = study.experiment(m.experiment).settings()
            description = study.experiment(m.experiment).title or m.experiment
        results["mc_dropout"] = run_part(i, "mc_dropout", [dataclasses.asdict(m), settings],
                                         lambda: lab.mc_dropout(m, settings, description))
        i += 1

    results["cross_validation"] = None
    if (c := study.cross_validation) is not None:
        exp = study.experiment(c.experiment)
        results["cross_validation"] = run_part(i, "cross_validation", [dataclasses.asdict(c), exp.settings()],
                                               lambda: lab.cross_validation(c, exp))
        i += 1

    results["regression"] = None
    if (g := study.regression) is not None:
        results["regression"] = run_part(i, "regression", dataclasses.asdict(g), lambda: lab.regression(g))
        i += 1

    results["tree_baseline"] = None
    if (tb := study.tree_baseline) is not None:
        tree = run_part(i, "tree_baseline", dataclasses.asdict(tb),
                        lambda: tree_baseline(tb, lab.train, lab.test, seed=study.seed, threads=lab.threads))
        results["tree_baseline"] = {**tree, **_gap(tree, results)}
        i += 1

    results["kitnet"] = None
    if (kc := study.kitnet) is not None:
        ds = lab.dataset  # the whole capture in time order, every feature column
        results["kitnet"] = run_part(i, "kitnet", dataclasses.asdict(kc),
                                     lambda: kitnet_part(kc, ds.X, ds.y, truth=ds.labels.get("truth")))
        i += 1

    results["evaluation"] = None
    if (ev := study.evaluation) is not None:
        from nidslab.study import evaluation_part

        results["evaluation"] = run_part(i, "evaluation", evaluation_part.cache_settings(ev, study, results),
                                         lambda: evaluation_part.run(ev, lab, results))
        i += 1

    progress(len(parts), len(parts), "writing the report")
    results["meta"] = {
        "title": study.title,
        "study_file": study.source,
        "quick": study.is_quick,
        "dataset": source["name"],
        "dataset_source": source,
        "dataset_fingerprint": fp,
        "nidslab_version": __version__,
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - started,
        "executor": lab.executor.describe() if hasattr(lab, "executor") else None,
        "parts": meta_parts,
        "study": study.to_dict(),
    }
    results["questions"] = answer_questions(results)
    results = json.loads(json.dumps(results, default=plain))  # exactly what results.json will hold
    with atomic_write(out / "results.json", "w") as fh:
        json.dump(results, fh, indent=1)
    render(results, out)
    return results


def _experiments_ahead(lab: Any, study: Study, cache: ResultCache, fp: str) -> dict[str, dict[str, Any]]:
    """On a cluster, every experiment the cache lacks, trained at once as parallel tasks, by name
    (in this process: none; each trains in its turn, with its epochs' progress)."""
    if not getattr(getattr(lab, "executor", None), "remote", False):
        return {}
    todo = [e for e in study.experiments
            if cache.get(f"experiments/{e.name}",
                         key_of(f"experiments/{e.name}", {"settings": e.settings(), "study": _shared(study)}, fp)) is None]
    return dict(zip([e.name for e in todo], lab.experiments(todo))) if todo else {}


def _shared(study: Study) -> dict[str, Any]:
    """Study-wide settings every part depends on."""
    return {"seed": study.seed, "features": study.features, "split": study.split, "fraction": study.fraction}


def _gap(tree: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The best network (highest test balanced accuracy, search included) and the tree's lead over it."""
    candidates = {name: e for name, e in results["experiments"].items()}
    if results.get("search"):
        candidates["search_final"] = results["search"]["final"]
    if not candidates:
        return {"best_dnn": None, "gap": None}
    name = max(candidates, key=lambda n: candidates[n]["test"]["balanced_accuracy"] or 0.0)
    best = candidates[name]["test"]
    return {
        "best_dnn": {"experiment": name, "title": candidates[name]["title"], "accuracy": best["accuracy"],
                     "balanced_accuracy": best["balanced_accuracy"]},
        "gap": {"accuracy": tree["test"]["accuracy"] - best["accuracy"],
                "balanced_accuracy": tree["test"]["balanced_accuracy"] - best["balanced_accuracy"]},
    }


