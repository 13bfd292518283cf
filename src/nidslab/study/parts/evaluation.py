"""Would it work on new traffic? (issue #12): the study's ``evaluation`` part.

1. The lab's baseline, the search's best network and LightGBM trained on the per-class temporal split (their
   random-split twins come from the parts the study already ran; results.json keeps both in ``split_gap``).
   The report no longer shows the per-class time-cut table (issue 20): that cut tests another task, not
   leakage; the unseen-networks part sets the random split beside a split by network instead.
2. Operating points: thresholds for target false-positive rates picked on the temporal validation split's
   benign rows, test TPR / FPR at them with Wilson intervals, and ROC curves.
3. Detection over time on a simulated capture no model trained on (another seed, flood type and number of
   victims): delay from the onset to the first alert, recall per phase, false alarms per hour, a binned
   timeline, and the scores against the packet truth and against the time-cut (Kitsune) labels.
4. Transfer to real reference data when it is there: the real benign shard of the Kitsune Mirai capture
   and real N-BaIoT doorbell rows.

The temporal-split models are the ones deployed here: their thresholds come from data before the test
period, which is how a detector is tuned before it meets new traffic. Scores are raw (logits, LightGBM's
raw margin): probabilities saturate at 1.0 in float32 and would tie the benign rows a threshold must split.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nidslab.operating_points import TARGET_FPRS
from nidslab.study.blocks import Block, Rendered
from nidslab.study.charts import plt, png_bytes
from nidslab.study.config import Quick, Study, known_experiment, need
from nidslab.study.context import Context, model_key
from nidslab.study.numbers import fmt
from nidslab.study.prepared import Arrays
from nidslab.study.results import doc, to_plain
from nidslab.study.training import scored, subsample_rows
from nidslab.trees import lightgbm_classifier

NAME = "evaluation"
NEEDS: tuple[str, ...] = ("experiments", "search", "tree_baseline")
CACHE = "part"
#: the flood types the simulator sends (nidslab.simulate's; one home)
from nidslab.simulate.config import FLOOD_TYPES  # noqa: E402


@dataclass(frozen=True)
class Config:
    """Would the model work on new traffic (issue #12): the other split, operating points, detection over
    time on a capture the models never saw, and transfer to reference data."""

    TABLE = NAME
    target_fprs: tuple[float, ...] = TARGET_FPRS   # the first is the default operating point
    experiment: str = "balanced_2x20"   # the lab's baseline, retrained under the other split
    best: bool = True                   # also the search's best network (when the study searches)
    tree: bool = True                   # also LightGBM (when the study has [tree_baseline])
    sim_packets: int = 250_000          # the unseen simulated capture
    sim_seed: int = 1
    sim_flood_type: str = "syn"
    sim_n_vulnerable: int = 2
    reference_data: str = "../shared/data"   # resolved against the current folder; $NIDSLAB_REFERENCE_DATA wins
    timeline_bins: int = 300

    def __post_init__(self) -> None:
        w = "[evaluation]"
        need(all(0 < f < 1 for f in self.target_fprs), f"{w} target_fprs", "must lie in (0, 1)", self.target_fprs)
        need(self.sim_packets >= 1_000, f"{w} sim_packets", "must be at least 1000", self.sim_packets)
        need(self.sim_flood_type in FLOOD_TYPES, f"{w} sim_flood_type", f"must be one of {', '.join(FLOOD_TYPES)}",
             self.sim_flood_type)
        need(0 <= self.sim_n_vulnerable <= 3, f"{w} sim_n_vulnerable", "must be 0-3", self.sim_n_vulnerable)
        need(self.timeline_bins >= 10, f"{w} timeline_bins", "must be at least 10", self.timeline_bins)

    def check(self, study: Study) -> None:
        known_experiment(study, "[evaluation] experiment", self.experiment)

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, sim_packets=min(self.sim_packets, q.eval_sim_packets))


@dataclass
class Result:
    study_split: str = doc("the study's own split (random or temporal)")
    temporal_split: dict[str, int] = doc("train, validation, test, test_malicious, validation_benign rows")
    target_fprs: list[float] = doc("the false-positive rates thresholds are set for; the first is the default")
    split_gap: list[dict[str, Any]] = doc("per model: model, title, random and temporal test metrics, gap")
    operating_points: dict[str, list[dict[str, Any]]] = doc("per model, per target FPR: threshold, test fpr/tpr "
                                                            "with Wilson intervals, resolvable, validation_rows")
    roc: dict[str, Any] = doc("per model: fpr, tpr, auc on the temporal test split")
    unseen_capture: dict[str, Any] = doc("the simulated capture no model saw: packets, seed, flood_type, phases, ...")
    detection: dict[str, Any] = doc("per model: per_target (delay, phases, false alarms, truth and time-cut rates), "
                                    "auc_truth, auc_time_cut, labels_disagree, timeline")
    transfer: dict[str, Any] = doc("reference_root; sets: per data set, available, rows, per model auc and rates")
    seconds: dict[str, float] = doc("wall-clock seconds per step, and cpu_total")


REFERENCE_ENV = "NIDSLAB_REFERENCE_DATA"
BENIGN_SHARD = "kitsune-mirai/mirai2000.pcap"
DOORBELL = "n-baiot/danmini_doorbell_3300rows.csv"


def reference_root(cfg: Config) -> Path:
    """Where the reference data is: ``$NIDSLAB_REFERENCE_DATA``, else ``cfg.reference_data``, resolved
    against the current folder."""
    return Path(os.environ.get(REFERENCE_ENV) or cfg.reference_data).expanduser().resolve()


def cache_settings(cfg: Config, ctx: Context) -> dict[str, Any]:
    """Everything the part's result depends on besides the data (the cache key hashes it): the settings, the
    models compared, and which reference files exist (with their sizes)."""
    root = reference_root(cfg)
    files = {}
    for rel in (BENIGN_SHARD, DOORBELL):
        p = root / rel
        files[rel] = p.stat().st_size if p.is_file() else None
    search = ctx.needs.get("search")
    best = search.final.settings if cfg.best and search is not None else None
    study = ctx.study
    return {"evaluation": dataclasses.asdict(cfg), "reference_root": str(root), "reference_files": files,
            "experiment": study.experiment(cfg.experiment).settings(), "best": best,
            "tree": dataclasses.asdict(study.tree_baseline) if cfg.tree and study.tree_baseline else None,
            "phases": "per packet"}   # recall per phase over each packet's own phase


# ----------------------------------------------------------------------------- models


@dataclasses.dataclass
class _Model:
    key: str
    title: str
    kind: str                      # "network" or "tree"
    settings: dict[str, Any]
    fitted: Any = None
    metrics: dict[str, Any] | None = None

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (n,) float64, higher = more malicious."""
        if self.kind == "tree":
            return np.asarray(self.fitted.predict(X, raw_score=True), dtype=np.float64)
        from nidslab.evaluate import predict_raw

        return predict_raw(self.fitted, X).astype(np.float64)


def _candidates(cfg: Config, ctx: Context) -> list[tuple[_Model, dict[str, Any] | None]]:
    """The models compared, each with its test metrics under the study's own (random) split, if run."""
    e = ctx.study.experiment(cfg.experiment)
    exp = (ctx.needs.get("experiments") or {}).get(cfg.experiment)
    out = [(_Model("baseline", e.title or e.name, "network", e.settings()), exp and exp.test)]
    search = ctx.needs.get("search")
    if cfg.best and search is not None:
        out.append((_Model("best", "best network found by the search", "network", dict(search.final.settings)),
                    search.final.test))
    tree_cfg = ctx.study.parts.get("tree_baseline")
    if cfg.tree and tree_cfg is not None:
        tree = ctx.needs.get("tree_baseline")
        out.append((_Model("tree", "LightGBM", "tree", dataclasses.asdict(tree_cfg)), tree and tree.test))
    return out


def _fit(m: _Model, ctx: Context, train: Arrays, validation: Arrays, test: Arrays) -> _Model:
    """Train ``m`` on ``train`` and score it on ``test`` (metrics as the study reports them); on the
    study's own split (a temporal study) the model an earlier part trained there with the same settings
    and seed is reused (:attr:`Context.models`), not trained again."""
    from nidslab.study.parts.tree_baseline import kept_key

    own_split = train[0] is ctx.data.train[0] and test[0] is ctx.data.test[0]
    if m.kind == "network":
        kept = ctx.models.get(model_key(m.settings)) if own_split else None
        result, m.fitted = kept if kept else ctx.train_eval(m.settings, train, validation, test)
        m.metrics = result["test"]
        return m
    s = m.settings
    tree_cfg = ctx.study.parts.get("tree_baseline")
    kept_tree = ctx.models.get(kept_key(tree_cfg)) if own_split and tree_cfg is not None else None
    if kept_tree is not None:
        m.fitted = kept_tree
        m.metrics = scored(test[1], m.fitted.predict_proba(test[0])[:, 1])
        return m
    rows = subsample_rows(len(train[1]), s["max_rows"], ctx.seed)
    m.fitted = lightgbm_classifier(s["n_estimators"], s["num_leaves"], s["learning_rate"], seed=ctx.seed,
                              threads=ctx.threads)
    m.fitted.fit(np.ascontiguousarray(train[0][rows]), np.asarray(train[1][rows]))
    m.metrics = scored(test[1], m.fitted.predict_proba(test[0])[:, 1])
    return m


# ----------------------------------------------------------------------------- the part


def run(cfg: Config, ctx: Context) -> Result:
    """Compute the ``evaluation`` section of results.json (see the module docstring)."""
    from nidslab.data.prep import prepare
    from nidslab.evaluate import operating_points, roc_points

    study, detail, dataset = ctx.study, ctx.detail, ctx.data.dataset
    seconds: dict[str, float] = {}
    cpu = time.process_time()  # this process's CPU seconds (all threads): a load-independent cost next to wall time
    clock = time.perf_counter()
    # the study's own split is prepared once, by the runner: reuse it where it is the temporal one
    temporal = ctx.data.prepared if study.split == "temporal" else prepare(
        dataset, features=study.features, fraction=study.fraction, seed=study.seed, temporal=True)
    t_parts = ((temporal.X_train, temporal.y_train), (temporal.X_val, temporal.y_val),
               (temporal.X_test, temporal.y_test))
    random_side = None
    if study.split == "temporal":  # the study's own models are the temporal ones: train the random side here
        random_side = prepare(dataset, features=study.features, fraction=study.fraction, seed=study.seed)
    seconds["prepare"] = time.perf_counter() - clock

    models, rows = [], []
    for i, (m, random_metrics) in enumerate(_candidates(cfg, ctx)):
        detail(i, None, f"temporal split: {m.title}")
        clock = time.perf_counter()
        _fit(m, ctx, *t_parts)
        seconds[f"train_{m.key}"] = time.perf_counter() - clock
        if random_side is not None:
            r = _fit(dataclasses.replace(m), ctx, (random_side.X_train, random_side.y_train),
                     (random_side.X_val, random_side.y_val), (random_side.X_test, random_side.y_test))
            random_metrics = r.metrics
        models.append(m)
        rows.append({"model": m.key, "title": m.title, "random": random_metrics, "temporal": m.metrics,
                     "gap": _gap(random_metrics, m.metrics)})

    clock = time.perf_counter()
    points, roc = {}, {}
    for m in models:
        val_benign = m.raw(temporal.X_val[temporal.y_val == 0])
        test_scores = m.raw(temporal.X_test)
        points[m.key] = operating_points(val_benign, temporal.y_test, test_scores, tuple(cfg.target_fprs))
        roc[m.key] = roc_points(temporal.y_test, test_scores)
    seconds["operating_points"] = time.perf_counter() - clock

    clock = time.perf_counter()
    detail(len(models), None, f"simulating an unseen capture ({cfg.sim_packets:,} packets)")
    unseen = _unseen_capture(cfg, study.features, temporal.standardizer)
    seconds["simulate_unseen"] = time.perf_counter() - clock
    clock = time.perf_counter()
    detection = {m.key: _detection(m, unseen, points[m.key], cfg) for m in models}
    seconds["detection"] = time.perf_counter() - clock

    clock = time.perf_counter()
    transfer = _transfer(cfg, models, points, unseen, study.features, temporal.standardizer, detection)
    seconds["transfer"] = time.perf_counter() - clock
    seconds["cpu_total"] = time.process_time() - cpu
    return Result(**{
        "study_split": study.split,
        "temporal_split": {"train": len(temporal.y_train), "validation": len(temporal.y_val),
                           "test": len(temporal.y_test),
                           "test_malicious": int(temporal.y_test.sum()),
                           "validation_benign": int((temporal.y_val == 0).sum())},
        "target_fprs": list(cfg.target_fprs),
        "split_gap": rows,
        "operating_points": points,
        "roc": roc,
        "unseen_capture": unseen["about"],
        "detection": detection,
        "transfer": transfer,
        "seconds": seconds,
    })


def _gap(random: dict[str, Any] | None, temporal: dict[str, Any] | None) -> dict[str, float | None]:
    """random minus temporal, per metric (positive: the random split's number is higher)."""
    out = {}
    for k in ("accuracy", "balanced_accuracy", "roc_auc", "f1"):
        a, b = (random or {}).get(k), (temporal or {}).get(k)
        out[k] = None if a is None or b is None else float(a - b)
    return out


# ----------------------------------------------------------------------------- unseen capture


def _features_and_times(pcap: Path) -> tuple[np.ndarray, np.ndarray]:
    """uci features (n, 115) float32 and timestamps (n,) float64 of a capture, in one pass."""
    from nidslab.features.extract import FeatureExtractor
    from nidslab.features.pcap import iter_packets

    fx = FeatureExtractor("uci")
    X, ts = [], []
    for packets in iter_packets(pcap):
        X.append(fx.transform(packets))
        ts.append(packets.ts)
    return np.concatenate(X), np.concatenate(ts)


def _columns(features: str) -> list[int]:
    from nidslab import schema
    from nidslab.data.prep import select_columns

    return select_columns(schema.FEATURE_NAMES, features)[0]


def _unseen_capture(cfg: Config, features: str, scaler: Any) -> dict[str, Any]:
    """Simulate the capture no model saw, extract and standardise its features (the temporal scaler)."""
    from nidslab.simulate import SimConfig, simulate_capture

    base = SimConfig()
    sim_cfg = dataclasses.replace(base, flood_type=cfg.sim_flood_type, n_vulnerable=cfg.sim_n_vulnerable,
                                  infection_times_s=(90.0, 240.0, 390.0))
    with tempfile.TemporaryDirectory(prefix="nidslab-unseen-") as tmp:
        pcap = Path(tmp) / "unseen.pcap"
        sim = simulate_capture(pcap, packets=cfg.sim_packets, seed=cfg.sim_seed, config=sim_cfg)
        X, ts = _features_and_times(pcap)
    if len(X) != sim.n_packets:
        from nidslab.errors import DataError

        raise DataError(f"the unseen capture gave {len(X):,} feature rows for {sim.n_packets:,} packets")
    Z = scaler.transform(X[:, _columns(features)])
    onset_s = float(sim.phases[0][2])
    about = {"packets": int(sim.n_packets), "seed": cfg.sim_seed, "flood_type": cfg.sim_flood_type,
             "n_vulnerable": cfg.sim_n_vulnerable, "onset_index": int(sim.onset_index),
             "onset_s_from_start": onset_s - float(ts[0]), "duration_s": float(ts[-1] - ts[0]),
             "malicious_truth": int(sim.labels_truth.sum()), "malicious_time_cut": int(sim.labels_kitsune.sum()),
             "phases": [{"name": n, "start_s": float(a - ts[0]), "end_s": float(b - ts[0])}
                        for n, a, b, *_ in sim.phases],
             "differs_from_training": (f"seed {cfg.sim_seed} (training: 0), {cfg.sim_flood_type.upper()} flood "
                                       f"(training: UDP), {cfg.sim_n_vulnerable} infected cameras (training: 3) "
                                       "at other times")}
    return {"Z": Z, "ts": ts, "truth": sim.labels_truth, "time_cut": sim.labels_kitsune, "onset_s": onset_s,
            "phases": sim.phases, "about": about}


def packet_phases(ts: np.ndarray, truth: np.ndarray, phases: list[tuple[Any, ...]]) -> tuple[list[str], np.ndarray]:
    """Each malicious packet's phase: the phase windows ``(name, start_s, end_s, ...)`` overlap (scanning goes
    on throughout), so a packet is given the latest-starting phase whose window holds its time; every malicious
    packet gets exactly one (``"other"`` when no window holds it). Returns (names, codes (n,) int: an index
    into names, -1 for benign packets)."""
    ts, truth = np.asarray(ts, np.float64), np.asarray(truth).astype(bool)
    named = sorted((p for p in phases if p[0] != "benign"), key=lambda p: p[1])
    names = [str(p[0]) for p in named] + ["other"]
    code = np.full(len(ts), -1, np.int64)
    code[truth] = len(named)   # "other" until a window claims it
    for i, (_, a, b, *_rest) in enumerate(named):   # later starts overwrite earlier ones
        code[truth & (ts >= a) & (ts <= b)] = i
    return names, code


def recall_per_packet_phase(ts: np.ndarray, flagged: np.ndarray, truth: np.ndarray,
                            phases: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Recall per phase over each malicious packet's own phase (:func:`packet_phases`): the phases'
    ``malicious_packets`` add up to the capture's malicious packets. Per phase: ``phase``, ``start_s``,
    ``end_s``, ``malicious_packets``, ``flagged``, ``recall`` (None without packets) and ``delay_s`` (its start to
    its first flagged packet)."""
    ts, flagged = np.asarray(ts, np.float64), np.asarray(flagged).astype(bool)
    names, code = packet_phases(ts, truth, phases)
    windows = {str(p[0]): (float(p[1]), float(p[2])) for p in phases}
    out = []
    for i, name in enumerate(names):
        mine = code == i
        n = int(mine.sum())
        if name == "other" and n == 0:
            continue
        hit = mine & flagged
        first = np.flatnonzero(hit)
        a, b = windows.get(name, (float(ts[mine][0]) if n else 0.0, float(ts[mine][-1]) if n else 0.0))
        out.append({"phase": name, "start_s": a, "end_s": b, "malicious_packets": n, "flagged": int(hit.sum()),
                    "recall": float(hit.sum() / n) if n else None,
                    "delay_s": float(ts[first[0]] - a) if first.size else None})
    return out


def _detection(m: _Model, u: dict[str, Any], points: list[dict[str, Any]], cfg: Config) -> dict[str, Any]:
    """Delay, recall per phase, false alarms per hour at every operating point; the timeline; truth vs
    time-cut labels at the default operating point."""
    from nidslab.alerts_over_time import detection_delay, false_alarms_per_hour, timeline
    from nidslab.evaluate import rates_at, roc_points

    s = m.raw(u["Z"])
    ts, truth = u["ts"], u["truth"]
    per_target = []
    for p in points:
        flagged = s >= p["threshold"]
        per_target.append({
            "target_fpr": p["target_fpr"], "threshold": p["threshold"],
            "delay": detection_delay(ts, flagged, u["onset_s"], truth),
            "phases": recall_per_packet_phase(ts, flagged, truth, u["phases"]),
            "false_alarms_before_onset": false_alarms_per_hour(ts, flagged, truth, until_s=u["onset_s"]),
            "false_alarms_all_benign": false_alarms_per_hour(ts, flagged, truth),
            "truth": rates_at(truth, s, p["threshold"]),
            "time_cut": rates_at(u["time_cut"], s, p["threshold"]),
        })
    disagree = u["time_cut"].astype(bool) & ~truth.astype(bool)  # after the onset, benign in truth
    default = points[0]["threshold"]
    tl = timeline(ts, s, truth, bins=cfg.timeline_bins)
    return {"per_target": per_target,
            "auc_truth": (roc_points(truth, s, max_points=2) or {}).get("auc"),
            "auc_time_cut": (roc_points(u["time_cut"], s, max_points=2) or {}).get("auc"),
            "labels_disagree": int(disagree.sum()),
            "labels_disagree_flagged_share": float(np.mean(s[disagree] >= default)) if disagree.any() else None,
            "timeline": {**tl, "threshold": default}}


# ----------------------------------------------------------------------------- transfer


def _transfer(cfg: Config, models: list[_Model], points: dict[str, list[dict[str, Any]]], unseen: dict[str, Any],
              features: str, scaler: Any, detection: dict[str, Any]) -> dict[str, Any]:
    """Each model at its operating points on the unseen simulated capture and on the reference data."""
    from nidslab.alerts_over_time import false_alarms_per_hour
    from nidslab.evaluate import rates_at, roc_points

    root = reference_root(cfg)
    out: dict[str, Any] = {"reference_root": str(root), "sets": []}
    out["sets"].append({"name": "unseen simulated capture", "kind": "simulated", "available": True,
                        "rows": int(len(unseen["truth"])), "malicious": int(unseen["truth"].sum()),
                        "labels": "packet truth", "models": {
                            k: {"auc": d["auc_truth"], "at": [t["truth"] for t in d["per_target"]]}
                            for k, d in detection.items()}})
    cols = _columns(features)

    shard = root / BENIGN_SHARD
    entry: dict[str, Any] = {"name": "real benign shard (Kitsune Mirai, first 2,000 packets)", "kind": "benign",
                             "path": str(shard), "available": shard.is_file()}
    if shard.is_file():
        X, ts = _features_and_times(shard)
        Z = scaler.transform(X[:, cols])
        y = np.zeros(len(Z), np.uint8)
        entry.update(rows=len(Z), malicious=0, labels="all benign (packets before the infection)",
                     duration_s=float(ts[-1] - ts[0]), models={})
        for m in models:
            s = m.raw(Z)
            entry["models"][m.key] = {
                "auc": None, "at": [rates_at(y, s, p["threshold"]) for p in points[m.key]],
                "false_alarms_per_hour": [false_alarms_per_hour(ts, s >= p["threshold"])["per_hour"]
                                          for p in points[m.key]]}
    else:
        entry["why_not"] = f"{shard} is not there (set [evaluation] reference_data or ${REFERENCE_ENV})"
    out["sets"].append(entry)

    bell = root / DOORBELL
    entry = {"name": "real N-BaIoT doorbell rows (benign, then a gafgyt scan)", "kind": "labelled",
             "path": str(bell), "available": bell.is_file()}
    if bell.is_file():
        from nidslab.data.readers import read_table

        X, labels = read_table(bell)
        if labels is None:
            raise ValueError(f"{bell}: reference rows without labels")
        y = labels
        Z = scaler.transform(X[:, cols])
        entry.update(rows=len(Z), malicious=int(y.sum()), labels="1 - Normal (gafgyt scan = 1)", models={})
        for m in models:
            s = m.raw(Z)
            entry["models"][m.key] = {"auc": (roc_points(y, s, max_points=2) or {}).get("auc"),
                                      "at": [rates_at(y, s, p["threshold"]) for p in points[m.key]]}
    else:
        entry["why_not"] = f"{bell} is not there (set [evaluation] reference_data or ${REFERENCE_ENV})"
    out["sets"].append(entry)
    return out


# ----------------------------------------------------------------------------- the report


def _pct_ci(rate: float | None, ci: list[float] | None) -> str:
    if rate is None:
        return "n/a"
    return f"{_pct(rate)} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(rate)


def _pct(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.3g}%" if v < 0.01 else f"{100 * v:.2f}%"


def _fpr_label(f: float) -> str:
    return f"{f:g}"


def budget_verdict(fpr: float | None, target: float, *, long: bool = False, ci: list[float] | None = None) -> str:
    """Whether a measured false-positive rate meets the budget ``target``, and by how much it misses, in words;
    with its 95% interval ``ci``, a rate that meets it only because too few rows were counted says so."""
    if fpr is None:
        return "not measured"
    if fpr <= target:
        unsure = ci is not None and ci[1] > target
        if long:
            return (f"meets the false-alarm budget on these rows (FPR {_pct(fpr)} against {_pct(target)})" +
                    (f", but its 95% interval reaches {_pct(ci[1])}: too few benign rows to show it" if unsure and ci
                     else ""))
        return f"meets it (not shown: the 95% interval reaches {_pct(ci[1])})" if unsure and ci else "meets it"
    times = fmt(fpr / target, "x")
    return (f"misses the false-alarm budget: FPR {_pct(fpr)} against {_pct(target)}, {times} the budget" if long
            else f"misses it: {times} the budget")


def render(result: Result, results: dict[str, Any]) -> Rendered:
    """The section "Would it work on new traffic?" and its figures."""
    ev = to_plain(result)
    b: list[Block] = [("h2", "Would it work on new traffic?")]
    b.append(("p", "Everything above is measured on one capture split at random. A deployed detector meets "
                   "traffic from after its training, at a threshold fixed in advance, on other networks. This "
                   "section measures that: the same models trained on a split that respects time, thresholds "
                   "chosen for a false-alarm budget, a simulated outbreak no model saw, and real reference data."))
    b += _threshold_blocks(ev)
    b += _detection_blocks(ev)
    b += _transfer_blocks(ev)
    return b, figures(ev)


def _threshold_blocks(ev: dict[str, Any]) -> list[Block]:
    rows = []
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    for key, pts in ev["operating_points"].items():
        for p in pts:
            note = "" if p["resolvable"] else f" (below 1/{fmt(p['validation_rows'], 'int')}: not resolvable)"
            rows.append([titles.get(key, key), _fpr_label(p["target_fpr"]) + note, fmt(p["threshold"], "num"),
                         _pct_ci(p["fpr"], p["fpr_ci"]), _pct_ci(p["tpr"], p["tpr_ci"]),
                         budget_verdict(p["fpr"], p["target_fpr"], ci=p["fpr_ci"])])
    ts = ev["temporal_split"]
    default = ev["target_fprs"][0]
    lines = []
    for key, pts in ev["operating_points"].items():
        p = pts[0]
        lines.append(f"{titles.get(key, key)} catches {_pct(p['tpr'])} of the malicious test packets and "
                     f"{budget_verdict(p['fpr'], default, long=True, ci=p['fpr_ci'])}.")
    return [("h3", "Thresholds for a target false-positive rate"),
            ("p", f"Each model's threshold is the lowest raw score (logit; LightGBM's margin) that flags at most "
                  f"the target share of the {fmt(ts['validation_benign'], 'int')} benign validation rows of the "
                  "temporal split; the test rates at that threshold come with Wilson 95% intervals. A target "
                  "below one over the number of benign validation rows cannot be told from zero there."),
            ("table", ["model", "target FPR", "threshold", "test FPR [95% CI]", "test TPR [95% CI]",
                       "false-alarm budget"], rows),
            ("p", f"At the default budget (FPR {_fpr_label(default)}) on the temporal test split: " + " ".join(lines)),
            ("figure", "evaluation_roc", "ROC curves on the temporal split's test rows (log false-positive rate). "
                                         "Dots: where each model's threshold for the default target FPR, chosen on "
                                         "validation benign rows, lands on the test rows (a rate of 0 is drawn at 1e-6).")]


def _detection_blocks(ev: dict[str, Any]) -> list[Block]:
    u = ev["unseen_capture"]
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    default = ev["target_fprs"][0]
    rows, phase_rows, label_rows = [], [], []
    for key, d in ev["detection"].items():
        p = d["per_target"][0]
        dl, fa, fall = p["delay"], p["false_alarms_before_onset"], p["false_alarms_all_benign"]
        before = f"{fmt(fa['per_hour'], 'num')} alerts / h before the onset"
        first = ("never" if dl["delay_s"] is None else f"{fmt(dl['delay_s'], 's')}, with {before}")
        first_mal = ("never" if dl.get("delay_s_malicious") is None else
                     f"{fmt(dl['delay_s_malicious'], 's')}, with {before}")
        rows.append([titles.get(key, key), first, first_mal, fmt(fall["per_hour"], "num"),
                     budget_verdict(fa.get("fpr"), default), _pct(p["truth"]["tpr"])])
        phase_rows.append([titles.get(key, key)] + [
            f"{_pct(ph['recall'])} of {fmt(ph['malicious_packets'], 'int')}" for ph in p["phases"]])
        for name in ("truth", "time_cut"):
            r = p[name]
            label_rows.append([titles.get(key, key), "packet truth" if name == "truth" else "time cut (Kitsune)",
                               _pct_ci(r["tpr"], r["tpr_ci"]), _pct_ci(r["fpr"], r["fpr_ci"]),
                               fmt(d["auc_truth" if name == "truth" else "auc_time_cut"], "acc")])
    first_phases = next(iter(ev["detection"].values()))["per_target"][0]["phases"]
    phases = [ph["phase"] for ph in first_phases]
    total = sum(ph["malicious_packets"] for ph in first_phases)
    phase_sum = ("" if total == u["malicious_truth"] else
                 f" (here they add up to {fmt(total, 'int')}: this result counted packets in every window they fall "
                 "in; rerun the study to count each once)")
    first = next(iter(ev["detection"].values()))
    flagged = first.get("labels_disagree_flagged_share")
    text = (f"A capture simulated for this check ({fmt(u['packets'], 'int')} packets; {u['differs_from_training']}): "
            f"the outbreak starts {fmt(u['onset_s_from_start'], 's')} in, the capture lasts "
            f"{fmt(u['duration_s'], 's')}. "
            f"At each model's threshold for FPR {_fpr_label(default)}: the time from the onset to the first alert "
            "(any packet, and the first on a malicious packet), false alarms per hour on the benign traffic before "
            "the onset and on every benign packet of the capture, and the share of malicious packets flagged.")
    disagree = ("The time-cut labels call every packet after the onset malicious; "
                f"{fmt(first['labels_disagree'], 'int')} "
                "of those are benign background in the packet truth. Scored against the time cut, a model that leaves "
                "that background alone is charged with missing it (lower TPR), and one that flags it is credited; "
                "against the truth, the same flags are false alarms. "
                + (f"The first model flags {_pct(flagged)} of that background at its threshold." if flagged is not None
                   else ""))
    return [("h3", "Detection over time on a capture no model saw"), ("p", text),
            ("table", ["model", "first alert after onset (and the alert rate before it)",
                       "first alert on a malicious packet", "false alarms / h (all benign)",
                       "budget, before the onset", "recall (truth)"], rows),
            ("p", "A first alert soon after the onset means something only when the detector was quiet before it: "
                  "a model that alerts many times an hour on benign traffic raises its first alert after the onset "
                  "by chance. Recall per phase: each malicious packet counted once, in the latest phase begun when it "
                  "was sent (the phases' windows overlap); the counts add up to the capture's "
                  f"{fmt(u['malicious_truth'], 'int')} malicious packets" + phase_sum + "."),
            ("table", ["model"] + [f"recall: {p}" for p in phases], phase_rows),
            ("figure", "evaluation_timeline", "Scores over time on the unseen capture (per bin: the highest benign "
                                              "and the median malicious score), phases shaded, the threshold dashed."),
            ("table", ["model", "labels", "TPR [95% CI]", "FPR [95% CI]", "ROC-AUC"], label_rows),
            ("p", disagree)]


def _transfer_blocks(ev: dict[str, Any]) -> list[Block]:
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    default = ev["target_fprs"][0]
    rows, missing = [], []
    for s in ev["transfer"]["sets"]:
        if not s["available"]:
            missing.append(f"{s['name']}: not measured, {s['why_not']}.")
            continue
        for key, m in s["models"].items():
            at = m["at"][0]
            fah = (m.get("false_alarms_per_hour") or [None])[0]
            if fah is None and s.get("kind") == "simulated" and key in ev["detection"]:
                fah = ev["detection"][key]["per_target"][0]["false_alarms_all_benign"]["per_hour"]
            alarms = (fmt(fah, "num") if fah is not None else
                      "n/a: its rows carry no timestamps" if s.get("kind") == "labelled" else "n/a")
            rows.append([s["name"], titles.get(key, key), fmt(s["rows"], "int"), fmt(m.get("auc"), "acc"),
                         _pct_ci(at["tpr"], at["tpr_ci"]), _pct_ci(at["fpr"], at["fpr_ci"]), alarms,
                         budget_verdict(at.get("fpr"), default, ci=at.get("fpr_ci"))])
    b: list[Block] = [("h3", "Transfer: other captures"),
                      ("p", f"The temporal-split models at their FPR {_fpr_label(default)} thresholds (chosen on the "
                            "simulated training capture) on the unseen simulated capture and on real data. The real "
                            "benign shard is all benign: only its false-alarm rate means anything. The N-BaIoT rows "
                            "come from another device and testbed (a doorbell; benign, then a BASHLITE/gafgyt scan).")]
    if rows:
        b.append(("table", ["data", "model", "rows", "ROC-AUC", "TPR [95% CI]", "FPR [95% CI]", "false alarms / h",
                            "false-alarm budget"], rows))
    if missing:
        b.append(("p", " ".join(missing)))
    return b


# ----------------------------------------------------------------------------- figures


def figures(ev: dict[str, Any]) -> dict[str, bytes]:
    """``evaluation_roc`` and ``evaluation_timeline`` PNGs."""
    titles = {r["model"]: r["title"] for r in ev["split_gap"]}
    out = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, roc in ev["roc"].items():
        if not roc:
            continue
        line, = ax.plot([max(f, 1e-6) for f in roc["fpr"]], roc["tpr"],
                        label=f"{titles.get(key, key)} (AUC {roc['auc']:.4f})")
        p = ev["operating_points"][key][0]
        if p["fpr"] is not None and p["tpr"] is not None:
            ax.plot([max(p["fpr"], 1e-6)], [p["tpr"]], "o", color=line.get_color(),
                    label=f"its threshold for FPR {_fpr_label(p['target_fpr'])} (set on validation), on test")
    ax.set_xscale("log")
    ax.set_xlabel("false-positive rate (test, temporal split)")
    ax.set_ylabel("true-positive rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out["evaluation_roc"] = png_bytes(fig)

    det = ev["detection"]
    fig, axes = plt.subplots(len(det), 1, figsize=(9, 2.2 * len(det)), sharex=True, squeeze=False)
    u = ev["unseen_capture"]
    colours = {"scan": "#fdd0a2", "bruteforce": "#c6dbef", "loader": "#c7e9c0", "propagation": "#dadaeb",
               "flood": "#fcbba1"}
    for ax, (key, d) in zip(axes[:, 0], det.items()):
        tl = d["timeline"]
        for ph in u["phases"]:
            if ph["name"] != "benign":
                ax.axvspan(ph["start_s"], ph["end_s"], color=colours.get(ph["name"], "#eeeeee"), alpha=0.5,
                           label=ph["name"])
        t = tl["t"]
        ax.plot(t, [float("nan") if v is None else v for v in tl["benign"]["max"]], lw=0.8, color="#1f77b4",
                label="benign: highest")
        ax.plot(t, [float("nan") if v is None else v for v in tl["malicious"]["median"]], lw=0.8, color="#d62728",
                label="malicious: median")
        ax.axhline(tl["threshold"], ls="--", color="black", lw=0.8, label="threshold")
        ax.set_yscale("symlog", linthresh=1.0)  # overconfident logits reach 1e7; the threshold's region stays legible
        ax.set_ylabel("score (symlog)")
        ax.set_title(titles.get(key, key), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper left")
    axes[-1, 0].set_xlabel("seconds from the start of the capture")
    out["evaluation_timeline"] = png_bytes(fig)
    return out
