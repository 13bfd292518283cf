"""The lab's findings, each beside the lab's own number and this run's, judged by code.

One named function per finding. Each reads results.json (parts not run as None), quotes every number it
rests on through :class:`nidslab.study.questions._Cite` (its path in results.json is kept as evidence) and
returns a verdict, ``holds``, ``partly`` or ``does not hold``, computed from this run's numbers; nothing is
written in ahead of the measurement.

A difference counts when it exceeds :data:`~nidslab.study.questions.NOISE_SDS` noise sds. The noise is the
seed-to-seed spread where both compared experiments were retrained with several seeds (their ``seed_runs``:
mean +- sd, and how many seeds; with ``[study] stacking = "shared"`` the seeds share one shuffle and differ in
initial weights and dropout masks, and the words say so), else the cross-validation sd (or an assumed floor), and the finding says it
rests on one seed. Where the data holds per-packet truth, every finding is read against the ceiling: the
accuracy a detector perfect on packet truth gets against the study's (time-cut) labels.

The lab's numbers below are constants quoted from its text (/work/shared/seed/dnn-lab-2023.txt, the
notebook "DNN Lab 2023"); each comment names the part and line of output it comes from.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nidslab.study.numbers import fmt
from nidslab.study.questions import _BASE, NOISE_SDS, _Cite, _exp_with, _noise
from nidslab.study.results import not_run_as_none

# ----------------------------------------------------------------------------- the lab's numbers, from its text

#: Part 10 (2 layers, 20 nodes, no class weights): "val_accuracy: 0.8404" at every one of its 20 epochs
LAB_P10_VAL_ACCURACY = 0.8404
LAB_P10_STUCK_EPOCHS = 20
#: Part 10: "Test accuracy: 0.8422"
LAB_P10_TEST_ACCURACY = 0.8422
#: Part 12 (2 x 20, class weights): "Test accuracy: 0.8798"
LAB_P12_TEST_ACCURACY = 0.8798
#: Part 14, 4 layers 20 nodes: epoch 20 "val_loss: 0.6906", "Test accuracy: 0.8762"
LAB_P14_DEEP_VAL_LOSS = 0.6906
LAB_P14_DEEP_TEST_ACCURACY = 0.8762
#: Part 12's 2 x 20 with class weights, epoch 20: "val_loss: 0.3776"
LAB_P12_VAL_LOSS = 0.3776
#: Part 15 (2 x 20, class weights, batch normalization): "Test accuracy: 0.8870"
LAB_P15_TEST_ACCURACY = 0.8870
#: Part 16 (ReLU): "Test accuracy: 0.9032"; Part 17 (Adam, lr 0.1): "Test accuracy: 0.9244"
LAB_P16_TEST_ACCURACY = 0.9032
LAB_P17_TEST_ACCURACY = 0.9244
#: Part 18 (dropout 0.5): "Test accuracy: 0.8846"
LAB_P18_TEST_ACCURACY = 0.8846
#: Part 20 (Monte Carlo dropout, 100 passes): "mean = 0.8801441264152526", "std = 0.000789848164598046"
LAB_P20_MC_MEAN, LAB_P20_MC_SD = 0.8801441264152526, 0.000789848164598046
#: Part 21 (10-fold CV), Question 19: "mean = 0.8813720524311066", "std = 0.0022948522134988063"
LAB_P21_CV_MEAN, LAB_P21_CV_SD = 0.8813720524311066, 0.0022948522134988063
#: Part 19, Question 17: "Test accuracy: 0.9426" claimed; the run the notebook shows printed "Test accuracy: 0.9040"
LAB_P19_CLAIMED, LAB_P19_SHOWN = 0.9426, 0.9040
#: the level: how far this run's best lab network may be from the lab's best (Part 17's Adam) and still "hold"
LEVEL_TOLERANCE = 0.03
#: the loss of a network that outputs 0.5 for every packet: "barely trains" is a validation loss near it
COIN_LOSS = math.log(2)
#: within this of ln 2 the deep network's validation loss counts as barely below a coin's (the lab: 0.6906)
BARELY = 0.05

HOLDS, PARTLY, NOT = "holds", "partly", "does not hold"


@dataclass
class Compared:
    """Two experiments' test metric compared against the noise."""

    new: float
    old: float
    noise: float
    words: str          # how the numbers and the noise were measured
    seeds: int          # seeds behind each number (1: one run)

    @property
    def diff(self) -> float:
        return self.new - self.old

    @property
    def direction(self) -> str:
        if self.diff > NOISE_SDS * self.noise:
            return "rose"
        if -self.diff > NOISE_SDS * self.noise:
            return "fell"
        return "stayed within the noise"


def _seed_stats(e: dict[str, Any], metric: str) -> tuple[float, float, int] | None:
    runs = (e.get("seed_runs") or {}).get(f"test_{metric}") or []
    if len(runs) < 2:
        return None
    return statistics.fmean(runs), statistics.stdev(runs), len(runs)


def compare(r: dict[str, Any], c: _Cite, new: str, old: str, metric: str) -> Compared:
    """Experiment ``new`` against ``old`` on test ``metric`` (accuracy | balanced_accuracy): their seed
    means where both were retrained with several seeds, else their single runs with the study's noise."""
    e = r["experiments"]
    a, b = _seed_stats(e[new], metric), _seed_stats(e[old], metric)
    if a and b:
        noise = math.sqrt(a[1] ** 2 + b[1] ** 2)  # sd of the difference of two independent runs
        n = min(a[2], b[2])
        for name, s in ((new, a), (old, b)):  # the mean +- sd quoted, from the runs at this path
            path = ["experiments", name, "seed_runs", f"test_{metric}"]
            c.evidence.append({"path": path, "kind": "mean +- sd", "value": e[name]["seed_runs"][f"test_{metric}"],
                               "text": f"{fmt(s[0], 'acc')} +- {fmt(s[1], 'num')}"})
        shared = [name for name in (new, old) if e[name].get("seed_shuffle") == "shared"]
        over = f"{n} seeds"
        if shared:
            whose = "" if len(shared) == 2 else f" for {shared[0]}"
            over += (f"; initial weights and dropout masks, one shared shuffle{whose}, so that spread leaves out the "
                     "order of the batches")
        words = (f"{fmt(a[0], 'acc')} +- {fmt(a[1], 'num')} against {fmt(b[0], 'acc')} +- {fmt(b[1], 'num')} "
                 f"(mean +- sd over {over})")
        return Compared(a[0], b[0], noise, words, n)
    noise, nwords = _noise(r, c, metric)
    words = (f"{c(['experiments', new, 'test', metric], 'acc')} against {c(['experiments', old, 'test', metric], 'acc')} "
             f"(one seed each; noise: {nwords})")
    return Compared(e[new]["test"][metric], e[old]["test"][metric], noise, words, 1)


def _ceiling_note(r: dict[str, Any], value: float, metric: str) -> str:
    """Where ``value`` (a test ``metric``: accuracy | balanced_accuracy) stands against the packet-truth
    ceiling ("" when the data has no packet truth)."""
    lt = (r.get("data") or {}).get("label_truth") or {}
    ceiling = (lt.get("test") or {}).get(f"ceiling_{metric}")
    if ceiling is None:
        return ""
    words = metric.replace("_", " ")
    if value > ceiling:
        return (f"; {fmt(value, 'acc')} is above the packet-truth ceiling for {words} ({fmt(ceiling, 'acc')}): it is "
                "credited for learning when the outbreak began, not only what the attack looks like")
    return f"; below the packet-truth ceiling for {words} ({fmt(ceiling, 'acc')})"


def _need(r: dict[str, Any], **want: Any) -> str:
    name = _exp_with(r, **{**_BASE, **want})
    if name is None:
        raise KeyError(f"no 2 x 20-based experiment with {want}")
    return name


def _seeds_note(*cs: Compared) -> str:
    n = min(x.seeds for x in cs)
    return f"judged on {n} seeds" if n > 1 else "rests on one seed"


# ----------------------------------------------------------------------------- the findings


def majority_trap(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Part 10: the unweighted 2 x 20 sigmoid SGD network predicts the majority class."""
    name = _need(r, class_weight=None)
    e = r["experiments"][name]
    val = e["history"]["val_accuracy"]
    naive = r["data"]["test_naive_accuracy"]
    run = _longest_run([abs(v - naive) < 0.005 for v in val])   # epochs at the majority share
    rate = e["test"]["positive_rate"]
    single = rate in (0.0, 1.0)
    if run is None:
        held = f"never at the majority share ({fmt(naive, 'acc')}) in {len(val)} epochs"
        p: list[str | int] = ["experiments", name, "history", "val_accuracy", -1]
        here = f"validation accuracy {held}, {c(p, 'acc')} at the end"
    else:
        a, b = run
        p = ["experiments", name, "history", "val_accuracy", a]
        held = (f"for its first {b - a + 1} of {len(val)} epochs" if a == 0 else
                f"in epochs {a + 1}-{b + 1} of {len(val)}")
        here = f"validation accuracy sat at {c(p, 'acc')} (the majority share) {held}"
    here += f"; test accuracy {c(['experiments', name, 'test', 'accuracy'], 'acc')}"
    stuck = 0 if run is None else run[1] - run[0] + 1
    if single:
        verdict = HOLDS
        why = "it predicted one class for every test packet, as in the lab"
    elif stuck >= 2:
        verdict = PARTLY
        why = (f"it sat at the majority share (naive accuracy {c(['data', 'test_naive_accuracy'], 'acc')}) for "
               f"{stuck} epochs, but at the end it predicted "
               f"{c(['experiments', name, 'test', 'positive_rate'], 'pct')} of test packets malicious")
    else:
        verdict = NOT
        why = (f"its validation accuracy did not sit at the majority share for two epochs or more; it predicted "
               f"{c(['experiments', name, 'test', 'positive_rate'], 'pct')} of test packets malicious (naive accuracy "
               f"{c(['data', 'test_naive_accuracy'], 'acc')})")
    lab = (f"val accuracy {fmt(LAB_P10_VAL_ACCURACY, 'acc')} at all {LAB_P10_STUCK_EPOCHS} epochs; test "
           f"{fmt(LAB_P10_TEST_ACCURACY, 'acc')}")
    return lab, here, verdict, why + f" ({len(val)} epochs here, {LAB_P10_STUCK_EPOCHS} in the lab; rests on one seed)"


def _longest_run(flags: list[bool]) -> tuple[int, int] | None:
    """(first, last) index of the longest stretch of True in ``flags`` (the earliest of equals); None if none."""
    best: tuple[int, int] | None = None
    start = None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if best is None or i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best


def _lift(r: dict[str, Any], c: _Cite, new: str, old: str, metric: str) -> tuple[str, Compared]:
    cmp = compare(r, c, new, old, metric)
    verdict = HOLDS if cmp.direction == "rose" else NOT
    return verdict, cmp


def _lift_text(cmp: Compared, what: str) -> str:
    return (f"{what}: {cmp.words}; difference {fmt(cmp.diff, 'num')}, a real one exceeds "
            f"{fmt(NOISE_SDS * cmp.noise, 'num')}: it {cmp.direction}")


def class_weights(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Part 12: balanced class weights lift the network off the majority class."""
    a, b = _need(r, class_weight=None), _need(r)
    verdict, cmp = _lift(r, c, b, a, "balanced_accuracy")
    here = (f"test accuracy {c(['experiments', b, 'test', 'accuracy'], 'acc')} (without: "
            f"{c(['experiments', a, 'test', 'accuracy'], 'acc')})")
    lab = f"test accuracy {fmt(LAB_P10_TEST_ACCURACY, 'acc')} -> {fmt(LAB_P12_TEST_ACCURACY, 'acc')}"
    return lab, here, verdict, (_lift_text(cmp, "balanced accuracy with weights against without (the lab printed "
                                            "accuracy only)") + f"; {_seeds_note(cmp)}")


def deeper_sigmoid(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Part 14: a deeper sigmoid network (4 x 20) barely trains in 20 epochs of SGD."""
    deep, base = _need(r, n_layers=4), _need(r)
    e = r["experiments"]
    d_loss, b_loss = e[deep]["history"]["val_loss"][-1], e[base]["history"]["val_loss"][-1]
    here = (f"final val loss {c(['experiments', deep, 'history', 'val_loss', -1], 'num')} (2 x 20: "
            f"{c(['experiments', base, 'history', 'val_loss', -1], 'num')}); test accuracy "
            f"{c(['experiments', deep, 'test', 'accuracy'], 'acc')}")
    near_coin = abs(d_loss - COIN_LOSS) <= BARELY
    behind = d_loss > b_loss + BARELY   # the 2 x 20 network got clearly further
    if near_coin and behind:
        verdict, why = HOLDS, (f"its validation loss stayed within {fmt(BARELY, 'num')} of ln 2 = "
                               f"{fmt(COIN_LOSS, 'num')} (a constant 0.5 output) while the 2 x 20 network's fell below it")
    elif near_coin:
        verdict, why = PARTLY, (f"its validation loss stayed near ln 2 = {fmt(COIN_LOSS, 'num')}, but so did the 2 x 20 "
                                "network's: in these epochs neither trained far, so depth is not what held it back")
    elif behind:
        verdict, why = PARTLY, (f"its validation loss fell below a coin's ({fmt(COIN_LOSS, 'num')}) but stayed above "
                                "the 2 x 20 network's")
    else:
        verdict, why = NOT, "it trained as far as the 2 x 20 network"
    lab = (f"val loss {fmt(LAB_P14_DEEP_VAL_LOSS, 'num')} (2 x 20: {fmt(LAB_P12_VAL_LOSS, 'num')}); test "
           f"{fmt(LAB_P14_DEEP_TEST_ACCURACY, 'acc')}")
    return lab, here, verdict, why + f" ({len(e[deep]['history']['val_loss'])} epochs; rests on one seed)"


def batch_norm(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Part 15: batch normalisation lifts test accuracy (the 2 x 20 network; here also the 4 x 20)."""
    base, bn = _need(r), _need(r, batch_norm=True)
    v2, small = _lift(r, c, bn, base, "accuracy")
    text = _lift_text(small, "2 x 20 test accuracy with batch normalisation against without")
    verdict = v2
    deep, deep_bn = _exp_with(r, **{**_BASE, "n_layers": 4}), _exp_with(r, **{**_BASE, "n_layers": 4, "batch_norm": True})
    notes = [small]
    if deep and deep_bn:
        v4, big = _lift(r, c, deep_bn, deep, "balanced_accuracy")
        notes.append(big)
        text += "; " + _lift_text(big, "4 x 20 balanced accuracy with against without")
        if v2 != v4:
            verdict = PARTLY
    here = f"test accuracy {c(['experiments', bn, 'test', 'accuracy'], 'acc')} (without: {c(['experiments', base, 'test', 'accuracy'], 'acc')})"
    lab = f"test accuracy {fmt(LAB_P12_TEST_ACCURACY, 'acc')} -> {fmt(LAB_P15_TEST_ACCURACY, 'acc')}"
    return lab, here, verdict, text + f"; {_seeds_note(*notes)}"


def relu_adam(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Parts 16-17: ReLU, and Adam, each lift test accuracy over the sigmoid SGD network."""
    base, relu, adam = _need(r), _need(r, activation="relu"), _need(r, optimizer="adam")
    vr, cr = _lift(r, c, relu, base, "accuracy")
    va, ca = _lift(r, c, adam, base, "accuracy")
    verdict = HOLDS if vr == va == HOLDS else (PARTLY if HOLDS in (vr, va) else NOT)
    here = (f"ReLU {c(['experiments', relu, 'test', 'accuracy'], 'acc')}, Adam "
            f"{c(['experiments', adam, 'test', 'accuracy'], 'acc')} (sigmoid SGD: "
            f"{c(['experiments', base, 'test', 'accuracy'], 'acc')})")
    lab = (f"ReLU {fmt(LAB_P16_TEST_ACCURACY, 'acc')}, Adam {fmt(LAB_P17_TEST_ACCURACY, 'acc')} (sigmoid SGD: "
           f"{fmt(LAB_P12_TEST_ACCURACY, 'acc')})")
    return lab, here, verdict, (f"{_lift_text(cr, 'ReLU')}; {_lift_text(ca, 'Adam')}; {_seeds_note(cr, ca)}")


def dropout(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Part 18 (Question 16): dropout raises test accuracy."""
    base, drop = _need(r), _need(r, dropout=0.5)
    verdict, cmp = _lift(r, c, drop, base, "accuracy")
    lab_diff = LAB_P18_TEST_ACCURACY - LAB_P12_TEST_ACCURACY
    here = f"test accuracy {c(['experiments', drop, 'test', 'accuracy'], 'acc')} (without: {c(['experiments', base, 'test', 'accuracy'], 'acc')})"
    lab = f"test accuracy {fmt(LAB_P12_TEST_ACCURACY, 'acc')} -> {fmt(LAB_P18_TEST_ACCURACY, 'acc')}"
    return lab, here, verdict, (_lift_text(cmp, "with dropout 0.5 against without") + f"; {_seeds_note(cmp)}. The "
                                f"lab's own lift, {fmt(lab_diff, 'num')}, is {fmt(lab_diff / LAB_P21_CV_SD, 'x')} "
                                f"its CV sd ({fmt(LAB_P21_CV_SD, 'num')})")


def mc_versus_cv(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Parts 20-21: Monte Carlo dropout's spread is smaller than CV's, and it costs one training run."""
    m, cv = r["mc_dropout"], r["cross_validation"]
    smaller = m["accuracy"]["sd"] < cv["accuracy"]["sd"]
    cheaper = m["passes_seconds"] < cv["seconds"]
    verdict = HOLDS if smaller and cheaper else (PARTLY if smaller or cheaper else NOT)
    here = (f"MC sd {c(['mc_dropout', 'accuracy', 'sd'], 'num')} ({c(['mc_dropout', 'passes'], 'int')} passes), "
            f"CV sd {c(['cross_validation', 'accuracy', 'sd'], 'num')} ({c(['cross_validation', 'folds'], 'int')} folds)")
    lab = f"MC sd {fmt(LAB_P20_MC_SD, 'num')} (mean {fmt(LAB_P20_MC_MEAN, 'acc')}), CV sd {fmt(LAB_P21_CV_SD, 'num')} (mean {fmt(LAB_P21_CV_MEAN, 'acc')})"
    why = (f"MC dropout's spread is {'smaller' if smaller else 'not smaller'} than CV's; its passes took "
           f"{c(['mc_dropout', 'passes_seconds'], 's')} against {c(['cross_validation', 'seconds'], 's')} for CV's "
           "trainings. They measure different things: one trained model's uncertainty, against the spread over "
           "training sets")
    return lab, here, verdict, why


def accuracy_level(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """The level: the lab's networks beat the naive classifier and reach about 0.88-0.92 test accuracy."""
    exps = r["experiments"]
    if not exps:
        raise KeyError("no experiments")
    best = max(exps, key=lambda n: exps[n]["test"]["accuracy"])
    noise, words = _noise(r, c, "accuracy")
    acc, naive = exps[best]["test"]["accuracy"], r["data"]["test_naive_accuracy"]
    beats = acc - naive > NOISE_SDS * noise
    near = abs(acc - LAB_P17_TEST_ACCURACY) <= LEVEL_TOLERANCE
    verdict = HOLDS if beats and near else (PARTLY if beats else NOT)
    here = (f"best lab network ({exps[best]['title']}) {c(['experiments', best, 'test', 'accuracy'], 'acc')}; naive "
            f"{c(['data', 'test_naive_accuracy'], 'acc')}")
    lab = (f"best lab network (Adam) {fmt(LAB_P17_TEST_ACCURACY, 'acc')}; naive {fmt(LAB_P10_VAL_ACCURACY, 'acc')}; "
           f"Q17 claims {fmt(LAB_P19_CLAIMED, 'acc')}, its shown run printed {fmt(LAB_P19_SHOWN, 'acc')}")
    why = (f"{'beats' if beats else 'does not beat'} the naive classifier beyond the noise ({words}); "
           f"{'within' if near else 'more than'} {fmt(LEVEL_TOLERANCE, 'num')} of the lab's best")
    return lab, here, verdict, why + _ceiling_note(r, acc, "accuracy")


def tree_model(r: dict[str, Any], c: _Cite) -> tuple[str, str, str, str]:
    """Part 1's remark: dense networks are not the best model for tabular data (a tree model does better)."""
    t = r.get("tree_baseline")
    if not t:
        raise KeyError("no tree baseline")
    noise, words = _noise(r, c, "balanced_accuracy")
    new, old = t["test"]["balanced_accuracy"], t["best_dnn"]["balanced_accuracy"]
    verdict = HOLDS if new - old > NOISE_SDS * noise else NOT
    here = (f"LightGBM {c(['tree_baseline', 'test', 'balanced_accuracy'], 'acc')}, best network "
            f"{c(['tree_baseline', 'best_dnn', 'balanced_accuracy'], 'acc')} (balanced accuracy)")
    return ("no number (Part 1: \"Dense networks are not optimal for tabular datasets\")", here, verdict,
            f"difference {fmt(new - old, 'num')}; noise: {words}; rests on one seed"
            + _ceiling_note(r, new, "balanced_accuracy"))


Finding = Callable[[dict[str, Any], _Cite], tuple[str, str, str, str]]

#: (the lab's part, its claim, the function that checks it), in the lab's order
FINDINGS: list[tuple[str, str, Finding]] = [
    ("Part 10", "Without class weights the 2 x 20 sigmoid SGD network is stuck at the majority class", majority_trap),
    ("Part 12", "Balanced class weights lift it off the majority class", class_weights),
    ("Part 14", "A deeper sigmoid network (4 x 20) barely trains", deeper_sigmoid),
    ("Part 15", "Batch normalisation lifts test accuracy", batch_norm),
    ("Parts 16-17", "ReLU, and Adam, each beat the sigmoid SGD network", relu_adam),
    ("Part 18", "Dropout raises test accuracy", dropout),
    ("Parts 20-21", "Monte Carlo dropout gives a smaller spread than CV, at the cost of one training", mc_versus_cv),
    ("Parts 10-19", "The networks beat the naive classifier and reach about 0.88-0.92 test accuracy", accuracy_level),
    ("Part 1", "Dense networks are not the best model for tabular data (a tree model does better)", tree_model),
]


def findings(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The lab's findings checked against ``results``: dicts with ``part``, ``claim``, ``lab`` (the lab's
    numbers, quoted from its text), ``here`` (this run's), ``verdict`` (holds | partly | does not hold),
    ``holds`` (verdict == holds), ``text`` (the evidence in words) and ``evidence`` (the numbers quoted).
    A finding whose parts or experiments were not run is left out."""
    r = not_run_as_none(results)
    out = []
    for part, claim, fn in FINDINGS:
        c = _Cite(r)
        try:
            lab, here, verdict, text = fn(r, c)
        except (KeyError, TypeError):  # a part or an experiment this study did not run
            continue
        out.append({"part": part, "claim": claim, "lab": lab, "here": here, "verdict": verdict,
                    "holds": verdict == HOLDS, "text": text + ".", "evidence": c.evidence})
    return out


def label_truth_text(results: dict[str, Any]) -> str | None:
    """The paragraph on label truth for the top of the report (None: the data has no packet truth)."""
    r = not_run_as_none(results)
    lt = (r.get("data") or {}).get("label_truth")
    if not lt:
        return None
    t = lt["test"]
    return (f"Label truth: the study's labels are the capture's time cut (every packet after the outbreak's "
            f"onset is malicious), and {fmt(lt['benign_called_malicious'], 'int')} of the "
            f"{fmt(lt['rows'], 'int')} packets they call malicious are benign background in the packet truth "
            f"({fmt(t['benign_called_malicious'], 'int')} of the {fmt(t['rows'], 'int')} test packets). A detector "
            f"perfect on packet truth would score accuracy {fmt(t['ceiling_accuracy'], 'acc')} and balanced accuracy "
            f"{fmt(t['ceiling_balanced_accuracy'], 'acc')} against these labels on the test split "
            f"({fmt(lt['ceiling_accuracy'], 'acc')} / {fmt(lt['ceiling_balanced_accuracy'], 'acc')} on all rows). "
            "Read every number and every \"holds\" below against that ceiling: a model above it is being credited "
            "for learning when the outbreak began, not what Mirai's packets look like; and against the "
            "seed-to-seed spread each finding states.")


__all__ = ["FINDINGS", "HOLDS", "NOT", "PARTLY", "compare", "findings", "label_truth_text"]
