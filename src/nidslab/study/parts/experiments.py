"""Parts 10-18: the lab's networks, one per ``[experiments.NAME]`` table, each trained on the lab's split
and scored on its test split. Each experiment is cached on its own, so a changed experiment alone re-runs;
on a cluster every experiment the cache lacks trains at once, as parallel tasks.

An experiment with ``seeds = N`` (its table or ``[defaults]``) is also retrained from the N - 1 seeds
after the study's, those networks side by side as one stacked model (each with its own shuffle, so each
equals one-by-one training with its seed); its result's ``seed_runs`` holds every seed's test and
validation accuracy, this run's first."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from nidslab.study.blocks import Block, Rendered, experiment_blocks
from nidslab.study.charts import curves
from nidslab.study.config import Experiment
from nidslab.study.context import Context, model_key
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, from_plain, optional, to_plain

NAME = "experiments"
NEEDS: tuple[str, ...] = ()
CACHE = "self"  # one cache entry per experiment
Config = None   # its tables are the study's [experiments.NAME]; see nidslab.study.config.Experiment
TABLES = "[experiments.NAME] (and [defaults])"


@dataclass
class ExperimentResult:
    """One trained network (also the search's final network)."""

    settings: dict[str, Any] = doc("n_layers, n_nodes, activation, batch_norm, dropout, optimizer, lr, batch_size, "
                                   "epochs, class_weight")
    params: int = doc("trainable parameters")
    init: dict[str, Any] = doc("the first Dense layer's initial weights: fan_in, fan_out, glorot_limit, "
                               "max_abs_weight, weight_std, max_abs_bias")
    train_seconds: float = doc("wall-clock training time, seconds")
    history: dict[str, list[float]] = doc("per epoch: loss, accuracy, val_loss, val_accuracy, epoch_seconds")
    test: dict[str, Any] = doc("test metrics: loss, accuracy, balanced_accuracy, roc_auc, precision, recall, f1, "
                               "positive_rate, confusion_matrix [[tn, fp], [fn, tp]]")
    title: str = doc("the experiment's title")
    part: str = doc("the lab's part, e.g. Part 12")
    updates_per_epoch: int | None = optional("weight updates per epoch")
    seed_runs: dict[str, list[float]] | None = optional(
        "the same experiment retrained with other seeds: seeds, test_accuracy, test_balanced_accuracy, "
        "val_accuracy (one entry per seed, this run's seed first); None where the study trains one seed")


#: the part's result: each experiment's, by name, in the study's order
Result = dict[str, ExperimentResult]


def units(study: Any) -> list[str]:
    """Progress and cache units: one per experiment."""
    return [f"experiments/{e.name}" for e in study.experiments]


def cache_key(e: Experiment) -> dict[str, Any]:
    """What experiment ``e``'s cached result depends on besides the data: its settings (and its seeds)."""
    return e.settings() if e.seeds == 1 else {**e.settings(), "seeds": e.seeds}


def other_seeds(ctx: Context, e: Experiment) -> list[int]:
    """The seeds ``e`` is retrained with besides the study's: the next ``e.seeds - 1``."""
    return [ctx.seed + i for i in range(1, e.seeds)]


def train_one(ctx: Context, e: Experiment) -> dict[str, Any]:
    """One of the lab's networks on the lab's split (its result dict, before the title is added), and its
    other seeds' runs (``seed_runs``) when ``e.seeds > 1``."""
    from nidslab.study.training import seed_runs

    result, model = ctx.train_eval(e.settings(), ctx.data.train, ctx.data.validation, ctx.data.test)
    ctx.models[model_key(e.settings())] = (result, model)  # a later part on the same split reuses it
    if e.seeds > 1:
        runs = seed_runs(e.settings(), other_seeds(ctx, e), ctx.data.train, ctx.data.validation, ctx.data.test,
                         threads=ctx.threads, detail=ctx.detail)
        result["seed_runs"] = with_this_run(result, ctx.seed, runs)
    return result


def with_this_run(result: dict[str, Any], seed: int, runs: dict[str, list[float]]) -> dict[str, list[float]]:
    """``runs`` (other seeds') with this run's seed and numbers first."""
    val = result["history"].get("val_accuracy") or [float("nan")]
    first = {"seeds": seed, "test_accuracy": result["test"]["accuracy"],
             "test_balanced_accuracy": result["test"]["balanced_accuracy"], "val_accuracy": val[-1]}
    return {k: [first[k], *runs[k]] for k in first}


def run(cfg: None, ctx: Context) -> Result:
    ahead = _ahead(ctx)
    out: Result = {}
    for e in ctx.study.experiments:
        unit = f"experiments/{e.name}"
        r = ctx.cached(unit, cache_key(e), functools.partial(_trained, ctx, e, ahead))
        out[e.name] = from_plain(ExperimentResult, {**r, "title": e.title or e.name, "part": e.part}, unit)
    return out


def _trained(ctx: Context, e: Experiment, ahead: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Experiment ``e``'s result: trained ahead on the cluster, or here, now."""
    return ahead.pop(e.name, None) or train_one(ctx, e)


def _ahead(ctx: Context) -> dict[str, dict[str, Any]]:
    """On a cluster, every experiment the cache lacks, trained at once as parallel tasks, by name
    (in this process: none; each trains in its turn, with its epochs' progress)."""
    from nidslab.study import tasks

    if not ctx.executor.remote:
        return {}
    todo = [e for e in ctx.study.experiments if not ctx.has_cached(f"experiments/{e.name}", cache_key(e))]
    if not todo:
        return {}
    data = ctx.shared(ctx.data.train, ctx.data.validation, ctx.data.test)
    many = [e for e in todo if e.seeds > 1]
    done = ctx.executor.map(tasks.experiment_task, [("fit", ctx.job(e.settings())) for e in todo] +
                            [("seeds", {**ctx.job(e.settings()), "seeds": other_seeds(ctx, e)}) for e in many],
                            *data, progress=lambda d, t, _m="": ctx.detail(d, t, f"{d}/{t} experiments and seed groups"))
    out = dict(zip([e.name for e in todo], done[:len(todo)], strict=True))
    for e, runs in zip(many, done[len(todo):], strict=True):
        out[e.name]["seed_runs"] = with_this_run(out[e.name], ctx.seed, runs)
    return out



def render(result: Result, results: dict[str, Any]) -> Rendered:
    if not result:
        return [], {}
    blocks: list[Block] = [("h2", "Parts 10-18: the lab's networks")]
    figures = {}
    for name, e in result.items():
        d = to_plain(e)
        blocks += experiment_blocks(name, d, f"curves_{name}")
        figures[f"curves_{name}"] = curves(d)
    blocks += seed_runs_blocks(result)
    return blocks, figures


def seed_runs_blocks(result: Result) -> list[Block]:
    """A plain table of the experiments retrained with several seeds (none when no experiment was)."""
    import numpy as np

    rows = []
    for name, e in result.items():
        runs = e.seed_runs
        if not runs:
            continue
        acc, bal = np.asarray(runs["test_accuracy"]), np.asarray(runs["test_balanced_accuracy"])
        rows.append([f"{e.title} ({name})", ", ".join(str(s) for s in runs["seeds"]),
                     ", ".join(fmt(a, "acc") for a in acc), f"{fmt(float(acc.mean()), 'acc')} +- {fmt(float(acc.std()), 'acc')}",
                     f"{fmt(float(bal.mean()), 'acc')} +- {fmt(float(bal.std()), 'acc')}"])
    if not rows:
        return []
    return [("h3", "Repeated seeds"),
            ("p", "The same networks retrained from other seeds (other initial weights, shuffles and dropout "
                  "masks; the first seed is the run above), the other seeds trained side by side as one stacked "
                  "model. Mean +- sd over seeds (population sd, as np.std)."),
            ("table", ["experiment", "seeds", "test accuracy per seed", "test accuracy", "balanced accuracy"], rows)]
