"""`nidslab data ...` end to end through the CLI."""

import json

import numpy as np
from typer.testing import CliRunner

from nidslab.cli import app
from nidslab.data.synthetic import make_synthetic

runner = CliRunner()


def test_import_describe_list_remove(tmp_path):
    X, y = make_synthetic(2_000, seed=4)
    np.save(tmp_path / "Mirai_data.npy", np.c_[np.arange(len(X)), X])  # the lab's 116 columns, index first
    np.save(tmp_path / "Mirai_labels.npy", y.astype(np.int64))
    r = runner.invoke(app, ["data", "import", str(tmp_path / "Mirai_data.npy"), str(tmp_path / "Mirai_labels.npy"),
                            "--name", "cli-small"])
    assert r.exit_code == 0, r.output
    assert "2,000 rows x 115 features" in r.output

    r = runner.invoke(app, ["data", "describe", "cli-small", "--json", "--draws", "200"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["rows"] == 2_000 and d["class_counts"] == [int((y == 0).sum()), int(y.sum())]
    assert d["naive_accuracy"] == np.bincount(y).max() / 2_000 and d["random_chance"]["draws"] == 200

    r = runner.invoke(app, ["data", "describe", "cli-small"])
    assert r.exit_code == 0 and "naive accuracy (always malicious)" in r.output

    r = runner.invoke(app, ["data", "list"])
    assert "cli-small" in r.output and "mirai-sim" in r.output

    assert runner.invoke(app, ["data", "remove", "cli-small"]).exit_code == 0
    r = runner.invoke(app, ["data", "describe", "cli-small"])
    assert r.exit_code == 2 and "no dataset named 'cli-small'" in r.output


def test_import_with_mismatched_rows_is_a_clear_error_and_caches_nothing(tmp_path):
    X, y = make_synthetic(500, seed=4)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y[:-3])
    r = runner.invoke(app, ["data", "import", str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), "--name", "bad"])
    assert r.exit_code == 2
    assert "500 rows" in r.output and "497" in r.output
    assert "bad" not in runner.invoke(app, ["data", "list"]).output


def test_bad_nonfinite_policy_is_refused(tmp_path):
    r = runner.invoke(app, ["data", "import", "a.csv", "b.csv", "--name", "x", "--nonfinite", "drop"])
    assert r.exit_code != 0 and "--nonfinite" in r.output


def test_describe_says_when_a_dataset_is_simulated(tmp_path):
    from nidslab.data import write_dataset
    from nidslab.data.datasets import BUILTIN_RECIPES

    rng = np.random.default_rng(0)
    write_dataset("cli-sim-like", rng.random((60, 115), dtype=np.float32), np.arange(60) % 2,
                  sources=[{"kind": "simulation", "packets": 60, "seed": 5}],
                  extra={"builtin": "mirai-sim", "recipe": BUILTIN_RECIPES["mirai-sim"]})
    r = runner.invoke(app, ["data", "describe", "cli-sim-like", "--draws", "10"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "SIMULATED" in r.output
    d = json.loads(runner.invoke(app, ["data", "describe", "cli-sim-like", "--json", "--draws", "10"]).stdout)
    assert d["source"]["simulated"] is True
