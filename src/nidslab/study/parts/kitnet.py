"""Beyond the lab: KitNET, Kitsune's own unsupervised detector, on the same capture as the networks.

KitNET learns from the benign prefix of the capture in time order (its grace periods must end before
the first malicious row), then scores every later row. Its thresholds come from the benign rows
between the end of the grace periods and the onset: the first ``calibration`` share of them sets the
thresholds (target false-positive rate, and Kitsune's log-normal fit at the same tail probability);
everything after those rows is the evaluation set. Rows are the dataset's full feature table (the
115 Kitsune columns), not the lab's 92. A capture without a long enough benign prefix (or without
malicious rows) gives a result that says why it was skipped, so a study on any dataset still runs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.settings import KITNET_DEFAULTS as KITNET
from nidslab.study.blocks import Block, Rendered
from nidslab.study.config import Quick, Study, need
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, optional, to_plain

NAME = "kitnet"
NEEDS: tuple[str, ...] = ()
CACHE = "part"


@dataclass(frozen=True)
class Config:
    """``[kitnet]``: KitNET's own settings (:class:`nidslab.detect.KitNET`'s, which holds their defaults), and
    how the study calibrates and measures it."""

    TABLE = NAME
    max_ae: int = int(KITNET["max_ae"])
    fm_grace: int = int(KITNET["fm_grace"])
    ad_grace: int = int(KITNET["ad_grace"])
    lr: float = KITNET["lr"]
    hidden_ratio: float = KITNET["hidden_ratio"]
    seed: int = int(KITNET["seed"])
    target_fpr: float = 1e-3
    calibration: float = 0.5   # share of the benign rows between the grace periods and the onset
    max_rows: int = 0          # rows of the capture used (0: all)

    def __post_init__(self) -> None:
        w = "[kitnet]"
        need(self.max_ae >= 1, f"{w} max_ae", "must be at least 1", self.max_ae)
        for key in ("fm_grace", "ad_grace", "max_rows"):
            need(getattr(self, key) >= 0, f"{w} {key}", "must be 0 or more", getattr(self, key))
        for key in ("lr", "hidden_ratio"):
            need(getattr(self, key) > 0, f"{w} {key}", "must be positive", getattr(self, key))
        need(0 < self.target_fpr < 1, f"{w} target_fpr", "must be in (0, 1)", self.target_fpr)
        need(0 < self.calibration < 1, f"{w} calibration", "must be in (0, 1)", self.calibration)

    def check(self, study: Study) -> None:
        pass

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, max_rows=min(self.max_rows or q.kitnet_max_rows, q.kitnet_max_rows))


@dataclass
class Result:
    model: str = doc("KitNET")
    settings: dict[str, Any] = doc("the [kitnet] settings")
    skipped: str | None = optional("why it was not measured (then no other field below)")
    rows: int | None = optional("rows of the capture used")
    n_features: int | None = optional("feature columns")
    onset: int | None = optional("row of the first malicious packet")
    grace_rows: int | None = optional("rows KitNET learned from (fm_grace + ad_grace + 1)")
    calibration_rows: int | None = optional("benign rows that set the thresholds")
    evaluation_rows: int | None = optional("rows scored")
    autoencoders: int | None = optional("autoencoders in its ensemble")
    roc_auc: float | None = optional("ROC-AUC on the evaluation rows (the study's labels)")
    alerts: dict[str, Any] | None = optional("per threshold (target_fpr, lognormal): threshold, tpr, fpr, "
                                             "false_alerts_before_onset, delay_packets")
    train_packets_per_s: float | None = optional("training speed, packets/s (wall clock)")
    score_packets_per_s: float | None = optional("scoring speed, packets/s")
    seconds: float | None = optional("training and scoring time, seconds")
    truth: dict[str, Any] | None = optional("against a simulation's per-packet truth: roc_auc, alerts")


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return dataclasses.asdict(cfg)


def run(cfg: Config, ctx: Context) -> Result:
    ds = ctx.data.dataset  # the whole capture in time order, every feature column
    return Result(**measure(cfg, ds.X, ds.y, truth=ds.labels.get("truth")))


def _alerts(scores: np.ndarray, y: np.ndarray, threshold: float, onset: int) -> dict[str, Any]:
    """TPR/FPR of ``score > threshold`` on the evaluation rows and the delay to the first alert at or
    after ``onset`` (an index into ``scores``), in rows."""
    alert = scores > threshold
    benign, malicious = y == 0, y == 1
    after = np.flatnonzero(alert[onset:])
    return {
        "threshold": float(threshold),
        "tpr": float(alert[malicious].mean()) if malicious.any() else None,
        "fpr": float(alert[benign].mean()) if benign.any() else None,
        "false_alerts_before_onset": int(alert[:onset].sum()),
        "delay_packets": int(after[0]) if after.size else None,
    }


def measure(cfg: Config, X: np.ndarray, y: np.ndarray, *, truth: np.ndarray | None = None) -> dict[str, Any]:
    """Train KitNET on the benign prefix of (X, y) and measure it on the rest.

    Args:
        cfg: the study's ``[kitnet]`` settings (max_ae, fm_grace, ad_grace, lr, hidden_ratio, seed,
            target_fpr, calibration, max_rows).
        X: (n, k) float32 features in capture order; y: (n,) uint8 labels (the study's).
        truth: optional (n,) uint8 per-packet ground truth (a simulation's), measured as well.
    Returns:
        settings, rows used, onset, grace/calibration/evaluation row counts, autoencoders, ROC-AUC,
        per-threshold TPR/FPR/delay, training and scoring packets/s (wall clock); or settings and
        ``skipped`` (the reason) when the data does not allow the measurement.
    """
    from sklearn.metrics import roc_auc_score

    from nidslab.detect import KitNET, lognormal_threshold, threshold_for_fpr

    settings = {k: getattr(cfg, k) for k in ("max_ae", "fm_grace", "ad_grace", "lr", "hidden_ratio", "seed",
                                             "target_fpr", "calibration", "max_rows")}
    n = len(y) if cfg.max_rows <= 0 else min(len(y), cfg.max_rows)
    y = np.asarray(y[:n])
    if not (y == 1).any():
        return {"model": "KitNET", "settings": settings,
                "skipped": f"the first {n:,} rows have no malicious row, so there is no onset to measure"}
    onset = int(np.argmax(y == 1))
    kit = KitNET(cfg.max_ae, cfg.fm_grace, cfg.ad_grace, cfg.lr, cfg.hidden_ratio, cfg.seed)
    grace = kit.grace_rows
    n_cal = int((onset - grace) * cfg.calibration)
    if n_cal < 100 or not (y[grace + n_cal:] == 0).any():
        return {"model": "KitNET", "settings": settings,
                "skipped": f"the benign prefix ({onset:,} rows before the first malicious one) is too short for "
                           f"the grace periods ({grace:,} rows) and 100 calibration rows, with benign rows left "
                           "to evaluate; lower [kitnet] fm_grace/ad_grace"}

    start = time.perf_counter()
    kit.fit(X[:grace])
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = kit.score(X[grace:n])  # (n - grace,), row i is capture row grace + i
    score_s = time.perf_counter() - start

    cal = scores[:n_cal]
    ev, ev_y = scores[n_cal:], y[grace + n_cal:n]
    ev_onset = onset - grace - n_cal
    thresholds = {"target_fpr": threshold_for_fpr(cal, cfg.target_fpr),
                  "lognormal": lognormal_threshold(cal, cfg.target_fpr)}
    out: dict[str, Any] = {
        "model": "KitNET",
        "settings": settings,
        "rows": n, "n_features": int(X.shape[1]), "onset": onset, "grace_rows": grace,
        "calibration_rows": n_cal, "evaluation_rows": int(len(ev)),
        "autoencoders": len(kit.clusters or []),
        "roc_auc": float(roc_auc_score(ev_y, ev)),
        "alerts": {name: _alerts(ev, ev_y, t, ev_onset) for name, t in thresholds.items()},
        "train_packets_per_s": grace / train_s,
        "score_packets_per_s": (n - grace) / score_s,
        "seconds": train_s + score_s,
    }
    if truth is not None:
        ev_t = np.asarray(truth[grace + n_cal:n])
        out["truth"] = {"roc_auc": float(roc_auc_score(ev_t, ev)) if len(np.unique(ev_t)) == 2 else None,
                        "alerts": {name: _alerts(ev, ev_t, t, ev_onset) for name, t in thresholds.items()}}
    return out


def render(result: Result, results: dict[str, Any]) -> Rendered:
    k, r = to_plain(result), results
    s = k["settings"]
    head: list[Block] = [("h2", "Beyond the lab: KitNET, unsupervised, on the benign prefix")]
    if k.get("skipped"):
        return head + [("p", f"Not measured: {k['skipped']}.")], {}
    fpr = fmt(s["target_fpr"], "num")
    text = (f"KitNET (Kitsune's own detector: {k['autoencoders']} autoencoders of at most {s['max_ae']} features over "
            f"{k['n_features']} features) learned from the first {fmt(k['grace_rows'], 'int')} rows of the capture in "
            f"time order (feature map {fmt(s['fm_grace'], 'int')}, training {fmt(s['ad_grace'], 'int')}), all before "
            f"the first malicious row ({fmt(k['onset'], 'int')}); it never saw a label. The next "
            f"{fmt(k['calibration_rows'], 'int')} benign rows set its thresholds; the other "
            f"{fmt(k['evaluation_rows'], 'int')} rows are scored: ROC-AUC {fmt(k['roc_auc'], 'acc')}. The networks "
            f"and LightGBM answer a different question (labelled rows of both classes, a stratified test split): "
            f"their test ROC-AUC is beside it for scale, not as a like-for-like contest.")
    rows = []
    for name, label in (("target_fpr", f"empirical quantile, FPR {fpr}"), ("lognormal", f"log-normal fit, p {fpr}")):
        a = k["alerts"][name]
        rows.append([label, fmt(a["threshold"], "num"), fmt(a["tpr"], "acc"), fmt(a["fpr"], "acc"),
                     fmt(a["false_alerts_before_onset"], "int"), fmt(a["delay_packets"], "int")])
    blocks = head + [("p", text),
                     ("table", ["threshold (from benign rows)", "RMSE", "TPR", "FPR", "false alerts before onset",
                                "delay after onset (packets)"], rows)]
    compare = [["KitNET", "benign prefix, no labels", fmt(k["roc_auc"], "acc"),
                fmt(k["train_packets_per_s"], "num"), fmt(k["score_packets_per_s"], "num")]]
    exps = r.get("experiments") or {}
    if exps:
        name = max(exps, key=lambda n: exps[n]["test"].get("roc_auc") or 0.0)
        compare.append([f"network: {exps[name]['title']}", "labelled, stratified split",
                        fmt(exps[name]["test"].get("roc_auc"), "acc"), "", ""])
    if (r.get("tree_baseline") or {}).get("test"):
        compare.append(["LightGBM", "labelled, stratified split",
                        fmt(r["tree_baseline"]["test"].get("roc_auc"), "acc"), "", ""])
    blocks.append(("table", ["model", "trained on", "ROC-AUC", "train packets/s", "score packets/s"], compare))
    if "truth" in k:
        t = k["truth"]["alerts"]["target_fpr"]
        blocks.append(("p", f"With the simulation's per-packet truth in place of the time-cut labels (background "
                            f"traffic after the onset counts as benign): ROC-AUC {fmt(k['truth']['roc_auc'], 'acc')}, "
                            f"TPR {fmt(t['tpr'], 'acc')} and FPR {fmt(t['fpr'], 'acc')} at the empirical threshold: "
                            f"KitNET also flags benign packets whose statistics the attack traffic changed."))
    return blocks, {}
