"""Parts 4-8: the data. Shapes, class counts, NaN counts, naive and random-chance accuracy, the split,
the standardisation check and the balanced class weights. Runs in every study."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.study.blocks import Block, Rendered
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, optional, to_plain

NAME = "data"
NEEDS: tuple[str, ...] = ()
CACHE = "part"
Config = None   # no table of its own: [study] random_chance_draws sets its one number


@dataclass
class Result:
    dataset: str = doc("the dataset's name")
    rows: int = doc("rows in the whole dataset")
    n_features: int = doc("features the study uses")
    features: str = doc("lab (the lab's 92 columns) or all")
    class_counts: dict[str, int] = doc("benign, malicious: rows of each class")
    nan_features: int = doc("NaN cells in the features")
    nan_labels: int = doc("NaN labels")
    majority_class: str = doc("benign or malicious")
    naive_accuracy: float = doc("accuracy of always guessing the majority class, whole dataset")
    random_chance: dict[str, Any] = doc("draws; prior and uniform: mean and sd accuracy of random guesses")
    split: dict[str, Any] = doc("train, validation, test: rows; kind: random or temporal")
    test_naive_accuracy: float = doc("naive accuracy on the test split")
    train_bytes: int = doc("bytes of the float32 training split")
    standardization: dict[str, float] = doc("max_abs_mean, max_abs_std_minus_1 of the standardised training split")
    class_weight: dict[str, float] | None = optional("balanced class weights: benign, malicious")
    label_truth: dict[str, Any] | None = optional(
        "where the dataset also holds per-packet truth (a simulation): benign_called_malicious and "
        "malicious_called_benign (rows whose study labels disagree with the truth), ceiling_accuracy and "
        "ceiling_balanced_accuracy (a detector perfect on packet truth, scored against the study's labels), each "
        "for the whole dataset and under test (the test split); None without packet truth")


def cache_settings(cfg: None, ctx: Context) -> Any:
    return {"draws": ctx.study.random_chance_draws, "label_truth": 1}  # 1: results with label_truth


def run(cfg: None, ctx: Context) -> Result:
    from nidslab.data import describe
    from nidslab.settings import balanced_class_weight

    data = ctx.data
    d = describe(data.dataset, draws=ctx.study.random_chance_draws)
    y_test = data.test[1]
    counts = np.bincount(y_test, minlength=2)
    majority = int(np.argmax(np.bincount(data.y_all, minlength=2)))
    standardizer = data.prepared.standardizer
    check = standardizer.check(data.train[0]) if hasattr(standardizer, "check") else None
    Xt = data.train[0]
    max_abs_mean = float(np.abs(Xt.mean(axis=0, dtype=np.float64)).max()) if check is None else check["max_abs_mean"]
    max_abs_std = (float(np.abs(Xt.std(axis=0, dtype=np.float64) - 1).max()) if check is None
                   else check["max_abs_std_minus_1"])
    cw = balanced_class_weight(data.train[1])
    rc = d.random_chance
    return Result(
        dataset=data.dataset.name,
        rows=int(d.rows),
        n_features=len(data.feature_names),
        features=ctx.study.features,
        class_counts={"benign": int(d.class_counts[0]), "malicious": int(d.class_counts[1])},
        nan_features=int(d.nan_features),
        nan_labels=0,
        majority_class="malicious" if majority == 1 else "benign",
        naive_accuracy=float(d.naive_accuracy),
        random_chance={"draws": int(rc["draws"]), "prior": rc["prior"], "uniform": rc["uniform"]},
        split={"train": len(data.train[1]), "validation": len(data.validation[1]), "test": len(y_test),
               "kind": ctx.study.split},
        test_naive_accuracy=float(counts.max() / counts.sum()),
        train_bytes=int(data.train[0].size * 4),
        standardization={"max_abs_mean": max_abs_mean, "max_abs_std_minus_1": max_abs_std},
        class_weight={"benign": float(cw[0]), "malicious": float(cw[1])},
        label_truth=label_truth(data.y_all, (getattr(data.dataset, "labels", None) or {}).get("truth"),
                                data.split_rows["test"]),
    )


def label_truth(labels: np.ndarray, truth: np.ndarray | None, test_rows: np.ndarray) -> dict[str, Any] | None:
    """How far the study's labels (``labels``, (n,) 0/1: the Kitsune time cut on a simulation) are from the
    per-packet ``truth`` ((n,) 0/1, or None: no truth, returns None), over all rows and the ``test_rows``.

    The ceiling is what a detector that is right on every packet's truth would score against the labels:
    no model trained and scored on these labels can be credited beyond it for knowing what is malicious."""
    if truth is None:
        return None
    from sklearn.metrics import balanced_accuracy_score

    def measure(y: np.ndarray, t: np.ndarray) -> dict[str, Any]:
        y, t = np.asarray(y, bool), np.asarray(t, bool)
        both = len(np.unique(y)) == 2
        return {"rows": int(len(y)), "benign_called_malicious": int(np.sum(y & ~t)),
                "malicious_called_benign": int(np.sum(~y & t)),
                "ceiling_accuracy": float(np.mean(y == t)),
                "ceiling_balanced_accuracy": float(balanced_accuracy_score(y, t)) if both else None}

    labels, truth = np.asarray(labels), np.asarray(truth)
    return {**measure(labels, truth), "test": measure(labels[test_rows], truth[test_rows])}


def render(result: Result, results: dict[str, Any]) -> Rendered:
    d = to_plain(result)
    rc = d["random_chance"]
    st = d["standardization"]
    cw = d.get("class_weight") or {}
    rows = [["rows", fmt(d["rows"], "int")], ["features used", f"{fmt(d['n_features'], 'int')} ({d['features']})"],
            ["benign / malicious", f"{fmt(d['class_counts']['benign'], 'int')} / {fmt(d['class_counts']['malicious'], 'int')}"],
            ["NaN in features / labels", f"{fmt(d['nan_features'], 'int')} / {fmt(d['nan_labels'], 'int')}"],
            ["naive (majority) accuracy", fmt(d["naive_accuracy"], "acc")],
            ["random guess with the class prior", f"{fmt(rc['prior']['mean'], 'acc')} (sd {fmt(rc['prior']['sd'], 'num')})"],
            ["random guess 50/50", f"{fmt(rc['uniform']['mean'], 'acc')} (sd {fmt(rc['uniform']['sd'], 'num')})"],
            ["split train / validation / test",
             f"{fmt(d['split']['train'], 'int')} / {fmt(d['split']['validation'], 'int')} / {fmt(d['split']['test'], 'int')} ({d['split']['kind']})"],
            ["naive accuracy on the test split", fmt(d["test_naive_accuracy"], "acc")],
            ["after standardising: largest |mean|", fmt(st["max_abs_mean"], "num")],
            ["after standardising: largest |std - 1|", fmt(st["max_abs_std_minus_1"], "num")]]
    if cw:
        rows.append(["balanced class weights (benign, malicious)", f"{fmt(cw['benign'], 'num')}, {fmt(cw['malicious'], 'num')}"])
    lt = d.get("label_truth")
    if lt:
        rows += [["labelled malicious, benign in packet truth", fmt(lt["benign_called_malicious"], "int")],
                 ["labelled benign, malicious in packet truth", fmt(lt["malicious_called_benign"], "int")],
                 ["ceiling: packet truth scored against the labels (accuracy / balanced, test split)",
                  f"{fmt(lt['test']['ceiling_accuracy'], 'acc')} / {fmt(lt['test']['ceiling_balanced_accuracy'], 'acc')}"]]
    blocks: list[Block] = [
        ("h2", "Parts 4-8: the data"),
        ("p", f"Random chance is estimated by Monte Carlo over {fmt(rc['draws'], 'int')} draws of random labels "
              "(see nidslab data describe). The standardiser is fitted on the training split only; the check is on that split."),
        ("table", ["", "value"], rows)]
    blocks += _feature_groups(d["features"], int(d["n_features"]))
    return blocks, {}


def _feature_groups(features: str, n_features: int) -> list[Block]:
    """The features used, per Kitsune group (nidslab.features.describe): stream, statistics, decays, columns."""
    from nidslab import schema
    from nidslab.features.describe import describe_features, table_rows

    names = schema.LAB_FEATURES if features == "lab" else schema.FEATURE_NAMES
    if len(names) != n_features:  # a dataset whose columns are not the Kitsune features: nothing to describe
        return []
    header, rows = table_rows(describe_features(names), by="group")
    return [("p", "The features used, per group (nidslab features describe NAME|GROUP says what each column means; "
                  "a half-life is the time after which a packet weighs half in the decayed statistics):"),
            ("table", header, rows)]
