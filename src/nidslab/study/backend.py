"""The study's calls into nidslab's data, model, train, evaluate and uncertainty modules.

:class:`Lab` holds one prepared dataset (the lab's split, standardised on the training split) and
runs each part of the lab on it, returning plain dicts for results.json. Everything the study knows
about the other modules' signatures is in this file.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab import schema
from nidslab.cluster import Executor, LocalExecutor
from nidslab.progress import Progress
from nidslab.study.config import (BatchSizeTiming, CrossValidation, Experiment, MCDropout, Regression, Search, Study,
                                  settings_of, split_settings)

Arrays = tuple[np.ndarray, np.ndarray]

# What each regression target means, for the report (by statistic, then by group).
_STAT_MEANING = {"mean": "mean packet size", "std": "packet-size standard deviation", "variance": "packet-size variance",
                 "weight": "decayed packet count", "magnitude": "magnitude of the two directions' mean sizes",
                 "radius": "radius of the two directions' variances", "covariance": "covariance of the two directions",
                 "pcc": "correlation of the two directions"}
_GROUP_MEANING = {"MI_dir": "a source host's", "H": "a source IP's", "HH": "a channel's (source IP to destination IP)",
                  "HH_jit": "a channel's inter-arrival", "HpHp": "a socket's (IP:port to IP:port)"}


@dataclass
class Lab:
    """One dataset, prepared as the lab prepares it, and the study that runs on it."""

    study: Study
    name: str
    X_raw: np.ndarray          # (n, k) float32, the study's features before standardising
    y_all: np.ndarray          # (n,) uint8
    feature_names: tuple[str, ...]
    train: Arrays
    validation: Arrays
    test: Arrays
    split_rows: dict[str, np.ndarray]   # row indices into X_raw of each split
    prepared: Any
    dataset: Any
    threads: int | None
    device: str
    detail: Progress
    #: trained models kept for later parts of the same run, by their settings (JSON)
    models: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: where the independent work (experiments, timings, trials, folds) runs (:mod:`nidslab.cluster`)
    executor: Executor = dataclasses.field(default_factory=LocalExecutor)
    #: the executor's handles of arrays already sent, by id (see :meth:`shared`)
    handles: dict[int, Any] = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------ data

    @classmethod
    def open(cls, study: Study, data: str, *, detail: Progress) -> Lab:
        """Open dataset ``data`` (any name or path nidslab reads) and prepare it as the study says."""
        from nidslab.data import open_dataset
        from nidslab.data.prep import prepare

        ds = open_dataset(data, progress=lambda d, t, m="": detail(d, t, m or f"opening {data}"))
        p = prepare(ds, features=study.features, fraction=study.fraction, seed=study.seed,
                    temporal=study.split == "temporal")
        names = tuple(p.feature_names)
        X_all = np.asarray(ds.X)
        cols = [schema.INDEX[n] for n in names] if X_all.shape[1] == schema.N_FEATURES else list(range(X_all.shape[1]))
        rows = {"train": np.asarray(p.split.train), "validation": np.asarray(p.split.validation),
                "test": np.asarray(p.split.test)}
        # The study's columns of the whole table, unstandardised (the splits' row indices address it).
        X_raw = X_all[:, cols] if cols != list(range(X_all.shape[1])) else X_all
        return cls(study=study, name=data, X_raw=X_raw, y_all=np.asarray(ds.y), feature_names=names,
                   train=(p.X_train, p.y_train), validation=(p.X_val, p.y_val), test=(p.X_test, p.y_test),
                   split_rows=rows, prepared=p, dataset=ds, threads=None, device=_device(), detail=detail)

    def data_part(self) -> dict[str, Any]:
        """Part 4-8: shapes, class counts, NaN counts, naive and random-chance accuracy, the split, the
        standardisation check and the balanced class weights."""
        from nidslab.data import describe
        from nidslab.train import balanced_class_weight

        d = describe(self.dataset, draws=self.study.random_chance_draws)
        y_test = self.test[1]
        counts = np.bincount(y_test, minlength=2)
        majority = int(np.argmax(np.bincount(self.y_all, minlength=2)))
        check = self.prepared.standardizer.check(self.train[0]) if hasattr(self.prepared.standardizer, "check") else None
        Xt = self.train[0]
        max_abs_mean = float(np.abs(Xt.mean(axis=0, dtype=np.float64)).max()) if check is None else check["max_abs_mean"]
        max_abs_std = (float(np.abs(Xt.std(axis=0, dtype=np.float64) - 1).max()) if check is None
                       else check["max_abs_std_minus_1"])
        cw = balanced_class_weight(self.train[1])
        rc = d.random_chance
        return {
            "dataset": self.dataset.name,
            "rows": int(d.rows),
            "n_features": len(self.feature_names),
            "features": self.study.features,
            "class_counts": {"benign": int(d.class_counts[0]), "malicious": int(d.class_counts[1])},
            "nan_features": int(d.nan_features),
            "nan_labels": 0,
            "majority_class": "malicious" if majority == 1 else "benign",
            "naive_accuracy": float(d.naive_accuracy),
            "random_chance": {"draws": int(rc["draws"]), "prior": rc["prior"], "uniform": rc["uniform"]},
            "split": {"train": len(self.train[1]), "validation": len(self.validation[1]), "test": len(y_test),
                      "kind": self.study.split},
            "test_naive_accuracy": float(counts.max() / counts.sum()),
            "train_bytes": int(self.train[0].size * 4),
            "standardization": {"max_abs_mean": max_abs_mean, "max_abs_std_minus_1": max_abs_std},
            "class_weight": {"benign": float(cw[0]), "malicious": float(cw[1])},
        }

    # ------------------------------------------------------------------ training

    def train_eval(self, settings: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays | None,
                   *, seed: int | None = None, mc_dropout: bool = False) -> tuple[dict[str, Any], Any]:
        """:func:`train_eval` with the study's seed (unless ``seed``), threads and progress."""
        return train_eval(settings, train, validation, test, seed=self.study.seed if seed is None else seed,
                          threads=self.threads, mc_dropout=mc_dropout, detail=self.detail)

    def job(self, settings: dict[str, Any]) -> dict[str, Any]:
        """What a task needs besides the data to train ``settings`` as :meth:`train_eval` would."""
        return {"settings": settings, "seed": self.study.seed, "threads": self.threads}

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

    def experiments(self, es: list[Experiment]) -> list[dict[str, Any]]:
        """Parts 10-18 for several experiments at once, as tasks on the executor (one each)."""
        from nidslab.study import tasks

        return self.executor.map(tasks.fit_task, [self.job(e.settings()) for e in es],
                                 *self.shared(self.train, self.validation, self.test),
                                 progress=lambda d, t: self.detail(d, t, f"{d}/{t} experiments"))

    def experiment(self, e: Experiment) -> dict[str, Any]:
        """Parts 10-18: one of the lab's networks on the lab's split."""
        result, _ = self.train_eval(e.settings(), self.train, self.validation, self.test)
        return result

    def batch_size_timing(self, t: BatchSizeTiming, e: Experiment) -> dict[str, Any]:
        """Part 13: one training epoch from fresh weights per batch size (time, updates, validation
        accuracy after it) and the bytes one training step holds at that batch size
        (:func:`nidslab.memory.step_memory`). With ``max_rows`` the epoch runs on that many rows and its
        time is scaled to the full training split."""
        from nidslab.study import tasks

        n = len(self.train[1])
        rows = n if t.max_rows <= 0 else min(n, t.max_rows)
        train = self.train if rows == n else (self.train[0][:rows], self.train[1][:rows])
        jobs = [self.job({**e.settings(), "batch_size": bs, "epochs": 1}) for bs in t.batch_sizes]
        timed = self.executor.map(tasks.timed_fit_task, jobs, *self.shared(train, self.validation),
                                  progress=lambda d, n: self.detail(d, n, f"{d}/{n} batch sizes"))
        out = []
        for bs, (result, memory) in zip(t.batch_sizes, timed):
            epoch_s = result["history"]["epoch_seconds"][0]
            # updates on the full split: ceil(n / bs), as the trainer counts them on the rows it had
            out.append({"batch_size": bs, "seconds_per_epoch": epoch_s * n / rows,
                        "timed_seconds": epoch_s, "timed_updates": result["updates_per_epoch"],
                        "updates_per_epoch": -(-n // bs),
                        "step_memory_bytes": memory["total"], "step_memory": memory,
                        "val_accuracy": result["history"]["val_accuracy"][-1]})
        slow = out[0]["seconds_per_epoch"] / out[-1]["seconds_per_epoch"] if out[-1]["seconds_per_epoch"] else None
        return {"experiment": e.name, "device": self.device, "train_rows": n, "timed_rows": rows,
                "scaled": rows < n, "rows": out, "slowdown_smallest_vs_largest": slow}

    def search(self, s: Search) -> dict[str, Any]:
        """Part 19: the Optuna search, the best configuration on the full split, and time against depth."""
        from nidslab.study import search as search_mod
        from nidslab.study import tasks

        def train_eval(settings, train, validation, test):
            return self.train_eval(settings, train, validation, test)

        def train_many(batch, train, test):
            """A batch of trials (or timings: ``test`` None) as tasks; ``train`` and ``test`` are put once."""
            return self.executor.map(tasks.fit_task, [self.job(settings) for settings in batch],
                                     *self.shared(train, None, test))

        out, model = search_mod.run_search(s, self.train, self.validation, self.test, train_eval,
                                           seed=self.study.seed, detail=self.detail, train_many=train_many)
        self.models[_key(out["final"]["settings"])] = (out["final"], model)
        depth = search_mod.depth_timing(s, out["best"]["params"], self.train, train_eval, detail=self.detail,
                                        train_many=train_many)
        out["depth_timing"] = depth
        out["depth_slowdown"] = depth[-1]["seconds_per_epoch"] / depth[0]["seconds_per_epoch"] if len(depth) > 1 else None
        return out

    def mc_dropout(self, m: MCDropout, settings: dict[str, Any], description: str) -> dict[str, Any]:
        """Part 20: train the chosen model (with dropout ``m.dropout`` if it has none), then pass the test
        set through it ``m.passes`` times with dropout on."""
        from nidslab.uncertainty import mc_dropout

        own = settings.get("dropout", 0.0) > 0
        settings = {**settings, "dropout": settings["dropout"] if own else m.dropout}
        # The search's final model, when it has dropout and was trained in this run, is reused as is.
        kept = self.models.get(_key(settings))
        result, model = kept if kept else self.train_eval(settings, self.train, self.validation, self.test)
        start = time.perf_counter()
        mc = mc_dropout(model, self.test[0], self.test[1], passes=m.passes, seed=self.study.seed)
        seconds = time.perf_counter() - start
        acc = np.asarray(mc.accuracies, dtype=np.float64)
        sd = np.asarray(mc.std, dtype=np.float64)           # per packet, over passes
        mean_p = np.asarray(mc.mean, dtype=np.float64)       # per packet, averaged probability
        correct = (mean_p >= 0.5) == (np.asarray(self.test[1]) == 1)
        counts, edges = np.histogram(sd, bins=25, range=(0.0, max(float(sd.max()), 1e-6)))
        return {
            "description": description,
            "settings": settings,
            "dropout": settings["dropout"],
            "dropout_source": "the model's own" if own else "the study's [mc_dropout] dropout (the model had none)",
            "passes": m.passes,
            "test_rows": len(self.test[1]),
            "train_seconds": result["train_seconds"],
            "passes_seconds": seconds,
            "deterministic_accuracy": result["test"]["accuracy"],
            "accuracy": {"mean": float(acc.mean()), "sd": float(acc.std()), "min": float(acc.min()),
                         "max": float(acc.max()), "per_pass": acc.tolist()},
            "per_packet_sd": {"mean": float(sd.mean()), "median": float(np.median(sd)),
                              "p95": float(np.percentile(sd, 95)), "max": float(sd.max()),
                              "mean_correct": float(sd[correct].mean()) if correct.any() else None,
                              "mean_wrong": float(sd[~correct].mean()) if (~correct).any() else None,
                              "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}},
        }

    def cross_validation(self, c: CrossValidation, e: Experiment) -> dict[str, Any]:
        """Part 21: stratified k-fold over every row the study uses (blocked folds, each class cut into
        contiguous blocks in time, when the study's split is temporal); per fold a standardiser and class
        weights fitted on the fold's training rows, a fresh network, and the fold's test accuracy."""
        from nidslab.study import tasks

        rows = np.sort(np.concatenate(list(self.split_rows.values())))
        start = time.perf_counter()
        blocked = self.study.split == "temporal"
        # each task takes the study's rows (put once) and makes its own fold from (folds, seed, its number)
        X, y = self.shared(self.X_raw[rows], self.y_all[rows])
        results = self.executor.map(tasks.fold_task, range(c.folds), X, y, c.folds, c.seed, self.job(e.settings()),
                                    blocked,
                                    progress=lambda d, t: self.detail(d, t, f"{d}/{t} folds"))
        acc = [r["test"]["accuracy"] for r in results]
        bal = [r["test"]["balanced_accuracy"] for r in results]
        seconds = time.perf_counter() - start
        a, b = np.asarray(acc), np.asarray(bal, dtype=np.float64)
        return {"experiment": e.name, "folds": c.folds, "seed": c.seed, "rows": len(rows), "seconds": seconds,
                "kind": "blocked" if blocked else "stratified",
                "accuracy": {"mean": float(a.mean()), "sd": float(a.std()), "per_fold": a.tolist()},
                "balanced_accuracy": {"mean": float(b.mean()), "sd": float(b.std()), "per_fold": b.tolist()}}

    def regression(self, g: Regression) -> dict[str, Any]:
        """Part 22: the network with a linear head and MSE, predicting one feature from the others."""
        from nidslab.evaluate import predict_scores, regression_metrics
        from nidslab.model import build_model
        from nidslab.train import fit

        names = list(self.feature_names)
        if g.target not in names:
            raise ValueError(f"[regression] target {g.target!r} is not among the study's features")
        t = names.index(g.target)
        keep = [i for i, n in enumerate(names) if n != g.target and n not in g.exclude]
        raw = {k: np.asarray(self.X_raw[v, t], dtype=np.float64) for k, v in self.split_rows.items()}
        mu, sigma = raw["train"].mean(), raw["train"].std() or 1.0
        z = {k: ((v - mu) / sigma).astype(np.float32) for k, v in raw.items()}
        X = {"train": self.train[0][:, keep], "validation": self.validation[0][:, keep], "test": self.test[0][:, keep]}
        config = g.fit.replace(seed=self.study.seed, threads=self.threads)
        model = build_model(g.spec, len(keep), seed=config.seed)
        start = time.perf_counter()
        history = fit(model, (X["train"], z["train"]), (X["validation"], z["validation"]), config)
        seconds = time.perf_counter() - start
        pred = predict_scores(model, X["test"], batch_size=config.batch_size).astype(np.float64) * sigma + mu
        truth = raw["test"]
        base = np.full_like(truth, mu)

        def scores(p: np.ndarray) -> dict[str, float]:
            m = regression_metrics(truth, p)
            return {"mae": m["mae"], "rmse": m["rmse"], "r2": m["r2"]}

        group = schema.group_of(g.target)
        stat = g.target.rsplit("_", 1)[1]
        lam = g.target.split("_L", 1)[1].split("_", 1)[0]
        sample = np.random.default_rng(self.study.seed).choice(len(truth), size=min(2000, len(truth)), replace=False)
        return {
            "target": g.target,
            "target_meaning": f"{_GROUP_MEANING.get(group, group)} {_STAT_MEANING.get(stat, stat)}, decay lambda {lam}",
            "units": "bytes" if stat in ("mean", "std", "magnitude", "radius") else "feature units",
            "why": ("A continuous quantity every packet has, in meaningful units, that the other features describe "
                    "only indirectly; its own statistics at the same decay rate are left out, since they are "
                    "computed from it."),
            "excluded": list(g.exclude),
            "n_inputs": len(keep),
            "settings": g.settings(),
            "train_seconds": seconds,
            "history": _history(history),
            "test": scores(pred),
            "mean_baseline": scores(base),
            "sample": {"true": truth[sample].tolist(), "pred": pred[sample].tolist()},
        }


# ----------------------------------------------------------------------------- one network


def train_eval(settings: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays | None, *,
               seed: int, threads: int | None = None, mc_dropout: bool = False,
               detail: Detail | None = None) -> tuple[dict[str, Any], Any]:
    """Build, train and evaluate one network of ``settings`` (see :meth:`Experiment.settings`), seeded
    ``seed``, on ``threads`` torch threads; ``detail(epoch, epochs, message)`` after each epoch.

    Returns (result dict: settings, params, init, history, train_seconds, test metrics or None, model)."""
    from nidslab.evaluate import evaluate
    from nidslab.model import build_model, summary
    from nidslab.train import fit, torch_threads

    spec, config = split_settings(settings)
    spec = spec.replace(mc_dropout=mc_dropout)
    config = config.replace(seed=seed, threads=threads)
    n_inputs = train[0].shape[1]
    model = build_model(spec, n_inputs, seed=config.seed)
    init = _first_layer_init(model)
    params = int(summary(model, n_inputs).trainable_params)
    epochs = config.epochs

    def on_epoch(epoch: int, logs: dict[str, Any]) -> None:
        if detail is not None:
            detail(epoch, epochs, f"epoch {epoch}/{epochs}")

    with torch_threads(threads):  # evaluation too: its sums depend on the thread count as training's do
        start = time.perf_counter()
        history = fit(model, train, validation, config, callback=on_epoch)
        seconds = time.perf_counter() - start
        result = {"settings": settings_of(spec, config), "params": params, "init": init, "train_seconds": seconds,
                  "history": _history(history), "updates_per_epoch": int(history.updates_per_epoch), "test": None}
        if test is not None:
            result["test"] = report_metrics(evaluate(model, test[0], test[1]))
    return result, model


# ----------------------------------------------------------------------------- helpers


def _key(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True)


def _device() -> str:
    from nidslab.study.hardware import gpu_info

    g = gpu_info()
    return f"cuda ({g['name']})" if g else "cpu"


def _first_layer_init(model: Any) -> dict[str, Any]:
    """Statistics of the first Dense layer's freshly initialised weights and biases (Question 6)."""
    weight = bias = None
    for name, p in model.named_parameters():
        if p.ndim == 2 and weight is None:
            weight = p.detach().cpu().numpy()
            bias_name = name.rsplit(".", 1)[0] + ".bias"
            bias = dict(model.named_parameters()).get(bias_name)
            bias = None if bias is None else bias.detach().cpu().numpy()
            break
    if weight is None:
        return {}
    fan_out, fan_in = weight.shape
    return {"fan_in": int(fan_in), "fan_out": int(fan_out),
            "glorot_limit": float(np.sqrt(6.0 / (fan_in + fan_out))),
            "max_abs_weight": float(np.abs(weight).max()), "weight_std": float(weight.std()),
            "max_abs_bias": float(np.abs(bias).max()) if bias is not None else None}


def _history(h: Any) -> dict[str, list[float]]:
    """A History as plain lists: loss, accuracy, val_loss, val_accuracy, epoch_seconds."""
    get = h.get if isinstance(h, dict) else (lambda k, d=None: getattr(h, k, d))
    out = {}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        value = get(key)
        out[key] = [float(v) for v in value] if value is not None else []
    return out


def report_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """The evaluate() dict reduced to the report's test metrics (plus positive_rate)."""
    cm = np.asarray(m["confusion_matrix"]).tolist()
    (tn, fp), (fn, tp) = cm
    return {"loss": _float(m.get("loss")), "accuracy": float(m["accuracy"]),
            "balanced_accuracy": _float(m["balanced_accuracy"]), "roc_auc": _float(m.get("roc_auc")),
            "precision": _float(m.get("precision")), "recall": _float(m.get("recall")), "f1": _float(m.get("f1")),
            "positive_rate": (fp + tp) / max(1, tn + fp + fn + tp), "confusion_matrix": cm}


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


__all__ = ["Lab", "report_metrics", "train_eval"]
