"""The lab's 21 questions, each answered in a sentence that quotes the measured number it rests on.

Answers are written from results.json alone. Every number an answer quotes is recorded as
evidence (its path in results.json, the kind of number and the text quoted), so a reader, or a
test, can check it against the results. Where a part was not run, the answer says so. Where the
measurements go against the lab's own findings, the sentence says what was measured: directions
("rose", "fell") are computed, never written in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nidslab.settings import FitConfig, ModelSpec
from nidslab.study.config import settings_of
from nidslab.study.numbers import fmt, get
from nidslab.study.results import not_run_as_none

QUESTIONS: dict[int, tuple[str, str]] = {
    1: ("Part 3", "How many CUDA cores does the graphics card have?"),
    2: ("Part 3", "How much memory does the graphics card have?"),
    3: ("Part 3", "What is stored in the GPU memory while training a DNN?"),
    4: ("Part 5", "How high classification performance can a naive classifier obtain?"),
    5: ("Part 11", "What happens if you add several Dense layers without specifying the activation function?"),
    6: ("Part 11", "How are the weights in each dense layer initialized as default? How are the bias weights "
                   "initialized?"),
    7: ("Part 13", "Why do we have to use a batch size? Why can't we simply use all data at once?"),
    8: ("Part 13", "How busy is the GPU for a batch size of 100? How much GPU memory is used?"),
    9: ("Part 13", "What is the processing time for one training epoch when the batch size is 100, 1,000 and "
                   "10,000? Explain the results."),
    10: ("Part 13", "How many times are the weights updated in each training epoch for batch sizes 100, 1,000 "
                    "and 10,000?"),
    11: ("Part 13", "What limits how large the batch size can be?"),
    12: ("Part 13", "How is the learning rate related to the batch size? If the batch size is decreased, how "
                    "should the learning rate be changed?"),
    13: ("Part 14", "How many trainable parameters does the network with 4 dense layers with 50 nodes each "
                    "have, compared to the initial network with 2 layers and 20 nodes per layer?"),
    14: ("Part 15", "Why is batch normalization important when training deep networks?"),
    15: ("Part 18", "How does the validation accuracy change when adding dropout?"),
    16: ("Part 18", "How does the test accuracy change when adding dropout?"),
    17: ("Part 19", "How high classification accuracy can you achieve for the test data? What is your best "
                    "configuration? How much does the training time increase for a network with 10 layers?"),
    18: ("Part 20", "What is the mean and the standard deviation of the test accuracy (Monte Carlo dropout)?"),
    19: ("Part 21", "What is the mean and the standard deviation of the test accuracy (cross-validation)?"),
    20: ("Part 21", "What is the main advantage of dropout compared to CV for estimating test uncertainty?"),
    21: ("Part 22", "How would you change the DNN used in this lab in order to use it for regression instead?"),
}


class _Cite:
    """Collects the numbers one answer quotes: ``c(path, kind)`` returns the text and records it."""

    def __init__(self, results: dict[str, Any]):
        self.results = results
        self.evidence: list[dict[str, Any]] = []

    def __call__(self, path: Sequence[str | int], kind: str) -> str:
        value = get(self.results, path)
        text = fmt(value, kind)
        self.evidence.append({"path": list(path), "kind": kind, "value": value, "text": text})
        return text


def _trend(new: float, old: float, tol: float = 5e-4) -> str:
    if new > old + tol:
        return "rose"
    if new < old - tol:
        return "fell"
    return "stayed level"


#: how many noise sds a difference must exceed to count as a change (about a 95 % two-sided band)
NOISE_SDS = 2.0
#: the noise assumed when the study ran no cross-validation to measure it (balanced accuracy / accuracy)
FALLBACK_NOISE = 0.005
#: the least noise assumed: folds that all predict one class have sd 0, yet a rerun is not exact
MIN_NOISE = 0.001


def _noise(r: dict[str, Any], c: _Cite, metric: str = "balanced_accuracy") -> tuple[float, str]:
    """The run-to-run noise of a test ``metric`` (``accuracy`` or ``balanced_accuracy``): the sd over the
    cross-validation folds where the study ran them, else :data:`FALLBACK_NOISE`. Returns (sd, words)."""
    cv = r.get("cross_validation") or {}
    if (cv.get(metric) or {}).get("sd") is not None:
        sd = cv[metric]["sd"]
        words = (f"the sd of {metric.replace('_', ' ')} over the {c(['cross_validation', 'folds'], 'int')} "
                 f"cross-validation folds, {c(['cross_validation', metric, 'sd'], 'num')}")
        if sd < MIN_NOISE:
            return MIN_NOISE, f"{fmt(MIN_NOISE, 'num')} (a floor: {words}, is below it)"
        return sd, words
    return FALLBACK_NOISE, f"{fmt(FALLBACK_NOISE, 'num')} (assumed: this study ran no cross-validation to measure it)"


def _change(new: float, old: float, noise: float) -> str:
    """``rose`` / ``fell`` when ``new - old`` exceeds :data:`NOISE_SDS` noise sds, else ``stayed within the noise``."""
    if new - old > NOISE_SDS * noise:
        return "rose"
    if old - new > NOISE_SDS * noise:
        return "fell"
    return "stayed within the noise"


def _exp_with(results: dict[str, Any], **want: Any) -> str | None:
    """Name of the first experiment whose settings match ``want`` (e.g. n_layers=4, n_nodes=50)."""
    for name, e in results.get("experiments", {}).items():
        s = e.get("settings", {})
        # class_weight None was written "none" by nidslab before FitConfig: old results.json files still match
        if all(s.get(k) == v or (k == "class_weight" and {s.get(k), v} <= {None, "none"}) for k, v in want.items()):
            return str(name)
    return None


#: the lab's base network (Part 12: the default ModelSpec and FitConfig with balanced class weights); its
#: schedule is left out so a --quick study's shorter runs still match
_BASE = {k: v for k, v in settings_of(ModelSpec(), FitConfig(class_weight="balanced")).items()
         if k not in ("lr", "batch_size", "epochs")}


def _timing_row(results: dict[str, Any], batch_size: int) -> int | None:
    rows = (results.get("batch_size_timing") or {}).get("rows", [])
    for i, row in enumerate(rows):
        if row.get("batch_size") == batch_size:
            return i
    return None


def answer_questions(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The 21 answers: dicts with ``id``, ``part``, ``question``, ``answer`` and ``evidence``."""
    results = not_run_as_none(results)
    out = []
    for qid, (part, question) in QUESTIONS.items():
        cite = _Cite(results)
        missing = [key for key in _NEEDS.get(qid, ()) if not results.get(key)]
        try:
            if missing:
                raise KeyError(f"this study did not run {' or '.join(missing)}")
            answer = _ANSWERS[qid](results, cite)
        except KeyError as exc:  # a part this study did not run, or an experiment it did not define
            cite.evidence.clear()
            answer = f"Not measured in this study ({exc.args[0]})."
        out.append({"id": qid, "part": part, "question": question, "answer": answer, "evidence": cite.evidence})
    return out


# ----------------------------------------------------------------------------- the answers
Answer = Callable[[dict[str, Any], _Cite], str]


#: Part 3 of the lab text: "Lets pretend that everyone is using an Nvidia RTX 3090 graphics card."
LAB_GPU = "Nvidia RTX 3090"
#: Part 3, Question 1's answer in the lab text: "10 496" CUDA cores
LAB_GPU_CUDA_CORES = 10_496
#: Part 3, Question 2's answer in the lab text: "24 GB"
LAB_GPU_MEMORY = "24 GB"


def _gpu_cores(r: dict[str, Any], c: _Cite) -> str:
    lab = (f"The lab's card, the {LAB_GPU} (Part 3 of the lab), has {fmt(LAB_GPU_CUDA_CORES, 'int')} CUDA cores. ")
    if r["hardware"].get("gpu"):
        g = r["hardware"]["gpu"]
        cores = (c(["hardware", "gpu", "cuda_cores"], "int") if g.get("cuda_cores") is not None
                 else "an unlisted number of")
        return lab + (f"This machine's GPU, {g['name']}, has {cores} CUDA cores "
                      f"({c(['hardware', 'gpu', 'sm_count'], 'int')} streaming multiprocessors, read from the device).")
    return lab + ("This run found no CUDA GPU, so it trained on the CPU "
                  f"({r['hardware']['cpu']['model']}) with {c(['hardware', 'cpu', 'logical_cores'], 'int')} logical cores "
                  f"({c(['hardware', 'cpu', 'usable_cores'], 'int')} usable by this process); it has no CUDA cores.")


def _gpu_memory(r: dict[str, Any], c: _Cite) -> str:
    lab = f"The lab's {LAB_GPU} has {LAB_GPU_MEMORY} of memory (the lab's answer). "
    if r["hardware"].get("gpu"):
        return lab + f"This machine's GPU has {c(['hardware', 'gpu', 'memory_bytes'], 'gib')}, read from the device."
    return lab + (f"This machine has no GPU: training used its {c(['hardware', 'memory_bytes'], 'gib')} of RAM, "
                  "which holds what a GPU's memory would.")


def _what_memory_holds(r: dict[str, Any], c: _Cite) -> str:
    base = _exp_with(r, **_BASE) or next(iter(r["experiments"]))
    where = "GPU memory" if r["hardware"].get("gpu") else "memory (here the CPU's RAM)"
    text = (f"In {where}: the training data once copied there "
            f"({c(['data', 'train_bytes'], 'mib')} for the float32 training split), the weights with their "
            f"gradients and optimiser state ({c(['experiments', base, 'params'], 'int')} parameters for the "
            "2 x 20 network, 4 bytes each, twice more for Adam's moments), and every layer's outputs for the "
            "current batch, kept for backpropagation")
    if not r.get("batch_size_timing"):
        return text + "."
    i = _timing_row(r, max(row["batch_size"] for row in r["batch_size_timing"]["rows"]))
    if i is None:  # pragma: no cover - the largest batch size is one of the rows
        raise KeyError("no timed batch size")
    row = r["batch_size_timing"]["rows"][i]
    p: list[str | int] = ["batch_size_timing", "rows", i, "step_memory"]
    return text + (f". Counted from the tensors of one real training step at batch {fmt(row['batch_size'], 'int')}: "
                   f"{c(p + ['total'], 'bytes')} in all, of which the batch {c(p + ['batch'], 'bytes')}, the layer "
                   f"outputs kept for backpropagation {c(p + ['saved_for_backward'], 'bytes')}, the weights "
                   f"{c(p + ['parameters'], 'bytes')}, their gradients {c(p + ['gradients'], 'bytes')} and the "
                   f"optimiser's state {c(p + ['optimizer_state'], 'bytes')}.")


def _naive_classifier(r: dict[str, Any], c: _Cite) -> str:
    return (f"Always guessing the majority class ({r['data']['majority_class']}) scores "
            f"{c(['data', 'naive_accuracy'], 'acc')} accuracy; guessing at random with the class prior scores "
            f"{c(['data', 'random_chance', 'prior', 'mean'], 'acc')} on average "
            f"(sd {c(['data', 'random_chance', 'prior', 'sd'], 'acc')} over "
            f"{c(['data', 'random_chance', 'draws'], 'int')} Monte Carlo draws), and a fair "
            f"coin {c(['data', 'random_chance', 'uniform', 'mean'], 'acc')}. A classifier must beat "
            f"{c(['data', 'test_naive_accuracy'], 'acc')} on the test split to be better than the naive one.")


def _no_activations(r: dict[str, Any], c: _Cite) -> str:
    base, lin = _pair(r, activation="linear")
    e = r["experiments"]
    noise, words = _noise(r, c)
    text = ("Without activations, stacked Dense layers compose to a single linear map, so with the final sigmoid "
            "the network is only logistic regression whatever its depth. Measured: the 2 x 20 network with no "
            f"activation ({e[lin]['title']}) reached test accuracy {c(['experiments', lin, 'test', 'accuracy'], 'acc')} "
            f"(balanced {c(['experiments', lin, 'test', 'balanced_accuracy'], 'acc')}), against "
            f"{c(['experiments', base, 'test', 'accuracy'], 'acc')} (balanced "
            f"{c(['experiments', base, 'test', 'balanced_accuracy'], 'acc')}) with sigmoids; balanced accuracy "
            f"{_change(e[lin]['test']['balanced_accuracy'], e[base]['test']['balanced_accuracy'], noise)} without "
            f"them (noise: {words})")
    if (r.get("tree_baseline") or {}).get("linear"):
        text += (f". Logistic regression itself, on the same split, scored "
                 f"{c(['tree_baseline', 'linear', 'test', 'accuracy'], 'acc')} (balanced "
                 f"{c(['tree_baseline', 'linear', 'test', 'balanced_accuracy'], 'acc')})")
    return text + "."


def _weight_init(r: dict[str, Any], c: _Cite) -> str:
    base = _exp_with(r, **_BASE) or next(iter(r["experiments"]))
    p = ["experiments", base, "init"]
    return ("As Keras does: weights Glorot (Xavier) uniform in +-sqrt(6 / (fan_in + fan_out)) and biases zero. "
            f"Measured on the first layer of the 2 x 20 network ({c(p + ['fan_in'], 'int')} inputs to "
            f"{c(p + ['fan_out'], 'int')} units): the largest |weight| was {c(p + ['max_abs_weight'], 'num')} under "
            f"the limit {c(p + ['glorot_limit'], 'num')}, their sd {c(p + ['weight_std'], 'num')} (uniform: limit / "
            f"sqrt(3)), and the largest |bias| {c(p + ['max_abs_bias'], 'num')}.")


def _rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = r["batch_size_timing"]["rows"]
    return rows


def _timing_lr(r: dict[str, Any]) -> str:
    exp = r["experiments"].get(r["batch_size_timing"]["experiment"], {})
    return fmt(exp.get("settings", {}).get("lr"), "num")


def _why_batches(r: dict[str, Any], c: _Cite) -> str:
    rows = _rows(r)
    lo, hi = 0, len(rows) - 1
    return ("Memory, and learning: the batch and the network's activations kept for backpropagation grow with "
            "the batch (one training step holds "
            f"{c(['batch_size_timing', 'rows', lo, 'step_memory_bytes'], 'bytes')} of tensors at batch "
            f"{fmt(rows[lo]['batch_size'], 'int')}, {c(['batch_size_timing', 'rows', hi, 'step_memory_bytes'], 'bytes')} "
            f"at {fmt(rows[hi]['batch_size'], 'int')}), so all {c(['data', 'split', 'train'], 'int')} training rows "
            "at once may not fit, above all on a GPU; and one batch per epoch means one weight update per epoch "
            f"instead of {c(['batch_size_timing', 'rows', hi, 'updates_per_epoch'], 'int')} at batch "
            f"{fmt(rows[hi]['batch_size'], 'int')}.")


def _gpu_busy_at_batch_100(r: dict[str, Any], c: _Cite) -> str:
    i = _timing_row(r, 100)
    if i is None:
        raise KeyError("batch size 100 was not timed")
    p: list[str | int] = ["batch_size_timing", "rows", i]
    row = r["batch_size_timing"]["rows"][i]
    usage = row.get("usage") or {}
    u: list[str | int] = p + ["usage"]
    step = (f"an epoch took {c(p + ['seconds_per_epoch'], 's')} for {c(p + ['updates_per_epoch'], 'int')} weight "
            f"updates, each step holding {c(p + ['step_memory_bytes'], 'bytes')} of tensors (batch, activations, "
            "weights, gradients; counted from one step) beside the data")
    if usage.get("device") == "cuda":
        if usage.get("gpu_utilization_mean_pct") is not None:
            busy = (f"the GPU was busy {c(u + ['gpu_utilization_mean_pct'], 'num')}% of the time on average (at most "
                    f"{c(u + ['gpu_utilization_max_pct'], 'num')}%; {c(u + ['samples'], 'int')} samples by "
                    f"{usage['sampler']})")
        else:
            busy = "its utilisation could not be read (neither NVML nor nvidia-smi answered)"
        return (f"Measured while batch 100 trained on the GPU: {busy}; torch's peak allocated memory was "
                f"{c(u + ['gpu_max_memory_allocated'], 'bytes')} (reserved by its allocator: "
                f"{c(u + ['gpu_max_memory_reserved'], 'bytes')}). At batch 100 {step}.")
    if usage.get("device") == "cpu":
        return (f"No GPU here, so the CPU was measured instead: while batch 100 trained, this process kept "
                f"{c(u + ['cpu_busy_cores'], 'num')} cores busy on average ({c(u + ['cpu_seconds'], 's')} of CPU "
                f"time in {c(u + ['wall_seconds'], 's')}, of {c(['hardware', 'cpu', 'usable_cores'], 'int')} usable "
                f"cores); {step}.")
    return (f"Utilisation was not sampled in this run (its results predate the measurement). At batch 100 {step}.")


def _epoch_time_per_batch_size(r: dict[str, Any], c: _Cite) -> str:
    parts = [f"{c(['batch_size_timing', 'rows', i, 'seconds_per_epoch'], 's')} at batch {fmt(row['batch_size'], 'int')}"
             for i, row in enumerate(_rows(r))]
    scaled = (" (timed on a slice of the training rows and scaled to a full epoch)"
              if r["batch_size_timing"].get("scaled") else "")
    return ("One epoch took " + ", ".join(parts) + scaled + ": the work per epoch is the same, but every update "
            "pays a fixed cost (the optimiser step, launching each layer's kernels, Python) and small batches "
            "use the hardware's parallelism poorly, so the smallest batch was "
            f"{c(['batch_size_timing', 'slowdown_smallest_vs_largest'], 'x')} slower per epoch than the largest.")


def _updates_per_epoch(r: dict[str, Any], c: _Cite) -> str:
    parts = [f"{c(['batch_size_timing', 'rows', i, 'updates_per_epoch'], 'int')} at batch "
             f"{fmt(row['batch_size'], 'int')}" for i, row in enumerate(_rows(r))]
    return ("Once per batch, i.e. ceil(training rows / batch size) times per epoch with "
            f"{c(['batch_size_timing', 'train_rows'], 'int')} training rows: " + ", ".join(parts) + ".")


def _batch_size_limits(r: dict[str, Any], c: _Cite) -> str:
    rows = _rows(r)
    hi = len(rows) - 1
    mem = r["hardware"].get("gpu", {}) or {}
    room = (c(["hardware", "gpu", "memory_bytes"], "gib") + " of GPU memory" if mem.get("memory_bytes")
            else c(["hardware", "memory_bytes"], "gib") + " of RAM")
    lo_val = rows[0]["val_accuracy"]
    hi_val = rows[hi]["val_accuracy"]
    trend = ("higher" if lo_val > hi_val + 5e-4 else "lower" if lo_val < hi_val - 5e-4 else "the same")
    return ("Memory first: a step's batch, activations and gradients must fit on the device. Measured: one training "
            f"step of this small network holds {c(['batch_size_timing', 'rows', 0, 'step_memory_bytes'], 'bytes')} at "
            f"batch {fmt(rows[0]['batch_size'], 'int')} and {c(['batch_size_timing', 'rows', hi, 'step_memory_bytes'], 'bytes')} "
            f"at {fmt(rows[hi]['batch_size'], 'int')}, against {room} here: for this network memory is far from the "
            "limit; a bigger network or input would reach it sooner. Then learning: a larger batch makes fewer "
            f"updates per epoch ({c(['batch_size_timing', 'rows', 0, 'updates_per_epoch'], 'int')} against "
            f"{c(['batch_size_timing', 'rows', hi, 'updates_per_epoch'], 'int')}). After one epoch at lr {_timing_lr(r)} "
            f"validation accuracy was {c(['batch_size_timing', 'rows', 0, 'val_accuracy'], 'acc')} at batch "
            f"{fmt(rows[0]['batch_size'], 'int')} and {c(['batch_size_timing', 'rows', hi, 'val_accuracy'], 'acc')} at "
            f"{fmt(rows[hi]['batch_size'], 'int')} ({trend} at the smaller batch; one epoch, one seed).")


def _lr_runs(r: dict[str, Any]) -> list[str]:
    """The base 2 x 20 network's experiments at the base batch size and epochs, one per learning rate, by lr."""
    base = _exp_with(r, **_BASE)
    if base is None:
        raise KeyError("no 2 x 20 base experiment")
    s0 = r["experiments"][base]["settings"]
    same = {**_BASE, "batch_size": s0.get("batch_size"), "epochs": s0.get("epochs")}
    by_lr: dict[float, str] = {}
    for name, e in r["experiments"].items():
        s = e.get("settings", {})
        if _exp_with({"experiments": {name: e}}, **same) and s.get("lr") not in by_lr:
            by_lr[s.get("lr")] = name
    if len(by_lr) < 3:
        raise KeyError("the base network was trained at fewer than 3 learning rates")
    return [by_lr[lr] for lr in sorted(by_lr)]


def _lr_batch_grid(r: dict[str, Any]) -> tuple[int, dict[int, dict[float, str]]] | None:
    """The base 2 x 20 network trained at several learning rates for each of several batch sizes, all for
    the same epochs: (epochs, {batch_size: {lr: experiment}}), the grid with the most runs; None if none."""
    grids: dict[int, dict[int, dict[float, str]]] = {}
    for name, e in r["experiments"].items():
        s = e.get("settings", {})
        if _exp_with({"experiments": {name: e}}, **_BASE):
            grids.setdefault(s["epochs"], {}).setdefault(s["batch_size"], {}).setdefault(s["lr"], name)
    usable = {ep: {b: lrs for b, lrs in g.items() if len(lrs) >= 2} for ep, g in grids.items()}
    usable = {ep: g for ep, g in usable.items() if len(g) >= 2}
    if not usable:
        return None
    ep = max(usable, key=lambda k: sum(len(v) for v in usable[k].values()))
    return ep, usable[ep]


def _learning_rate_and_batch_size(r: dict[str, Any], c: _Cite) -> str:
    e = r["experiments"]
    theory = ("A larger batch averages the gradient over more rows (less noise) but takes fewer steps per epoch, "
              "so the usual rule scales the learning rate with the batch size (roughly linearly): decrease the "
              "batch, decrease the learning rate. ")
    grid = _lr_batch_grid(r)
    if grid is None:
        runs = _lr_runs(r)
        at = ", ".join(f"lr {fmt(e[n]['settings']['lr'], 'num')}: {c(['experiments', n, 'test', 'balanced_accuracy'], 'acc')}"
                       for n in runs)
        return theory + (f"Measured at one batch size only ({fmt(e[runs[0]]['settings']['batch_size'], 'int')}): test "
                         f"balanced accuracy {at}; this study varied no batch size with the learning rate.")
    epochs, by_batch = grid
    parts, best = [], {}
    for bs in sorted(by_batch):
        lrs = by_batch[bs]
        at = ", ".join(f"lr {fmt(lr, 'num')} {c(['experiments', lrs[lr], 'test', 'balanced_accuracy'], 'acc')}"
                       for lr in sorted(lrs))
        best[bs] = max(lrs, key=lambda lr: e[lrs[lr]]["test"]["balanced_accuracy"])
        parts.append(f"batch {fmt(bs, 'int')}: {at} (best lr {fmt(best[bs], 'num')})")
    sizes = sorted(best)
    lo, hi = best[sizes[0]], best[sizes[-1]]
    verdict = ("the best learning rate grew with the batch size, as the rule says" if hi > lo else
               "the best learning rate was the same at both batch sizes: the rule is not visible at this grid's "
               "resolution" if hi == lo else
               "the best learning rate fell as the batch grew, against the rule")
    return theory + (f"Measured: the 2 x 20 network for {fmt(epochs, 'int')} epochs at each batch size and learning "
                     f"rate, test balanced accuracy: " + "; ".join(parts) + f". Here {verdict} (one seed per run).")


def _parameter_counts(r: dict[str, Any], c: _Cite) -> str:
    big = _exp_with(r, n_layers=4, n_nodes=50)
    small = _exp_with(r, n_layers=2, n_nodes=20)
    if big is None or small is None:
        raise KeyError("no 4 x 50 or 2 x 20 experiment")
    return (f"The 4 x 50 network has {c(['experiments', big, 'params'], 'int')} trainable parameters, the 2 x 20 "
            f"network {c(['experiments', small, 'params'], 'int')} (92 x 50 + 50, then 3 x (50 x 50 + 50), then 51, "
            "against 92 x 20 + 20, 20 x 20 + 20, 21).")


def _pair(r: dict[str, Any], **change: Any) -> tuple[str, str]:
    base = _exp_with(r, **_BASE)
    other = _exp_with(r, **{**_BASE, **change})
    if base is None or other is None:
        raise KeyError(f"no 2 x 20 experiment with {change}")
    return base, other


def _why_batch_norm(r: dict[str, Any], c: _Cite) -> str:
    base, bn = _pair(r, batch_norm=True)
    deep = _exp_with(r, **{**_BASE, "n_layers": 4})
    deep_bn = _exp_with(r, **{**_BASE, "n_layers": 4, "batch_norm": True})
    if deep is None or deep_bn is None:
        raise KeyError("no deep (4-layer) network trained both with and without batch normalisation")
    e = r["experiments"]
    noise, words = _noise(r, c)

    def pair(with_bn: str, without: str) -> str:
        new, old = e[with_bn]["test"]["balanced_accuracy"], e[without]["test"]["balanced_accuracy"]
        return (f"test balanced accuracy {c(['experiments', with_bn, 'test', 'balanced_accuracy'], 'acc')} with batch "
                f"normalisation against {c(['experiments', without, 'test', 'balanced_accuracy'], 'acc')} without "
                f"(it {_change(new, old, noise)})")

    return ("Batch normalisation re-centres and re-scales each layer's outputs over the batch, so the next layer "
            "sees inputs of a stable scale while the weights change: sigmoids stay out of saturation and gradients "
            "keep their size through many layers, which matters most for deep stacks. Measured: the deep network "
            f"({e[deep]['title']}, {fmt(e[deep]['settings']['n_layers'], 'int')} sigmoid layers) had "
            f"{pair(deep_bn, deep)}; the 2 x 20 network had {pair(bn, base)}. Noise: {words}.")


def _dropout_validation(r: dict[str, Any], c: _Cite) -> str:
    base, drop = _pair(r, dropout=0.5)
    e = r["experiments"]
    new, old = e[drop]["history"]["val_accuracy"][-1], e[base]["history"]["val_accuracy"][-1]
    return (f"With dropout 0.5 the final validation accuracy {_trend(new, old)}: "
            f"{c(['experiments', drop, 'history', 'val_accuracy', -1], 'acc')} against "
            f"{c(['experiments', base, 'history', 'val_accuracy', -1], 'acc')} without. Training accuracy, "
            f"measured with dropout on, ended at {c(['experiments', drop, 'history', 'accuracy', -1], 'acc')}: "
            "dropout handicaps only training, so validation accuracy can sit above training accuracy.")


def _dropout_test(r: dict[str, Any], c: _Cite) -> str:
    base, drop = _pair(r, dropout=0.5)
    e = r["experiments"]
    t_new, t_old = e[drop]["test"]["accuracy"], e[base]["test"]["accuracy"]
    b_new, b_old = e[drop]["test"]["balanced_accuracy"], e[base]["test"]["balanced_accuracy"]
    return (f"Test accuracy {_trend(t_new, t_old)} with dropout: {c(['experiments', drop, 'test', 'accuracy'], 'acc')} "
            f"against {c(['experiments', base, 'test', 'accuracy'], 'acc')} without; balanced accuracy "
            f"{_trend(b_new, b_old)} ({c(['experiments', drop, 'test', 'balanced_accuracy'], 'acc')} against "
            f"{c(['experiments', base, 'test', 'balanced_accuracy'], 'acc')}). Dropout helps most where a model "
            f"overfits; a 2 x 20 network trained for {fmt(e[drop]['settings']['epochs'], 'int')} epochs on "
            f"{fmt(r['data']['split']['train'], 'int')} rows hardly can.")


def _describe_config(p: dict[str, Any]) -> str:
    bits = [f"{p['n_layers']} x {p['n_nodes']} {p['activation']}", f"{p['optimizer']} lr {fmt(p['lr'], 'num')}"]
    if p.get("batch_norm"):
        bits.append("batch normalisation")
    if p.get("dropout"):
        bits.append(f"dropout {fmt(p['dropout'], 'num')}")
    return ", ".join(bits)


def _best_configuration(r: dict[str, Any], c: _Cite) -> str:
    s = r["search"]
    text = (f"The search ran {c(['search', 'trials_run'], 'int')} Optuna trials in "
            f"{c(['search', 'wall_s'], 's')} and chose {_describe_config(s['best']['params'])}; trained for "
            f"{c(['search', 'final', 'settings', 'epochs'], 'int')} epochs on the full training split it reached "
            f"test accuracy {c(['search', 'final', 'test', 'accuracy'], 'acc')} (balanced "
            f"{c(['search', 'final', 'test', 'balanced_accuracy'], 'acc')}).")
    d = s.get("depth_timing") or []
    if len(d) >= 2:
        text += (f" Training time per epoch grew from {c(['search', 'depth_timing', 0, 'seconds_per_epoch'], 's')} at "
                 f"{fmt(d[0]['n_layers'], 'int')} layers to {c(['search', 'depth_timing', -1, 'seconds_per_epoch'], 's')} "
                 f"at {fmt(d[-1]['n_layers'], 'int')} layers of {fmt(d[-1]['n_nodes'], 'int')} nodes "
                 f"({c(['search', 'depth_slowdown'], 'x')}).")
    return text


def _mc_dropout_spread(r: dict[str, Any], c: _Cite) -> str:
    m = r["mc_dropout"]
    return (f"Over {c(['mc_dropout', 'passes'], 'int')} passes of the test set with dropout "
            f"{fmt(m['dropout'], 'num')} left on, accuracy had mean {c(['mc_dropout', 'accuracy', 'mean'], 'acc')} and "
            f"sd {c(['mc_dropout', 'accuracy', 'sd'], 'num')} (the same model with dropout off: "
            f"{c(['mc_dropout', 'deterministic_accuracy'], 'acc')}); per packet, the predicted probability varied "
            f"with a mean sd of {c(['mc_dropout', 'per_packet_sd', 'mean'], 'num')}.")


def _cv_spread(r: dict[str, Any], c: _Cite) -> str:
    how = ("blocked folds (each class cut into contiguous blocks in time" if r["cross_validation"].get("kind") == "blocked"
           else f"stratified folds (shuffled, random_state {r['cross_validation']['seed']}")
    return (f"Over {c(['cross_validation', 'folds'], 'int')} {how}, class weights per fold) the test accuracy had mean "
            f"{c(['cross_validation', 'accuracy', 'mean'], 'acc')} and sd {c(['cross_validation', 'accuracy', 'sd'], 'num')}.")


def _dropout_versus_cv(r: dict[str, Any], c: _Cite) -> str:
    return ("Dropout needs one trained network: its uncertainty estimate took "
            f"{c(['mc_dropout', 'passes_seconds'], 's')} for {c(['mc_dropout', 'passes'], 'int')} test passes on top "
            f"of one training run, while cross-validation trained {c(['cross_validation', 'folds'], 'int')} networks "
            f"in {c(['cross_validation', 'seconds'], 's')}; for a network that takes 24 hours to train, CV costs k "
            "days and MC dropout about one. (They measure different things: MC dropout the model's uncertainty "
            "for one training run, CV the spread over training sets.)")


def _regression_head(r: dict[str, Any], c: _Cite) -> str:
    g = r["regression"]
    return ("Replace the final sigmoid with a linear unit (no activation) and the binary cross-entropy with "
            "mean squared error, and report MAE / RMSE / R^2 instead of accuracy. Done here: the same 2-layer "
            f"network predicting {g['target']} ({g['target_meaning']}) from {c(['regression', 'n_inputs'], 'int')} "
            f"other features reached R^2 {c(['regression', 'test', 'r2'], 'num')} and MAE "
            f"{c(['regression', 'test', 'mae'], 'num')} {g['units']} on the test split (always predicting the "
            f"training mean: MAE {c(['regression', 'mean_baseline', 'mae'], 'num')})" + _r2_reading(g, c) + ".")


def _r2_reading(g: dict[str, Any], c: _Cite) -> str:
    """Why R^2 reads as it does: the target's heavy tail, and the scores on a clipped target."""
    from nidslab.study.parts.regression import tail_words

    if not g.get("tail") or not g.get("clipped"):
        return ""
    return (f". R^2 divides by the target's squared deviations from its mean, and packet sizes are heavy-tailed: "
            f"the largest 1% of test rows hold {c(['regression', 'tail', 'top1_share_of_squares'], 'pct')} of them "
            f"(median {c(['regression', 'tail', 'median'], 'num')}, largest {c(['regression', 'tail', 'max'], 'num')} "
            f"{g['units']}), {tail_words(g['tail']['top1_share_of_squares'])}. On the target clipped at the training "
            f"split's 99th percentile ({c(['regression', 'clipped', 'clip_at'], 'num')} {g['units']}) the same "
            f"predictions score MAE {c(['regression', 'clipped', 'test', 'mae'], 'num')}, RMSE "
            f"{c(['regression', 'clipped', 'test', 'rmse'], 'num')} and R^2 {c(['regression', 'clipped', 'test', 'r2'], 'num')}")


# The parts of results.json each answer needs; without them it says the part was not run.
_NEEDS: dict[int, tuple[str, ...]] = {
    1: ("hardware",), 2: ("hardware",), 3: ("hardware", "data", "experiments"), 4: ("data",),
    5: ("experiments",), 6: ("experiments",), 13: ("experiments",), 14: ("experiments",),
    15: ("experiments",), 16: ("experiments",), 17: ("search",), 18: ("mc_dropout",), 19: ("cross_validation",),
    20: ("cross_validation", "mc_dropout"), 21: ("regression",),
    **{q: ("batch_size_timing", "data") for q in range(7, 13)}, 12: ("batch_size_timing", "data", "experiments"),
}

_ANSWERS: dict[int, Answer] = {
    1: _gpu_cores, 2: _gpu_memory, 3: _what_memory_holds, 4: _naive_classifier, 5: _no_activations, 6: _weight_init,
    7: _why_batches, 8: _gpu_busy_at_batch_100, 9: _epoch_time_per_batch_size, 10: _updates_per_epoch,
    11: _batch_size_limits, 12: _learning_rate_and_batch_size, 13: _parameter_counts, 14: _why_batch_norm,
    15: _dropout_validation, 16: _dropout_test, 17: _best_configuration, 18: _mc_dropout_spread, 19: _cv_spread,
    20: _dropout_versus_cv, 21: _regression_head,
}

