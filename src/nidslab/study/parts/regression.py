"""Part 22: a regression head. The lab's network with a linear output and mean squared error, predicting one
Kitsune feature (``target``) from the others; its own statistics at the same decay rate can be left out
(``exclude``), since they are computed from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import time
from typing import Any

import numpy as np

from nidslab import schema
from nidslab.settings import FitConfig, ModelSpec
from nidslab.study.blocks import Block, Rendered, settings_text
from nidslab.study.charts import GREY, TRAIN, plt, png_bytes
from nidslab.study.config import Quick, Study, check_network, need, settings_of, settings_table, network, table_kwargs
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, optional, to_plain
from nidslab.study.training import history_lists

NAME = "regression"
NEEDS: tuple[str, ...] = ()
CACHE = "part"
#: what a ``[regression]`` table may set besides its target (its results.json ``settings`` keys)
SPEC_KEYS = ("n_layers", "n_nodes", "activation")
FIT_KEYS = ("optimizer", "lr", "batch_size", "epochs")

# What each regression target means, for the report (by statistic, then by group).
_STAT_MEANING = {"mean": "mean packet size", "std": "packet-size standard deviation", "variance": "packet-size variance",
                 "weight": "decayed packet count", "magnitude": "magnitude of the two directions' mean sizes",
                 "radius": "radius of the two directions' variances", "covariance": "covariance of the two directions",
                 "pcc": "correlation of the two directions"}
_GROUP_MEANING = {"MI_dir": "a source host's", "H": "a source IP's", "HH": "a channel's (source IP to destination IP)",
                  "HH_jit": "a channel's inter-arrival", "HpHp": "a socket's (IP:port to IP:port)"}


@dataclass(frozen=True)
class Config:
    """``[regression]``: the target, the features left out, and the network.

    Unless its table says otherwise: ReLU and Adam at learning rate 0.01 (the library's other defaults).
    """

    TABLE = NAME
    target: str = "HH_L0.1_mean"
    exclude: tuple[str, ...] = ()
    spec: ModelSpec = ModelSpec(activation="relu", head="regression")
    fit: FitConfig = FitConfig(optimizer="adam", lr=0.01)

    def __post_init__(self) -> None:
        w = "[regression]"
        for key, name in [("target", self.target)] + [("exclude", n) for n in self.exclude]:
            need(name in schema.INDEX, f"{w} {key}", "must be a Kitsune feature name", name)
        need(self.target not in self.exclude, f"{w} exclude", "must not hold the target", self.exclude)
        check_network(self, "regression")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> Config:
        """The config of a ``[regression]`` table: target and exclude, then the network's settings."""
        target = table_kwargs({k: v for k, v in table.items() if k in ("target", "exclude")}, NAME, cls,
                              skip=("spec", "fit"))
        net = settings_table({k: v for k, v in table.items() if k not in ("target", "exclude")}, NAME,
                             SPEC_KEYS + FIT_KEYS, also=("target", "exclude"))
        spec, fit = network(cls, net, NAME)
        return cls(spec=spec, fit=fit, **target)

    def settings(self) -> dict[str, Any]:
        """The network's settings as results.json holds them."""
        return settings_of(self.spec, self.fit, SPEC_KEYS + FIT_KEYS)

    def check(self, study: Study) -> None:
        pass

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, fit=self.fit.replace(epochs=min(self.fit.epochs, q.epochs)))


@dataclass
class Result:
    target: str = doc("the feature predicted")
    target_meaning: str = doc("what it measures, in words")
    units: str = doc("bytes or feature units")
    why: str = doc("why this target")
    excluded: list[str] = doc("features left out besides the target")
    n_inputs: int = doc("input features")
    settings: dict[str, Any] = doc("n_layers, n_nodes, activation, optimizer, lr, batch_size, epochs")
    test: dict[str, float] = doc("test mae, rmse, r2 (target units)")
    mean_baseline: dict[str, float] = doc("the same for always predicting the training mean")
    sample: dict[str, list[float]] = doc("true, pred: a seeded sample of test rows")
    train_seconds: float | None = doc("training time, seconds", default=None)
    history: dict[str, list[float]] | None = doc("per epoch: loss, val_loss, ...", default=None)
    tail: dict[str, float] | None = optional(
        "the target's spread on the test split: median, p99, max, top1_share_of_squares (the share of the "
        "squared deviations from the mean that its largest 1% of rows hold: what R^2 divides by)")
    clipped: dict[str, Any] | None = optional(
        "the same predictions scored on a target clipped at the training split's 99th percentile: quantile, "
        "clip_at, test_share_clipped, test and mean_baseline (mae, rmse, r2)")


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return {**dataclasses.asdict(cfg), "clipped": CLIP_QUANTILE}


#: the clipped target's ceiling: the training split's 99th percentile
CLIP_QUANTILE = 0.99


def run(g: Config, ctx: Context) -> Result:
    """The network with a linear head and MSE, predicting one feature from the others."""
    from nidslab.evaluate import predict_scores, regression_metrics
    from nidslab.model import build_model
    from nidslab.train import fit

    data = ctx.data
    names = list(data.feature_names)
    if g.target not in names:
        raise ValueError(f"[regression] target {g.target!r} is not among the study's features")
    t = names.index(g.target)
    keep = [i for i, n in enumerate(names) if n != g.target and n not in g.exclude]
    raw = {k: np.asarray(data.X_raw[v, t], dtype=np.float64) for k, v in data.split_rows.items()}
    mu, sigma = raw["train"].mean(), raw["train"].std() or 1.0
    z = {k: ((v - mu) / sigma).astype(np.float32) for k, v in raw.items()}
    X = {"train": data.train[0][:, keep], "validation": data.validation[0][:, keep], "test": data.test[0][:, keep]}
    config = g.fit.replace(seed=ctx.seed, threads=ctx.threads)
    model = build_model(g.spec, len(keep), seed=config.seed)
    start = time.perf_counter()
    history = fit(model, (X["train"], z["train"]), (X["validation"], z["validation"]), config)
    seconds = time.perf_counter() - start
    pred = predict_scores(model, X["test"], batch_size=config.batch_size).astype(np.float64) * sigma + mu
    truth = raw["test"]
    base = np.full_like(truth, mu)

    def scores(p: np.ndarray, y: np.ndarray = truth) -> dict[str, float]:
        m = regression_metrics(y, p)
        return {"mae": m["mae"], "rmse": m["rmse"], "r2": m["r2"]}

    # Packet sizes are heavy-tailed: a few rows far out carry most of the variance R^2 divides by.
    clip_at = float(np.quantile(raw["train"], CLIP_QUANTILE))
    dev2 = np.sort((truth - truth.mean()) ** 2)[::-1]
    top = max(1, len(dev2) // 100)
    tail = {"median": float(np.median(truth)), "p99": float(np.quantile(truth, 0.99)), "max": float(truth.max()),
            "top1_share_of_squares": float(dev2[:top].sum() / dev2.sum()) if dev2.sum() > 0 else 0.0}
    y_c, p_c = np.minimum(truth, clip_at), np.minimum(pred, clip_at)
    clipped = {"quantile": CLIP_QUANTILE, "clip_at": clip_at, "test_share_clipped": float(np.mean(truth > clip_at)),
               "test": scores(p_c, y_c), "mean_baseline": scores(np.full_like(y_c, min(mu, clip_at)), y_c)}

    group = schema.group_of(g.target)
    stat = g.target.rsplit("_", 1)[1]
    lam = g.target.split("_L", 1)[1].split("_", 1)[0]
    sample = np.random.default_rng(ctx.seed).choice(len(truth), size=min(2000, len(truth)), replace=False)
    return Result(
        target=g.target,
        target_meaning=f"{_GROUP_MEANING.get(group, group)} {_STAT_MEANING.get(stat, stat)}, decay lambda {lam}",
        units="bytes" if stat in ("mean", "std", "magnitude", "radius") else "feature units",
        why=("A continuous quantity every packet has, in meaningful units, that the other features describe "
                "only indirectly; its own statistics at the same decay rate are left out, since they are "
                "computed from it."),
        excluded=list(g.exclude),
        n_inputs=len(keep),
        settings=g.settings(),
        train_seconds=seconds,
        history=history_lists(history),
        test=scores(pred),
        mean_baseline=scores(base),
        sample={"true": truth[sample].tolist(), "pred": pred[sample].tolist()},
        tail=tail,
        clipped=clipped,
    )


def figure(part: dict[str, Any]) -> bytes | None:
    """Predicted against true target on a sample of test rows."""
    if not part.get("sample"):
        return None
    t, p = part["sample"]["true"], part["sample"]["pred"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(t, p, s=4, alpha=0.4, color=TRAIN)
    lo, hi = min(min(t), min(p)), max(max(t), max(p))
    ax.plot([lo, hi], [lo, hi], color=GREY, linestyle="--")
    ax.set_xlabel(f"true {part['target']} ({part['units']})")
    ax.set_ylabel("predicted")
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def _clipped_rows(g: dict[str, Any]) -> list[list[str]]:
    c = g.get("clipped")
    if not c:
        return []
    t, b = c["test"], c["mean_baseline"]
    at = f"clipped at {fmt(c['clip_at'], 'num')} {g['units']}"
    return [[f"network, {at}", fmt(t["mae"], "num"), fmt(t["rmse"], "num"), fmt(t["r2"], "num")],
            [f"training mean, {at}", fmt(b["mae"], "num"), fmt(b["rmse"], "num"), fmt(b["r2"], "num")]]


def tail_words(share: float) -> str:
    """What the share of squared deviations held by the largest 1% of rows means for R^2, in words."""
    if share >= 0.5:
        return "so R^2 is decided mostly by how well those few rows are predicted"
    if share >= 0.1:
        return f"{fmt(share / 0.01, 'x')} their share of rows, so R^2 weighs those few rows heavily"
    return "no more than their share of rows would suggest: here the tail does not drive R^2"


def r2_explained(g: dict[str, Any]) -> str | None:
    """Why R^2 reads as it does, from the target's tail (None: an older result without it)."""
    tail, c = g.get("tail"), g.get("clipped")
    if not tail or not c:
        return None
    return (f"Reading R^2: it is 1 minus the squared errors over the target's squared deviations from its mean. "
            f"Packet sizes are heavy-tailed (here: test median {fmt(tail['median'], 'num')}, 99th percentile "
            f"{fmt(tail['p99'], 'num')}, largest {fmt(tail['max'], 'num')} {g['units']}): the largest 1% of test rows "
            f"hold {fmt(tail['top1_share_of_squares'], 'pct')} of those squared deviations, "
            f"{tail_words(tail['top1_share_of_squares'])}. Clipped at the training split's "
            f"{fmt(c['quantile'], 'pct')} quantile ({fmt(c['clip_at'], 'num')} {g['units']}; "
            f"{fmt(c['test_share_clipped'], 'pct')} of test rows lie above it), the same predictions score R^2 "
            f"{fmt(c['test']['r2'], 'num')} and MAE {fmt(c['test']['mae'], 'num')} (unclipped: R^2 "
            f"{fmt(g['test']['r2'], 'num')}, MAE {fmt(g['test']['mae'], 'num')}).")


def render(result: Result, results: dict[str, Any]) -> Rendered:
    g = to_plain(result)
    t, base = g["test"], g["mean_baseline"]
    blocks: list[Block] = [
        ("h2", "Part 22: regression head"),
        ("p", f"Target: {g['target']}, {g['target_meaning']} ({g['units']}). {g['why']} Inputs: the other "
              f"{fmt(g['n_inputs'], 'int')} features (left out besides the target: {', '.join(g['excluded']) or 'none'}). "
              f"Network: {settings_text(g['settings'])}, linear output, mean squared error on the standardised target."),
        ("table", ["", "MAE", "RMSE", "R^2"],
         [["network", fmt(t["mae"], "num"), fmt(t["rmse"], "num"), fmt(t["r2"], "num")],
          ["predict the training mean", fmt(base["mae"], "num"), fmt(base["rmse"], "num"), fmt(base["r2"], "num")]]
         + _clipped_rows(g)),
        ("figure", "regression", "Predicted against true target on a sample of test packets.")]
    why = r2_explained(g)
    if why:
        blocks.insert(-1, ("p", why))
    fig = figure(g)
    return blocks, {} if fig is None else {"regression": fig}
