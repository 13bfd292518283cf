"""Part 13: batch size. One training epoch from fresh weights per batch size (time, updates, validation
accuracy after it) and the bytes one training step holds at that batch size
(:func:`nidslab.memory.step_memory`). With ``max_rows`` the epoch runs on that many rows and its time is
scaled to the full training split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nidslab.study.blocks import Block, Rendered
from nidslab.study.charts import TRAIN, VAL, plt, png_bytes
from nidslab.study.config import Quick, Study, known_experiment, need
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, to_plain

NAME = "batch_size_timing"
NEEDS: tuple[str, ...] = ()
CACHE = "part"


@dataclass(frozen=True)
class Config:
    TABLE = NAME
    experiment: str = "balanced_2x20"
    batch_sizes: tuple[int, ...] = (100, 1_000, 10_000)
    max_rows: int = 0

    def __post_init__(self) -> None:
        need(all(b >= 1 for b in self.batch_sizes), "[batch_size_timing] batch_sizes", "must be positive integers",
             self.batch_sizes)
        need(self.max_rows >= 0, "[batch_size_timing] max_rows", "must be 0 or more", self.max_rows)

    def check(self, study: Study) -> None:
        known_experiment(study, "[batch_size_timing] experiment", self.experiment)

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, max_rows=q.timing_max_rows)


@dataclass
class Result:
    experiment: str = doc("the experiment timed")
    device: str = doc("cpu or cuda (<name>)")
    train_rows: int = doc("rows of the training split")
    timed_rows: int = doc("rows the epoch was timed on")
    scaled: bool = doc("true when timed on fewer rows and scaled to the whole split")
    rows: list[dict[str, Any]] = doc("per batch size: batch_size, seconds_per_epoch, timed_seconds, timed_updates, "
                                     "updates_per_epoch, step_memory_bytes, step_memory {batch, saved_for_backward, "
                                     "parameters, gradients, optimizer_state, total}, val_accuracy, usage (while that epoch trained, "
                                     "nidslab.memory.DeviceUsage: device, wall_seconds, cpu_seconds, cpu_busy_cores; "
                                     "on a GPU also gpu_utilization_mean_pct, gpu_utilization_max_pct, samples, "
                                     "sampler, gpu_max_memory_allocated, gpu_max_memory_reserved)")
    slowdown_smallest_vs_largest: float | None = doc("seconds per epoch at the smallest batch over the largest")


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return [dataclasses.asdict(cfg), ctx.study.experiment(cfg.experiment).settings(), "usage"]  # rows with usage


def run(cfg: Config, ctx: Context) -> Result:
    from nidslab.study import tasks

    e = ctx.study.experiment(cfg.experiment)
    full = ctx.data.train
    n = len(full[1])
    rows = n if cfg.max_rows <= 0 else min(n, cfg.max_rows)
    train = full if rows == n else (full[0][:rows], full[1][:rows])
    jobs = [ctx.job({**e.settings(), "batch_size": bs, "epochs": 1}) for bs in cfg.batch_sizes]
    timed = ctx.executor.map(tasks.timed_fit_task, jobs, *ctx.shared(train, ctx.data.validation),
                             progress=lambda d, k, _m="": ctx.detail(d, k, f"{d}/{k} batch sizes"))
    out = []
    for bs, (result, memory) in zip(cfg.batch_sizes, timed, strict=True):
        usage = memory.pop("usage", None)
        epoch_s = result["history"]["epoch_seconds"][0]
        # updates on the full split: ceil(n / bs), as the trainer counts them on the rows it had
        out.append({"batch_size": bs, "seconds_per_epoch": epoch_s * n / rows,
                    "timed_seconds": epoch_s, "timed_updates": result["updates_per_epoch"],
                    "updates_per_epoch": -(-n // bs),
                    "step_memory_bytes": memory["total"], "step_memory": memory,
                    "val_accuracy": result["history"]["val_accuracy"][-1], "usage": usage})
    slow = out[0]["seconds_per_epoch"] / out[-1]["seconds_per_epoch"] if out[-1]["seconds_per_epoch"] else None
    return Result(experiment=e.name, device=ctx.device, train_rows=n, timed_rows=rows, scaled=rows < n, rows=out,
                  slowdown_smallest_vs_largest=slow)


def figure(t: dict[str, Any]) -> bytes:
    """Seconds per epoch and weight updates per epoch against batch size (log axes)."""
    rows = t["rows"]
    bs = [r["batch_size"] for r in rows]
    fig, (ax_t, ax_u) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_t.plot(bs, [r["seconds_per_epoch"] for r in rows], "o-", color=TRAIN)
    ax_t.set_ylabel("seconds per epoch")
    ax_u.plot(bs, [r["updates_per_epoch"] for r in rows], "o-", color=VAL)
    ax_u.set_ylabel("weight updates per epoch")
    for ax in (ax_t, ax_u):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
    return png_bytes(fig)


def usage_text(u: dict[str, Any] | None) -> str:
    """How busy the device was during one timed epoch, in words (see nidslab.memory.DeviceUsage)."""
    if not u:
        return "not measured"
    if u.get("device") == "cuda":
        util = ("utilisation not readable" if u.get("gpu_utilization_mean_pct") is None else
                f"GPU {fmt(u['gpu_utilization_mean_pct'], 'num')}% busy on average")
        return f"{util}; peak {fmt(u.get('gpu_max_memory_allocated'), 'bytes')} allocated"
    return f"no GPU: {fmt(u.get('cpu_busy_cores'), 'num')} CPU cores busy on average"


def render(result: Result, results: dict[str, Any]) -> Rendered:
    t = to_plain(result)
    how = (f"timed on {fmt(t['timed_rows'], 'int')} of the {fmt(t['train_rows'], 'int')} training rows and scaled to a "
           "full epoch" if t.get("scaled") else f"a full epoch of {fmt(t['train_rows'], 'int')} training rows")
    rows = [[fmt(x["batch_size"], "int"), fmt(x["seconds_per_epoch"], "s"), fmt(x["updates_per_epoch"], "int"),
             fmt(x["step_memory_bytes"], "bytes"), usage_text(x.get("usage")), fmt(x["val_accuracy"], "acc")]
            for x in t["rows"]]
    mem = ("the bytes of the tensors one training step holds (the batch, the layer outputs kept for "
           "backpropagation, the weights, their gradients and the optimiser's state), counted from a real step "
           "at that batch size; the training data itself is not included")
    blocks: list[Block] = [
        ("h2", "Part 13: batch size"),
        ("p", f"One training epoch of {t['experiment']} from fresh weights at each batch size, lr fixed ({how}), "
              f"on {t['device']}. Step memory: {mem}. Validation accuracy after that one epoch."),
        ("table", ["batch size", "seconds per epoch", "weight updates per epoch", "step memory",
                   "device busy while it trained", "validation accuracy after 1 epoch"], rows),
        ("figure", "batch_size_timing", "Seconds and weight updates per epoch against batch size.")]
    return blocks, {"batch_size_timing": figure(t)}
