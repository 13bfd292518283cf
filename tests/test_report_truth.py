"""Issue 16: the report says what data it measured (items 10) and what it measured (items 11-12)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nidslab.study import runner
from nidslab.study.study_file import parse_study


def _sim_dataset(tmp_path, seed=3):
    """A dataset folder written the way the built-in mirai-sim builder writes its meta.json."""
    from nidslab.data import write_dataset
    from nidslab.data.datasets import BUILTIN_RECIPES

    rng = np.random.default_rng(0)
    return write_dataset(tmp_path / "mirai-sim", rng.random((40, 115), dtype=np.float32), np.arange(40) % 2,
                         sources=[{"kind": "simulation", "packets": 40, "seed": seed}],
                         extra={"builtin": "mirai-sim", "recipe": BUILTIN_RECIPES["mirai-sim"]})


def test_provenance_names_a_simulated_dataset_its_recipe_and_seed(tmp_path):
    from nidslab.data.datasets import BUILTIN_RECIPES
    from nidslab.data.provenance import provenance

    p = provenance(_sim_dataset(tmp_path), "default")
    assert p["name"] == "mirai-sim" and p["requested"] == "default"
    assert p["kind"] == "simulated" and p["simulated"] is True
    assert p["recipe"] == BUILTIN_RECIPES["mirai-sim"] and p["seed"] == 3
    assert "SIMULATED" in p["description"] and BUILTIN_RECIPES["mirai-sim"] in p["description"]
    assert "seed 3" in p["description"]


def test_provenance_of_an_imported_dataset_says_imported(tmp_path):
    from nidslab.data import import_dataset
    from nidslab.data.provenance import provenance

    rng = np.random.default_rng(0)
    ds = import_dataset(rng.random((30, 115), dtype=np.float32), np.arange(30, dtype=np.uint8) % 2, "prov-imported")
    p = provenance(ds)
    assert p["kind"] == "imported" and p["simulated"] is False and "SIMULATED" not in p["description"]


def test_report_and_results_name_the_simulated_dataset_at_the_top(tmp_path, monkeypatch):
    from test_study_runner import FakeLab, install_fake_lab

    ds = _sim_dataset(tmp_path)

    class SimLab(FakeLab):
        def __init__(self, study=None):
            super().__init__(study)
            self.dataset = ds

    install_fake_lab(monkeypatch, SimLab)
    study = parse_study({"study": {"title": "t"}, "experiments": {"b": {}}}, source="t.toml")
    results = runner.run_study(study, data="default", out_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    meta = json.loads((tmp_path / "run" / "results.json").read_text())["meta"]
    assert meta["dataset"] == "mirai-sim" and results["meta"]["dataset"] == "mirai-sim"
    assert meta["dataset_source"]["kind"] == "simulated" and meta["dataset_source"]["seed"] == 3
    md = (tmp_path / "run" / "report.md").read_text()
    top = md[: md.index("## ")]                       # before the first section
    assert "mirai-sim" in top and "SIMULATED" in top and "seed 3" in top and "default" not in top.split("Study")[0]
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.index("SIMULATED") < html.index("<h2 ")


# ----------------------------------------------------------------------------- item 11: memory per batch size


def test_step_memory_is_the_steps_tensors_and_grows_linearly_with_the_batch():
    import torch

    from nidslab.memory import step_memory
    from nidslab.model import ModelSpec, build_model

    torch.manual_seed(0)
    model = build_model(ModelSpec(n_layers=2, n_nodes=20), 92)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    totals = []
    for bs in (100, 1000, 10_000):
        m = step_memory(model, 92, bs)
        # 2 x 20 sigmoid, BCE with logits: x, y, w (94 floats a row); two sigmoid outputs and the logit
        # (41 floats a row) kept for backward; 2,301 weights and as many gradients; plain SGD keeps no state
        assert m == {"batch": bs * 94 * 4, "parameters": 2301 * 4, "saved_for_backward": bs * 41 * 4,
                     "gradients": 2301 * 4, "optimizer_state": 0, "total": bs * 135 * 4 + 2 * 2301 * 4}
        totals.append(m["total"])
    assert totals[0] < totals[1] < totals[2]
    adam = step_memory(model, 92, 100, optimizer="adam")
    assert adam["optimizer_state"] >= 2 * 2301 * 4            # Adam's two moments per weight
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())   # model left alone


def test_batch_size_timing_reports_step_memory_that_grows_with_the_batch(tmp_path):
    from conftest import import_learnable_dataset

    from nidslab.study.context import Context
    from nidslab.study.parts import batch_size_timing
    from nidslab.study.prepared import open_prepared
    from nidslab.study.results import to_plain
    from nidslab.study.study_file import parse_study

    name = import_learnable_dataset("truth-timing", rows=6_000, seed=1)
    study = parse_study({"experiments": {"b": {"epochs": 1}},
                         "batch_size_timing": {"experiment": "b", "batch_sizes": [100, 1000, 3000], "max_rows": 3000}})
    data = open_prepared(name, features=study.features, fraction=study.fraction, seed=study.seed, temporal=False,
                         detail=lambda *a, **k: None)
    ctx = Context(study=study, data=data)
    part = to_plain(batch_size_timing.run(study.batch_size_timing, ctx))
    mem = [row["step_memory_bytes"] for row in part["rows"]]
    assert mem[0] < mem[1] < mem[2], mem
    assert all(row["step_memory"]["total"] == row["step_memory_bytes"] for row in part["rows"])
    assert "peak_memory_bytes" not in part["rows"][0]


def test_memory_answers_quote_the_step_memory_and_say_what_it_counts():
    from test_report import sample_results

    from nidslab.study.questions import answer_questions

    r = sample_results()
    answers = {q["id"]: q for q in answer_questions(r)}
    for qid in (3, 7, 8, 11):
        cited = [ev["path"][-1] for ev in answers[qid]["evidence"]]
        assert "peak_memory_bytes" not in cited and "resident" not in answers[qid]["answer"]
        assert any(p in ("step_memory_bytes", "total") for p in cited), (qid, cited)
    assert "backpropagation" in answers[3]["answer"] and "counted" in answers[3]["answer"].lower()
    rows = r["batch_size_timing"]["rows"]
    small, large = rows[0]["step_memory_bytes"], rows[-1]["step_memory_bytes"]
    from nidslab.study.numbers import fmt

    assert fmt(small, "bytes") in answers[11]["answer"] and fmt(large, "bytes") in answers[11]["answer"]


# ----------------------------------------------------------------------------- item 13: the summary chart


def test_summary_chart_shows_logistic_regression_and_its_legend_covers_no_bar():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from test_report import sample_results

    from nidslab.study.charts import summary_figure

    r = sample_results()
    fig = summary_figure(r)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "LightGBM" in labels and "logistic regression" in labels
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 2 * len(labels)
    for bar in bars:
        assert not legend.overlaps(bar.get_window_extent(renderer)), bar
    plt.close(fig)


# ----------------------------------------------------------------------------- item 13: the study's cache


def test_study_cache_lives_under_nidslab_home_not_beside_the_runs(tmp_path, monkeypatch):
    from test_study_runner import install_fake_lab

    install_fake_lab(monkeypatch)
    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path / "home"))
    study = parse_study({"experiments": {"b": {}}}, source="t.toml")
    runs = tmp_path / "runs"
    first = runner.run_study(study, data="fake", out_dir=runs / "one")
    assert not (runs / ".cache").exists()
    assert list((tmp_path / "home" / "study-cache").rglob("*.json"))
    second = runner.run_study(study, data="fake", out_dir=tmp_path / "elsewhere" / "two")
    assert all(p["cached"] for p in second["meta"]["parts"].values())
    assert first["experiments"] == second["experiments"]


# ----------------------------------------------------------------------------- item 12: findings and Q5, Q12, Q14


def _claims(r):
    from nidslab.study.findings import findings

    return {f["part"]: f for f in findings(r)}


def test_a_difference_within_the_noise_does_not_hold():
    from test_report import sample_results

    r = sample_results()
    r["experiments"]["sigmoid_2x20"]["test"]["balanced_accuracy"] = 0.9800
    r["experiments"]["balanced_2x20"]["test"]["balanced_accuracy"] = 0.9801
    f = _claims(r)["Part 12"]
    assert f["holds"] is False and f["verdict"] == "does not hold"
    assert "within the noise" in f["text"] and "rests on one seed" in f["text"]
    assert "0.9800" in f["text"] and "0.9801" in f["text"]
    # the noise it was judged by is the measured CV sd, cited
    assert ["cross_validation", "balanced_accuracy", "sd"] in [ev["path"] for ev in f["evidence"]]
    # a lift well beyond the noise holds, and says so
    r["experiments"]["balanced_2x20"]["test"]["balanced_accuracy"] = 0.9950
    f = _claims(r)["Part 12"]
    assert f["holds"] is True and "it rose" in f["text"]


def test_the_findings_table_says_does_not_hold(tmp_path):
    from test_report import sample_results

    from nidslab.study.report import render

    r = sample_results()
    base = r["experiments"]["balanced_2x20"]["test"]["accuracy"]
    r["experiments"]["relu_2x20"]["test"]["accuracy"] = base + 0.0001     # ReLU: +0.0001 over sigmoid
    r["experiments"]["adam_2x20"]["test"]["accuracy"] = base - 0.0001
    render(r, tmp_path)
    md = (tmp_path / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| Parts 16-17"))
    assert "| does not hold |" in row and "within the noise" in row


def test_q5_q12_q14_answer_from_the_experiments_they_ask_about():
    from test_report import sample_results

    from nidslab.study.questions import answer_questions

    r = sample_results()
    a = {q["id"]: q for q in answer_questions(r)}
    cited = {qid: {tuple(ev["path"][:2]) for ev in a[qid]["evidence"]} for qid in (5, 12, 14)}
    assert ("experiments", "linear_2x20") in cited[5]
    assert {("experiments", "lr_0_01_2x20"), ("experiments", "balanced_2x20"), ("experiments", "lr_1_2x20")} <= cited[12]
    assert {("experiments", "deeper_4x20"), ("experiments", "batchnorm_4x20")} <= cited[14]
    assert "0.8655" in a[14]["answer"] and "0.5000" in a[14]["answer"]
    # without the experiments the answers say they were not measured, instead of answering from elsewhere
    for name in ("linear_2x20", "lr_0_01_2x20", "batchnorm_4x20"):
        del r["experiments"][name]
    a = {q["id"]: q for q in answer_questions(r)}
    for qid in (5, 12, 14):
        assert a[qid]["answer"].startswith("Not measured"), a[qid]["answer"]


def test_the_lab_study_runs_those_experiments():
    from nidslab.study.study_file import load_study

    s = load_study()
    by = {e.name: e.settings() for e in s.experiments}
    assert by["linear_2x20"]["activation"] == "linear"
    base = {k: v for k, v in by["balanced_2x20"].items() if k != "lr"}
    assert sorted(x["lr"] for x in by.values() if {k: v for k, v in x.items() if k != "lr"} == base) == [0.01, 0.1, 1.0]
    assert by["batchnorm_4x20"] == {**by["deeper_4x20"], "batch_norm": True}


def test_a_network_without_activations_is_one_linear_map_and_trains():
    import torch

    from nidslab import fused_step
    from nidslab.model import build_model
    from nidslab.settings import FitConfig, ModelSpec
    from nidslab.train import fit

    model = build_model(ModelSpec(n_layers=3, n_nodes=8, activation="linear"), 5, seed=0)
    assert fused_step.supports(model)              # the fused step trains it (identity kernels)
    x = torch.randn(64, 5)
    W, b = torch.eye(5), torch.zeros(5)
    for layer in (m for m in model.modules() if isinstance(m, torch.nn.Linear)):
        W, b = W @ layer.weight.T, b @ layer.weight.T + layer.bias
    with torch.no_grad():
        assert torch.allclose(model(x).reshape(-1), (x @ W + b).reshape(-1), atol=1e-5)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    h = fit(model, (X, y), None, FitConfig(epochs=5, batch_size=50, lr=0.5))
    assert h.loss[-1] < h.loss[0]
    auto = build_model(ModelSpec(n_layers=3, n_nodes=8, activation="linear"), 5, seed=0)
    g = fit(auto, (X, y), None, FitConfig(epochs=5, batch_size=50, lr=0.5, step="autograd"))
    assert g.loss == pytest.approx(h.loss, rel=1e-4)  # the same training as autograd's
