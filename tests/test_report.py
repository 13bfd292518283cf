"""The report: built from results.json alone, its numbers equal the results, every answer cites one.

Uses a hand-made results dict with the shape run_study writes (the end-to-end test in
test_study_runner.py checks the same properties on a real quick study).
"""

from __future__ import annotations

import copy
import html
import json
import re

import pytest

from nidslab.study import questions as qs
from nidslab.study.findings import findings
from nidslab.study.numbers import fmt, get
from nidslab.study.report import render, write_report


def _experiment(title, part, acc, bal, params=2301, **settings):
    s = {"n_layers": 2, "n_nodes": 20, "activation": "sigmoid", "batch_norm": False, "dropout": 0.0,
         "optimizer": "sgd", "lr": 0.1, "batch_size": 10000, "epochs": 3, "class_weight": "balanced", **settings}
    return {
        "title": title, "part": part, "settings": s, "params": params, "train_seconds": 1.25,
        "init": {"fan_in": 92, "fan_out": 20, "glorot_limit": 0.2315, "max_abs_weight": 0.2311,
                 "weight_std": 0.1334, "max_abs_bias": 0.0},
        "history": {"loss": [0.6, 0.5, 0.45], "accuracy": [0.7, 0.8, acc - 0.01],
                    "val_loss": [0.55, 0.48, 0.44], "val_accuracy": [0.75, 0.82, acc], "epoch_seconds": [0.4, 0.4, 0.45]},
        "test": {"loss": 0.4412, "accuracy": acc, "balanced_accuracy": bal, "roc_auc": 0.9123,
                 "positive_rate": 1.0 if bal == 0.5 else 0.8, "confusion_matrix": [[10, 20], [5, 165]]},
    }


def _step_memory(batch_size: int) -> dict:
    """What nidslab.memory.step_memory counts for a 2 x 20 SGD step on 92 inputs."""
    m = {"batch": batch_size * 94 * 4, "parameters": 2301 * 4, "saved_for_backward": batch_size * 41 * 4,
         "gradients": 2301 * 4, "optimizer_state": 0}
    return {**m, "total": sum(m.values())}


def sample_results() -> dict:
    """A complete results dict as run_study writes it, with made-up numbers."""
    exps = {
        "sigmoid_2x20": _experiment("2 x 20 sigmoid, no class weights", "Part 10", 0.8406, 0.5, class_weight="none"),
        "balanced_2x20": _experiment("2 x 20 balanced", "Part 12", 0.8798, 0.8512),
        "bigger_4x50": _experiment("4 x 50", "Part 14", 0.8814, 0.8601, params=12351, n_layers=4, n_nodes=50),
        "batchnorm_2x20": _experiment("2 x 20 + BN", "Part 15", 0.887, 0.8712, params=2381, batch_norm=True),
        "relu_2x20": _experiment("2 x 20 ReLU", "Part 16", 0.9032, 0.8801, activation="relu"),
        "adam_2x20": _experiment("2 x 20 Adam", "Part 17", 0.9244, 0.9011, optimizer="adam"),
        "dropout_2x20": _experiment("2 x 20 dropout", "Part 18", 0.8846, 0.8633, dropout=0.5),
        "linear_2x20": _experiment("2 x 20 linear", "Part 11", 0.85, 0.8021, activation="linear"),
        "lr_0_01_2x20": _experiment("2 x 20 lr 0.01", "Part 13", 0.8406, 0.6012, lr=0.01),
        "lr_1_2x20": _experiment("2 x 20 lr 1", "Part 13", 0.8912, 0.8701, lr=1.0),
        "deeper_4x20": _experiment("4 x 20", "Part 14", 0.8406, 0.5, params=3141, n_layers=4),
        "batchnorm_4x20": _experiment("4 x 20 + BN", "Part 15", 0.8841, 0.8655, params=3301, n_layers=4,
                                      batch_norm=True),
    }
    final = _experiment("best found", "Part 19", 0.9426, 0.9301, params=20000, n_layers=3, n_nodes=80,
                        activation="relu", optimizer="adam", lr=0.01, dropout=0.2, epochs=4)
    r = {
        "meta": {"title": "Test study", "dataset": "synthetic", "study_file": "x.toml", "quick": True, "wall_s": 12.5,
                 "parts": {"data": {"seconds": 0.5, "cached": False}, "experiments/relu_2x20": {"seconds": 1.2, "cached": True}}},
        "hardware": {"cpu": {"model": "Test CPU", "logical_cores": 2, "physical_cores": 1, "usable_cores": 2},
                     "memory_bytes": 24 * 2**30, "memory_gib": 24.0, "gpu": None, "torch_threads": 2,
                     "platform": "Linux", "python": "3.11"},
        "data": {"dataset": "synthetic", "rows": 1000, "n_features": 92, "features": "lab",
                 "class_counts": {"benign": 159, "malicious": 841}, "nan_features": 0, "nan_labels": 0,
                 "majority_class": "malicious", "naive_accuracy": 0.841,
                 "random_chance": {"draws": 100, "prior": {"mean": 0.7325, "sd": 0.0121},
                                   "uniform": {"mean": 0.5003, "sd": 0.0152}},
                 "split": {"train": 700, "validation": 150, "test": 150, "kind": "stratified"},
                 "test_naive_accuracy": 0.84, "train_bytes": 700 * 92 * 4,
                 "standardization": {"max_abs_mean": 1.2e-8, "max_abs_std_minus_1": 3.4e-7},
                 "class_weight": {"benign": 3.1373, "malicious": 0.5948}},
        "experiments": exps,
        "batch_size_timing": {"experiment": "balanced_2x20", "device": "cpu", "train_rows": 700, "timed_rows": 700,
                              "scaled": False, "slowdown_smallest_vs_largest": 41.3,
                              "rows": [{"batch_size": b, "seconds_per_epoch": s, "updates_per_epoch": u,
                                        "step_memory_bytes": m, "step_memory": _step_memory(b), "val_accuracy": v}
                                       for b, s, u, v in ((100, 4.13, 7, 0.9), (1000, 0.5, 1, 0.85), (10000, 0.1, 1, 0.84))
                                       for m in [_step_memory(b)["total"]]]},
        "search": {"seed": 0, "sampler": "Optuna TPE", "trials_per_batch": 4, "trials_run": 20, "trials_budget": 24, "timeout_s": 60.0, "wall_s": 55.2, "epochs": 6,
                   "train_rows": 140, "objective": "validation balanced accuracy", "space": {"n_layers": [1, 6]},
                   "trials": [{"number": i, "value": 0.8 + i / 100, "params": {}, "seconds": 1.0} for i in range(5)],
                   "best": {"params": {"n_layers": 3, "n_nodes": 80, "activation": "relu", "optimizer": "adam",
                                       "lr": 0.01, "batch_norm": False, "dropout": 0.2}, "value": 0.84},
                   "final": final,
                   "depth_timing": [{"n_layers": n, "n_nodes": 80, "params": 1000 * n, "seconds_per_epoch": 0.1 * n}
                                    for n in (2, 4, 10)],
                   "depth_slowdown": 5.0},
        "mc_dropout": {"description": "best found", "settings": final["settings"], "train_seconds": 2.0, "dropout": 0.2, "dropout_source": "the model's own", "passes": 10,
                       "test_rows": 150, "passes_seconds": 0.8, "deterministic_accuracy": 0.9426,
                       "accuracy": {"mean": 0.9411, "sd": 0.0012, "min": 0.939, "max": 0.9433,
                                    "per_pass": [0.94, 0.941, 0.9425, 0.939, 0.9433]},
                       "per_packet_sd": {"mean": 0.0123, "median": 0.004, "p95": 0.05, "max": 0.2, "mean_correct": 0.01,
                                         "mean_wrong": 0.08, "histogram": {"edges": [0, 0.1, 0.2], "counts": [140, 10]}}},
        "cross_validation": {"experiment": "balanced_2x20", "folds": 3, "seed": 1234, "seconds": 9.6,
                             "accuracy": {"mean": 0.8813, "sd": 0.0023, "per_fold": [0.879, 0.8813, 0.8836]},
                             "balanced_accuracy": {"mean": 0.85, "sd": 0.003, "per_fold": [0.847, 0.85, 0.853]}},
        "regression": {"target": "HH_L0.1_mean", "target_meaning": "a channel's mean packet size", "units": "bytes",
                       "why": "Because.", "n_inputs": 85, "excluded": ["HH_L0.1_std"],
                       "settings": {"n_layers": 2, "n_nodes": 20, "activation": "relu", "optimizer": "adam", "lr": 0.01,
                                    "batch_size": 10000, "epochs": 3},
                       "test": {"mae": 12.34, "rmse": 20.5, "r2": 0.9512},
                       "mean_baseline": {"mae": 80.12, "rmse": 95.0, "r2": -0.0001},
                       "sample": {"true": [1.0, 2.0, 3.0], "pred": [1.1, 1.9, 3.2]}},
        "tree_baseline": {"settings": {"n_estimators": 20, "num_leaves": 31, "learning_rate": 0.1}, "train_rows": 700,
                          "train_seconds": 0.3, "test": {"accuracy": 0.9612, "balanced_accuracy": 0.9501, "roc_auc": 0.99,
                                                         "loss": 0.1, "confusion_matrix": [[20, 4], [2, 124]]},
                          "best_dnn": {"experiment": "adam_2x20", "title": "2 x 20 Adam", "accuracy": 0.9244,
                                       "balanced_accuracy": 0.9011},
                          "gap": {"accuracy": 0.0368, "balanced_accuracy": 0.049},
                          "linear": {"train_seconds": 0.2, "test": {"accuracy": 0.85, "balanced_accuracy": 0.8, "roc_auc": 0.9}}},
    }
    r["kitnet"] = {"not_run": "the study has no [kitnet] table"}
    r["evaluation"] = {"not_run": "the study has no [evaluation] table"}
    r["unseen_networks"] = {"not_run": "the study has no [unseen_networks] table"}
    r["questions"] = qs.answer_questions(r)
    return r


def test_every_question_is_answered_and_cites_measured_numbers():
    r = sample_results()
    answers = r["questions"]
    assert [a["id"] for a in answers] == list(range(1, 22))
    for a in answers:
        assert a["evidence"], f"question {a['id']} cites no number: {a['answer']}"
        assert not a["answer"].startswith("Not measured"), a
        for ev in a["evidence"]:
            value = get(r, ev["path"])
            assert value == ev["value"], ev
            assert fmt(value, ev["kind"]) == ev["text"]
            assert ev["text"] in a["answer"], (a["id"], ev["text"])


def test_answers_follow_the_measurements_not_the_lab():
    r = sample_results()
    r["experiments"]["dropout_2x20"]["test"]["accuracy"] = 0.8000  # dropout now hurts
    text = qs.answer_questions(r)[15]["answer"]
    assert text.startswith("Test accuracy fell") and "0.8000" in text
    r["experiments"]["dropout_2x20"]["test"]["accuracy"] = 0.9900
    assert qs.answer_questions(r)[15]["answer"].startswith("Test accuracy rose")

    stuck = {f["part"]: f for f in findings(r)}
    assert stuck["Part 10"]["verdict"] == "holds"
    r["experiments"]["sigmoid_2x20"]["test"]["positive_rate"] = 0.93
    again = {f["part"]: f for f in findings(r)}
    assert again["Part 10"]["verdict"] == "does not hold"
    assert "93.0%" in again["Part 10"]["text"]


def test_gpu_answers_use_the_gpu_when_present():
    r = sample_results()
    r["hardware"]["gpu"] = {"name": "NVIDIA H100", "memory_bytes": 80 * 2**30, "memory_gib": 80.0, "sm_count": 132,
                            "compute_capability": "9.0", "cuda_cores": 16896, "count": 1}
    a = qs.answer_questions(r)
    assert "16,896" in a[0]["answer"] and "80.0 GiB" in a[1]["answer"]


def test_a_part_not_run_is_said_plainly():
    r = sample_results()
    r["mc_dropout"] = None
    a = qs.answer_questions(r)
    assert a[17]["answer"].startswith("Not measured") and a[17]["evidence"] == []


def _text(path) -> str:
    raw = path.read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def test_report_is_rebuilt_from_results_json(tmp_path):
    r = sample_results()
    (tmp_path / "results.json").write_text(json.dumps(r))
    written = write_report(tmp_path / "results.json")
    page = written["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and 'src="http' not in page and "<link" not in page  # self-contained
    imgs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == len(list((tmp_path / "figures").glob("*.png"))) >= 10
    text, md = _text(written["html"]), written["md"].read_text(encoding="utf-8")
    # the summary table comes first, and every experiment's numbers equal results.json
    assert text.index("Summary") < text.index("Part 3: hardware") < text.index("The lab's 21 questions")
    for e in r["experiments"].values():
        for key, kind in (("accuracy", "acc"), ("balanced_accuracy", "acc"), ("roc_auc", "acc")):
            assert fmt(e["test"][key], kind) in text and fmt(e["test"][key], kind) in md
    for a in r["questions"]:
        assert a["answer"] in text and a["answer"] in md
    assert fmt(r["cross_validation"]["accuracy"]["mean"], "acc") in text
    assert fmt(r["tree_baseline"]["gap"]["balanced_accuracy"], "num") in text


def test_report_without_optional_parts(tmp_path):
    r = sample_results()
    for key in ("batch_size_timing", "search", "mc_dropout", "cross_validation", "regression", "tree_baseline"):
        r[key] = None
    r["questions"] = qs.answer_questions(copy.deepcopy(r))
    render(r, tmp_path)
    assert "Part 20" not in _text(tmp_path / "report.html").split("The lab's 21 questions")[0]


def test_missing_results_json_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        write_report(tmp_path / "results.json")
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        write_report(tmp_path / "results.json")
