"""Would it work on new traffic? (issue #12): the study's ``evaluation`` part.

1. The leakage gap: the lab's baseline, the search's best network and LightGBM under the random split
   (taken from the parts the study already ran) and under the per-class temporal split (trained here).
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
from pathlib import Path
from typing import Any

import numpy as np

from nidslab.study.config import Evaluation

REFERENCE_ENV = "NIDSLAB_REFERENCE_DATA"
BENIGN_SHARD = "kitsune-mirai/mirai2000.pcap"
DOORBELL = "n-baiot/danmini_doorbell_3300rows.csv"


def reference_root(cfg: Evaluation) -> Path:
    """Where the reference data is: ``$NIDSLAB_REFERENCE_DATA``, else ``cfg.reference_data``, resolved
    against the current folder."""
    return Path(os.environ.get(REFERENCE_ENV) or cfg.reference_data).expanduser().resolve()


def cache_settings(cfg: Evaluation, study: Any, results: dict[str, Any]) -> dict[str, Any]:
    """Everything the part's result depends on besides the data (the cache key hashes it): the settings, the
    models compared, and which reference files exist (with their sizes)."""
    root = reference_root(cfg)
    files = {}
    for rel in (BENIGN_SHARD, DOORBELL):
        p = root / rel
        files[rel] = p.stat().st_size if p.is_file() else None
    best = (results.get("search") or {}).get("final", {}).get("settings") if cfg.best else None
    return {"evaluation": dataclasses.asdict(cfg), "reference_root": str(root), "reference_files": files,
            "experiment": study.experiment(cfg.experiment).settings(), "best": best,
            "tree": dataclasses.asdict(study.tree_baseline) if cfg.tree and study.tree_baseline else None}


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


def _candidates(cfg: Evaluation, lab: Any, results: dict[str, Any]) -> list[tuple[_Model, dict | None]]:
    """The models compared, each with its test metrics under the study's own (random) split, if run."""
    e = lab.study.experiment(cfg.experiment)
    exp = results["experiments"].get(cfg.experiment)
    out = [(_Model("baseline", e.title or e.name, "network", e.settings()), exp and exp["test"])]
    final = (results.get("search") or {}).get("final")
    if cfg.best and final:
        out.append((_Model("best", "best network found by the search", "network", dict(final["settings"])),
                    final["test"]))
    if cfg.tree and lab.study.tree_baseline is not None:
        tree = results.get("tree_baseline")
        out.append((_Model("tree", "LightGBM", "tree", dataclasses.asdict(lab.study.tree_baseline)),
                    tree and tree["test"]))
    return out


def _fit(m: _Model, lab: Any, train, validation, test) -> _Model:
    """Train ``m`` on ``train`` and score it on ``test`` (metrics as the study reports them)."""
    from nidslab.study.tree import subsample_rows, scored

    if m.kind == "network":
        result, m.fitted = lab.train_eval(m.settings, train, validation, test)
        m.metrics = result["test"]
        return m
    import lightgbm as lgb

    s = m.settings
    rows = subsample_rows(len(train[1]), s["max_rows"], lab.study.seed)
    m.fitted = lgb.LGBMClassifier(n_estimators=s["n_estimators"], num_leaves=s["num_leaves"],
                                  learning_rate=s["learning_rate"], class_weight="balanced",
                                  random_state=lab.study.seed, n_jobs=lab.threads or 0, verbose=-1,
                                  deterministic=True, force_row_wise=True)
    m.fitted.fit(np.ascontiguousarray(train[0][rows]), np.asarray(train[1][rows]))
    m.metrics = scored(test[1], m.fitted.predict_proba(test[0])[:, 1])
    return m


# ----------------------------------------------------------------------------- the part


def run(cfg: Evaluation, lab: Any, results: dict[str, Any]) -> dict[str, Any]:
    """Compute the ``evaluation`` section of results.json (see the module docstring)."""
    from nidslab.data.prep import prepare
    from nidslab.evaluate import operating_points, roc_points

    study, detail = lab.study, lab.detail
    seconds: dict[str, float] = {}
    cpu = time.process_time()  # this process's CPU seconds (all threads): a load-independent cost next to wall time
    clock = time.perf_counter()
    temporal = prepare(lab.dataset, features=study.features, fraction=study.fraction, seed=study.seed,
                       temporal=True)
    t_parts = ((temporal.X_train, temporal.y_train), (temporal.X_val, temporal.y_val),
               (temporal.X_test, temporal.y_test))
    random_side = None
    if study.split == "temporal":  # the study's own models are the temporal ones: train the random side here
        random_side = prepare(lab.dataset, features=study.features, fraction=study.fraction, seed=study.seed)
    seconds["prepare"] = time.perf_counter() - clock

    models, rows = [], []
    for i, (m, random_metrics) in enumerate(_candidates(cfg, lab, results)):
        detail(i, None, f"temporal split: {m.title}")
        clock = time.perf_counter()
        _fit(m, lab, *t_parts)
        seconds[f"train_{m.key}"] = time.perf_counter() - clock
        if random_side is not None:
            r = _fit(dataclasses.replace(m), lab, (random_side.X_train, random_side.y_train),
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
    return {
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
    }


def _gap(random: dict | None, temporal: dict | None) -> dict[str, float | None]:
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


def _unseen_capture(cfg: Evaluation, features: str, scaler: Any) -> dict[str, Any]:
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


def _detection(m: _Model, u: dict[str, Any], points: list[dict], cfg: Evaluation) -> dict[str, Any]:
    """Delay, recall per phase, false alarms per hour at every operating point; the timeline; truth vs
    time-cut labels at the default operating point."""
    from nidslab.detection import detection_delay, false_alarms_per_hour, recall_per_phase, timeline
    from nidslab.evaluate import rates_at, roc_points

    s = m.raw(u["Z"])
    ts, truth = u["ts"], u["truth"]
    per_target = []
    for p in points:
        flagged = s >= p["threshold"]
        per_target.append({
            "target_fpr": p["target_fpr"], "threshold": p["threshold"],
            "delay": detection_delay(ts, flagged, u["onset_s"], truth),
            "phases": recall_per_phase(ts, flagged, truth, u["phases"]),
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


def _transfer(cfg: Evaluation, models: list[_Model], points: dict[str, list[dict]], unseen: dict[str, Any],
              features: str, scaler: Any, detection: dict[str, Any]) -> dict[str, Any]:
    """Each model at its operating points on the unseen simulated capture and on the reference data."""
    from nidslab.detection import false_alarms_per_hour
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

        X, y = read_table(bell)
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


__all__ = ["run", "cache_settings", "reference_root", "REFERENCE_ENV"]
