"""The study runner: per-part caching (resume, one changed experiment re-runs alone) and a quick study
end to end through the CLI on a small generated dataset."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from conftest import import_learnable_dataset
from typer.testing import CliRunner

from nidslab.study import runner
from nidslab.study.study_file import load_study, parse_study

SMALL = {
    "study": {"title": "small", "seed": 0},
    "defaults": {"epochs": 2},
    "experiments": {"a": {"class_weight": "none"}, "b": {}, "c": {"n_nodes": 30}},
    "cross_validation": {"experiment": "b", "folds": 2},
}


def _fake_dataset():
    """A dataset as open_dataset returns it (only what the runner reads: name, meta, y)."""
    from types import SimpleNamespace

    return SimpleNamespace(name="fake", meta={"name": "fake", "rows": 20, "sources": []}, y=np.zeros(20))


class FakeLab:
    """Stands in for the data and the parts that train: records which parts ran, returns results shaped
    like the real ones (:func:`install_fake_lab` puts it in place of the prepared data and the parts' work)."""

    calls: list[str] = []
    fail_at: str | None = None

    def __init__(self, study=None):
        from test_report import sample_results

        self.sample = sample_results()
        self.X_raw = np.arange(60, dtype=np.float32).reshape(20, 3)
        self.y_all = (np.arange(20) % 2).astype(np.uint8)
        self.dataset = _fake_dataset()

    def _ran(self, part):
        if part == FakeLab.fail_at:
            raise KeyboardInterrupt(part)
        FakeLab.calls.append(part)

    def data_part(self):
        self._ran("data")
        return copy.deepcopy(self.sample["data"])

    def experiment(self, e):
        self._ran(e.name)
        out = copy.deepcopy(self.sample["experiments"]["balanced_2x20"])
        out["settings"] = e.settings()
        for key in ("title", "part"):
            out.pop(key)
        return out

    def cross_validation(self):
        self._ran("cross_validation")
        return copy.deepcopy(self.sample["cross_validation"])


def install_fake_lab(monkeypatch, cls=FakeLab):
    """Replace the prepared data and the work of the data, experiments and cross-validation parts by ``cls``."""
    from types import SimpleNamespace

    from nidslab.study.parts import cross_validation, data, experiments
    from nidslab.study.results import from_plain

    lab = cls()
    prepared = SimpleNamespace(X_raw=lab.X_raw, y_all=lab.y_all, dataset=lab.dataset)
    monkeypatch.setattr(runner, "open_prepared", lambda *a, **k: prepared)
    monkeypatch.setattr(data, "run", lambda cfg, ctx: from_plain(data.Result, lab.data_part(), "data"))
    monkeypatch.setattr(experiments, "train_one", lambda ctx, e: lab.experiment(e))
    # a stacked group (stacking = "shared"): each of its experiments, in order, as the fake trains them
    monkeypatch.setattr(experiments, "train_group",
                        lambda ctx, group: {e.name: lab.experiment(e) for e in dict.fromkeys(r[0] for r in group)})
    monkeypatch.setattr(cross_validation, "run",
                        lambda cfg, ctx: from_plain(cross_validation.Result, lab.cross_validation(), "cv"))
    return lab


@pytest.fixture
def fake_lab(monkeypatch):
    FakeLab.calls, FakeLab.fail_at = [], None
    install_fake_lab(monkeypatch)
    return FakeLab


def _run(study, tmp_path, name, **kw):
    return runner.run_study(study, data="fake", out_dir=tmp_path / name, cache_dir=tmp_path / "cache", **kw)


def test_plan_lists_every_part_in_the_lab_order():
    parts = runner.plan(load_study())
    assert parts[0] == "data" and parts[1] == "experiments/sigmoid_2x20"
    assert parts[-9:] == ["batch_size_timing", "search", "mc_dropout", "cross_validation", "regression",
                          "tree_baseline", "kitnet", "evaluation", "unseen_networks"]


def test_a_second_run_comes_from_the_cache(fake_lab, tmp_path):
    study = parse_study(copy.deepcopy(SMALL))
    first = _run(study, tmp_path, "r1")
    assert fake_lab.calls == ["data", "a", "b", "c", "cross_validation"]
    assert set(runner.TOP_KEYS) <= set(first)
    fake_lab.calls.clear()
    second = _run(study, tmp_path, "r2")
    assert fake_lab.calls == []
    assert all(p["cached"] for p in second["meta"]["parts"].values())
    assert second["experiments"] == first["experiments"]
    assert (tmp_path / "r2" / "report.html").is_file() and (tmp_path / "r2" / "results.json").is_file()
    fake_lab.calls.clear()
    _run(study, tmp_path, "r3", fresh=True)
    assert fake_lab.calls == ["data", "a", "b", "c", "cross_validation"]


def test_one_changed_experiment_reruns_alone(fake_lab, tmp_path):
    _run(parse_study(copy.deepcopy(SMALL)), tmp_path, "r1")
    changed = copy.deepcopy(SMALL)
    changed["experiments"]["c"]["n_nodes"] = 40
    fake_lab.calls.clear()
    out = _run(parse_study(changed), tmp_path, "r2")
    assert fake_lab.calls == ["c"]
    assert out["experiments"]["c"]["settings"]["n_nodes"] == 40
    # the cross-validation reuses experiment b, which did not change
    changed["experiments"]["b"]["lr"] = 0.05
    fake_lab.calls.clear()
    _run(parse_study(changed), tmp_path, "r3")
    assert fake_lab.calls == ["b", "cross_validation"]


def test_an_interrupted_run_resumes_where_it_stopped(fake_lab, tmp_path):
    study = parse_study(copy.deepcopy(SMALL))
    fake_lab.fail_at = "c"
    with pytest.raises(KeyboardInterrupt):
        _run(study, tmp_path, "r1")
    assert fake_lab.calls == ["data", "a", "b"]
    assert not (tmp_path / "r1" / "results.json").exists()
    fake_lab.calls.clear()
    fake_lab.fail_at = None
    out = _run(study, tmp_path, "r2")
    assert fake_lab.calls == ["c", "cross_validation"]
    assert [p["cached"] for p in out["meta"]["parts"].values()] == [True, True, True, False, False]


def test_new_run_dirs_and_latest_link(tmp_path):
    a = runner.new_run_dir(tmp_path)
    b = runner.new_run_dir(tmp_path)
    assert a != b and a.parent == b.parent == tmp_path
    runner.link_latest(tmp_path, a)
    runner.link_latest(tmp_path, b)
    assert (tmp_path / "latest").resolve() == b.resolve()


# ----------------------------------------------------------------------------- end to end (real modules)


@pytest.fixture(scope="module")
def tiny_dataset():
    """A small Kitsune-schema dataset with a learnable signal, imported under a name nidslab opens."""
    return import_learnable_dataset("study-tiny", rows=12_000, seed=0)


QUICK_E2E = """
[study]
title = "quick end to end"
random_chance_draws = 50
[defaults]
epochs = 2
[experiments.sigmoid_2x20]
class_weight = "none"
[experiments.balanced_2x20]
[experiments.bigger_4x50]
n_layers = 4
n_nodes = 50
[experiments.batchnorm_2x20]
batch_norm = true
[experiments.relu_2x20]
activation = "relu"
[experiments.adam_2x20]
optimizer = "adam"
[experiments.dropout_2x20]
dropout = 0.5
[experiments.linear_2x20]
activation = "linear"
[experiments.lr_low_2x20]
lr = 0.01
[experiments.lr_high_2x20]
lr = 1.0
[experiments.deeper_4x20]
n_layers = 4
[experiments.batchnorm_4x20]
n_layers = 4
batch_norm = true
[batch_size_timing]
experiment = "balanced_2x20"
batch_sizes = [100, 1000, 10000]
max_rows = 2000
[search]
trials = 3
timeout_s = 20
epochs = 1
final_epochs = 2
depth_timing = [2, 4]
depth_timing_epochs = 1
[mc_dropout]
passes = 5
[cross_validation]
experiment = "balanced_2x20"
folds = 2
[regression]
epochs = 2
[tree_baseline]
n_estimators = 10
[evaluation]
sim_packets = 3000
timeline_bins = 50
[quick]
fraction = 0.5
eval_sim_packets = 2000
"""


@pytest.mark.slow
def test_quick_study_end_to_end_through_the_cli(tiny_dataset, tmp_path):
    from nidslab.cli import app

    study = tmp_path / "quick.toml"
    study.write_text(QUICK_E2E)
    cli = CliRunner()
    result = cli.invoke(app, ["lab", "--study", str(study), "--data", tiny_dataset, "--quick", "--out",
                              str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    latest = tmp_path / "runs" / "latest"
    results = json.loads((latest / "results.json").read_text())
    assert set(results) == set(runner.TOP_KEYS)
    assert results["meta"]["quick"] and results["data"]["rows"] == 12_000
    assert results["data"]["split"]["train"] + results["data"]["split"]["validation"] + \
        results["data"]["split"]["test"] == 6_000
    for e in results["experiments"].values():
        assert len(e["history"]["loss"]) == 2 and 0.0 <= e["test"]["accuracy"] <= 1.0
    assert results["experiments"]["bigger_4x50"]["params"] == 12_351
    assert len(results["mc_dropout"]["accuracy"]["per_pass"]) == 5
    assert len(results["cross_validation"]["accuracy"]["per_fold"]) == 2
    assert [r["updates_per_epoch"] for r in results["batch_size_timing"]["rows"]] == [
        -(-results["data"]["split"]["train"] // b) for b in (100, 1000, 10000)]
    for q in results["questions"]:
        assert q["evidence"], q
        for ev in q["evidence"]:
            assert ev["text"] in q["answer"]
    html = (latest / "report.html").read_text()
    assert all(q["answer"].replace("'", "&#x27;") in html for q in results["questions"])
    # the evaluation section: both splits per model, operating points, detection on the unseen capture
    ev = results["evaluation"]
    assert [r["model"] for r in ev["split_gap"]] == ["baseline", "best", "tree"]
    assert all(r["random"] and r["temporal"] for r in ev["split_gap"])
    assert ev["split_gap"][0]["random"] == results["experiments"]["balanced_2x20"]["test"]  # reused, not retrained
    assert ev["unseen_capture"]["packets"] == 2000 and ev["unseen_capture"]["flood_type"] == "syn"
    for key in ("baseline", "best", "tree"):
        assert [p["target_fpr"] for p in ev["operating_points"][key]] == [1e-3, 1e-2, 1e-4]
        d = ev["detection"][key]["per_target"][0]
        assert {p["phase"] for p in d["phases"]} <= {"scan", "bruteforce", "loader", "propagation", "flood", "other"}
        # each malicious packet counted in one phase: the counts add up
        assert sum(p["malicious_packets"] for p in d["phases"]) == ev["unseen_capture"]["malicious_truth"]
        assert d["false_alarms_before_onset"]["hours"] > 0
    assert [s["available"] for s in ev["transfer"]["sets"]][0] is True
    assert "Would it work on new traffic?" in html
    assert (latest / "figures" / "evaluation_timeline.png").is_file() and (latest / "figures" / "evaluation_roc.png").is_file()
    assert results["meta"]["parts"]["evaluation"]["seconds"] > 0

    # the report is rebuilt from results.json alone
    (latest / "report.html").unlink()
    again = cli.invoke(app, ["lab", "report", str(latest)])
    assert again.exit_code == 0, again.output
    assert (latest / "report.html").read_text() == html

    # a second run is served from the cache
    result = cli.invoke(app, ["lab", "--study", str(study), "--data", tiny_dataset, "--quick", "--out",
                              str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    second = json.loads((tmp_path / "runs" / "latest" / "results.json").read_text())
    assert all(p["cached"] for p in second["meta"]["parts"].values())
    assert second["experiments"] == results["experiments"]


def test_bad_study_file_is_a_one_line_cli_error(tmp_path):
    from nidslab.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text("[experiments.a]\nn_nodes = -1\n")
    result = CliRunner().invoke(app, ["lab", "--study", str(bad), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    # (the table name itself is in the ConfigError; see test_study_config.py for the message in full)
    assert "bad.toml" in result.output and "n_nodes must be an integer >= 1" in result.output
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- hardware


def test_hardware_is_read_from_this_machine():
    import os

    from nidslab.study.hardware import describe_hardware

    h = describe_hardware()
    assert h["cpu"]["logical_cores"] == os.cpu_count()
    assert 1 <= h["cpu"]["usable_cores"] <= os.cpu_count()
    assert h["cpu"]["model"] and h["memory_bytes"] > 0


def test_cuda_cores_from_sm_count_and_compute_capability():
    from nidslab.study.hardware import cuda_cores

    assert cuda_cores(8, 6, 82) == 10_496      # RTX 3090, the lab's card
    assert cuda_cores(9, 0, 132) == 16_896     # H100 SXM
    assert cuda_cores(8, 0, 108) == 6_912      # A100
    assert cuda_cores(1, 0, 10) is None
