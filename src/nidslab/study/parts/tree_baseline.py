"""Beyond the lab: reference models on the same split and features as the networks.

A LightGBM gradient-boosted tree model (what a tree reaches on tabular features like these) and
scikit-learn's logistic regression (what a stack of Dense layers without activations can represent,
Question 5). Both use balanced class weights, like the lab's networks from Part 12 on. The result also
names the best network (of the experiments and the search) and the tree's lead over it; that comparison is
made after the cache, so a changed experiment does not retrain the tree.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.study.blocks import Block, Rendered, confusion
from nidslab.study.config import Quick, Study, need
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, from_plain, optional, to_plain
from nidslab.study.training import scored, subsample_rows
from nidslab.trees import lightgbm_classifier

NAME = "tree_baseline"
NEEDS: tuple[str, ...] = ("experiments", "search")
CACHE = "self"  # the trees are cached; the comparison with the networks is not


@dataclass(frozen=True)
class Config:
    TABLE = NAME
    n_estimators: int = 200
    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rows: int = 0

    def __post_init__(self) -> None:
        need(self.n_estimators >= 1, "[tree_baseline] n_estimators", "is too small", self.n_estimators)
        need(self.num_leaves >= 2, "[tree_baseline] num_leaves", "is too small", self.num_leaves)
        need(self.learning_rate > 0, "[tree_baseline] learning_rate", "must be positive", self.learning_rate)
        need(self.max_rows >= 0, "[tree_baseline] max_rows", "must be 0 or more", self.max_rows)

    def check(self, study: Study) -> None:
        pass

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, n_estimators=min(self.n_estimators, q.tree_estimators))


@dataclass
class Result:
    settings: dict[str, Any] = doc("n_estimators, num_leaves, learning_rate, class_weight")
    train_rows: int = doc("training rows LightGBM saw")
    train_seconds: float = doc("LightGBM's training time, seconds")
    test: dict[str, Any] = doc("LightGBM's test metrics (as an experiment's)")
    linear: dict[str, Any] = doc("logistic regression: model, train_seconds, converged, test")
    best_dnn: dict[str, Any] | None = doc("the best network by test balanced accuracy: experiment, title, "
                                          "accuracy, balanced_accuracy")
    gap: dict[str, float] | None = doc("tree minus best network: accuracy, balanced_accuracy")
    model: str | None = optional("LightGBM")


def fit_trees(cfg: Config, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], *,
              seed: int = 0, threads: int | None = None, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train LightGBM and logistic regression on (a sample of ``cfg.max_rows``) training rows and score
    them on the test split. Returns ``model``, ``settings``, ``train_rows``, ``train_seconds``, ``test`` and
    ``linear`` (the logistic regression's ``train_seconds``, ``converged`` and ``test``); the fitted
    LightGBM goes to ``keep["model"]`` when ``keep`` is given."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X, y = train
    rows = subsample_rows(len(y), cfg.max_rows, seed)
    Xs, ys = np.ascontiguousarray(X[rows]), np.asarray(y[rows])
    model = lightgbm_classifier(cfg.n_estimators, cfg.num_leaves, cfg.learning_rate, seed=seed, threads=threads)
    start = time.perf_counter()
    model.fit(Xs, ys)
    seconds = time.perf_counter() - start
    if keep is not None:
        keep["model"] = model
    tree_scores = model.predict_proba(test[0])[:, 1]

    linear = LogisticRegression(class_weight="balanced", max_iter=300)
    start = time.perf_counter()
    with warnings.catch_warnings():  # convergence is reported in the result instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        linear.fit(Xs, ys)
    lin_seconds = time.perf_counter() - start
    return {
        "model": "LightGBM",
        "settings": {"n_estimators": cfg.n_estimators, "num_leaves": cfg.num_leaves,
                     "learning_rate": cfg.learning_rate, "class_weight": "balanced"},
        "train_rows": int(len(ys)),
        "train_seconds": seconds,
        "test": scored(test[1], tree_scores),
        "linear": {"model": "logistic regression (scikit-learn, lbfgs)", "train_seconds": lin_seconds,
                   "converged": bool(linear.n_iter_.max() < linear.max_iter),
                   "test": scored(test[1], linear.predict_proba(test[0])[:, 1])},
    }


def run(cfg: Config, ctx: Context) -> Result:
    kept: dict[str, Any] = {}
    tree = ctx.cached(NAME, dataclasses.asdict(cfg),
                      lambda: fit_trees(cfg, ctx.data.train, ctx.data.test, seed=ctx.seed, threads=ctx.threads,
                                        keep=kept))
    if "model" in kept:  # the evaluation part reuses it where it trains on the same split
        ctx.models[kept_key(cfg)] = kept["model"]
    return from_plain(Result, {**tree, **_gap(tree, ctx)}, NAME)


def kept_key(cfg: Config) -> str:
    """The key of the fitted LightGBM in :attr:`Context.models` (its settings)."""
    return "tree_baseline " + json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def _gap(tree: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The best network (highest test balanced accuracy, search included) and the tree's lead over it."""
    candidates = {name: to_plain(e) for name, e in (ctx.needs.get("experiments") or {}).items()}
    if ctx.needs.get("search") is not None:
        candidates["search_final"] = to_plain(ctx.needs["search"].final)
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


def render(result: Result, results: dict[str, Any]) -> Rendered:
    t = to_plain(result)
    x = t["test"]
    lin = t.get("linear")
    text = (f"LightGBM ({t['settings']['n_estimators']} trees, {t['settings']['num_leaves']} leaves, learning rate "
            f"{t['settings']['learning_rate']}, balanced class weights) trained on {fmt(t['train_rows'], 'int')} rows of the "
            f"same training split in {fmt(t['train_seconds'], 's')}: test accuracy {fmt(x['accuracy'], 'acc')}, balanced "
            f"{fmt(x['balanced_accuracy'], 'acc')}, ROC-AUC {fmt(x.get('roc_auc'), 'acc')}. Best network "
            f"({t['best_dnn']['title']}): accuracy {fmt(t['best_dnn']['accuracy'], 'acc')}, balanced "
            f"{fmt(t['best_dnn']['balanced_accuracy'], 'acc')}. Gap (tree minus network): accuracy "
            f"{fmt(t['gap']['accuracy'], 'num')}, balanced accuracy {fmt(t['gap']['balanced_accuracy'], 'num')}.")
    if lin:
        text += (f" Logistic regression (what a network without activations can represent): accuracy "
                 f"{fmt(lin['test']['accuracy'], 'acc')}, balanced {fmt(lin['test']['balanced_accuracy'], 'acc')}.")
    blocks: list[Block] = [("h2", "Beyond the lab: a tree model on the same split"), ("p", text), confusion(t)]
    return blocks, {}
