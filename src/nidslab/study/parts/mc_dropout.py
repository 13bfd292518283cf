"""Part 20: Monte Carlo dropout. Train the chosen model (with dropout ``dropout`` if it has none), then pass
the test set through it ``passes`` times with dropout on. The chosen model is an experiment, or ``best``:
the search's final network, reused as trained when this run trained it."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.study.blocks import Block, Rendered
from nidslab.study.charts import ACCENT, TRAIN, VAL, plt, png_bytes
from nidslab.study.config import Quick, Study, known_experiment, need
from nidslab.study.context import Context, model_key
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, to_plain

NAME = "mc_dropout"
NEEDS: tuple[str, ...] = ("search",)
CACHE = "part"


@dataclass(frozen=True)
class Config:
    """``[mc_dropout]``: which model (an experiment or ``best``), the dropout it gets if it has none, passes."""

    TABLE = NAME
    experiment: str = "best"
    dropout: float = 0.5
    passes: int = 100

    def __post_init__(self) -> None:
        need(0 < self.dropout < 1, "[mc_dropout] dropout", "must be in (0, 1)", self.dropout)
        need(self.passes >= 2, "[mc_dropout] passes", "must be at least 2", self.passes)

    def check(self, study: Study) -> None:
        known_experiment(study, "[mc_dropout] experiment", self.experiment,
                         allow_best=study.parts.get("search") is not None)

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, passes=min(self.passes, q.mc_passes))


@dataclass
class Result:
    description: str = doc("the model passed through")
    settings: dict[str, Any] = doc("its settings (as an experiment's), dropout included")
    dropout: float = doc("the dropout rate kept on")
    dropout_source: str = doc("the model's own, or the study's [mc_dropout] dropout")
    passes: int = doc("passes of the test set")
    test_rows: int = doc("test rows")
    train_seconds: float = doc("the model's training time, seconds")
    passes_seconds: float = doc("time of all passes, seconds")
    deterministic_accuracy: float = doc("test accuracy with dropout off")
    accuracy: dict[str, Any] = doc("test accuracy over passes: mean, sd, min, max, per_pass")
    per_packet_sd: dict[str, Any] = doc("sd of a packet's probability over passes: mean, median, p95, max, "
                                        "mean_correct, mean_wrong, histogram {edges, counts}")


def chosen(cfg: Config, ctx: Context) -> tuple[dict[str, Any], str]:
    """The settings of the model passed through, and its description."""
    if cfg.experiment == "best":
        return dict(ctx.needs["search"].final.settings), "the best configuration found by the search"
    e = ctx.study.experiment(cfg.experiment)
    return e.settings(), e.title or cfg.experiment


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return [dataclasses.asdict(cfg), chosen(cfg, ctx)[0]]


def run(cfg: Config, ctx: Context) -> Result:
    from nidslab.uncertainty import mc_dropout

    settings, description = chosen(cfg, ctx)
    test = ctx.data.test
    own = settings.get("dropout", 0.0) > 0
    settings = {**settings, "dropout": settings["dropout"] if own else cfg.dropout}
    # The search's final model, when it has dropout and was trained in this run, is reused as is.
    kept = ctx.models.get(model_key(settings))
    result, model = kept if kept else ctx.train_eval(settings, ctx.data.train, ctx.data.validation, test)
    start = time.perf_counter()
    mc = mc_dropout(model, test[0], test[1], passes=cfg.passes, seed=ctx.seed)
    seconds = time.perf_counter() - start
    acc = np.asarray(mc.accuracies, dtype=np.float64)
    sd = np.asarray(mc.std, dtype=np.float64)           # per packet, over passes
    mean_p = np.asarray(mc.mean, dtype=np.float64)       # per packet, averaged probability
    correct = (mean_p >= 0.5) == (np.asarray(test[1]) == 1)
    counts, edges = np.histogram(sd, bins=25, range=(0.0, max(float(sd.max()), 1e-6)))
    return Result(
        description=description,
        settings=settings,
        dropout=settings["dropout"],
        dropout_source="the model's own" if own else "the study's [mc_dropout] dropout (the model had none)",
        passes=cfg.passes,
        test_rows=len(test[1]),
        train_seconds=result["train_seconds"],
        passes_seconds=seconds,
        deterministic_accuracy=result["test"]["accuracy"],
        accuracy={"mean": float(acc.mean()), "sd": float(acc.std()), "min": float(acc.min()),
                  "max": float(acc.max()), "per_pass": acc.tolist()},
        per_packet_sd={"mean": float(sd.mean()), "median": float(np.median(sd)),
                       "p95": float(np.percentile(sd, 95)), "max": float(sd.max()),
                       "mean_correct": float(sd[correct].mean()) if correct.any() else None,
                       "mean_wrong": float(sd[~correct].mean()) if (~correct).any() else None,
                       "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}},
    )


def figure(part: dict[str, Any]) -> bytes:
    """Histogram of the per-pass test accuracies, and of the per-packet sd of the predicted probability."""
    fig, (ax_a, ax_u) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_a.hist(part["accuracy"]["per_pass"], bins=20, color=TRAIN)
    ax_a.axvline(part["deterministic_accuracy"], color=VAL, linestyle="--", label="dropout off")
    ax_a.set_xlabel("test accuracy of one pass")
    ax_a.set_ylabel("passes")
    ax_a.legend(fontsize=8)
    h = part["per_packet_sd"]["histogram"]
    edges, counts = h["edges"], h["counts"]
    ax_u.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges[:-1], edges[1:], strict=True)],
             align="edge", color=ACCENT)
    ax_u.set_yscale("log")
    ax_u.set_xlabel("sd of a packet's predicted probability over passes")
    ax_u.set_ylabel("test packets")
    for ax in (ax_a, ax_u):
        ax.grid(alpha=0.3)
    return png_bytes(fig)


def render(result: Result, results: dict[str, Any]) -> Rendered:
    m = to_plain(result)
    u = m["per_packet_sd"]
    blocks: list[Block] = [
        ("h2", "Part 20: Monte Carlo dropout"),
        ("p", f"Model: {m['description']}; dropout {fmt(m['dropout'], 'num')} ({m['dropout_source']}), kept on at test "
              f"time. The test set ({fmt(m['test_rows'], 'int')} packets) through it {fmt(m['passes'], 'int')} times "
              f"in {fmt(m['passes_seconds'], 's')}: accuracy mean {fmt(m['accuracy']['mean'], 'acc')}, sd "
              f"{fmt(m['accuracy']['sd'], 'num')} (min {fmt(m['accuracy']['min'], 'acc')}, max "
              f"{fmt(m['accuracy']['max'], 'acc')}); with dropout off {fmt(m['deterministic_accuracy'], 'acc')}. "
              f"Per packet, the sd of the predicted probability over passes: mean {fmt(u['mean'], 'num')}, median "
              f"{fmt(u['median'], 'num')}, 95th percentile {fmt(u['p95'], 'num')}; mean sd on packets the "
              f"averaged prediction gets right {fmt(u['mean_correct'], 'num')}, wrong {fmt(u['mean_wrong'], 'num')}."),
        ("figure", "mc_dropout", "Left: test accuracy of each pass. Right: per-packet predictive uncertainty.")]
    return blocks, {"mc_dropout": figure(m)}
