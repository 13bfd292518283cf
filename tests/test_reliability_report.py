"""Issue 16's report-truth items outside the report itself: file modes, the CLI's help and version,
``nidslab train --head regression --target``, the peak-memory measure of ``nidslab bench``."""

from __future__ import annotations

import contextlib
import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ----------------------------------------------------------------------------- item 13: file modes


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_and_folders_honour_the_umask(tmp_path, mask):
    from nidslab.paths import atomic_path, atomic_write, temp_dir

    with _umask(mask):
        with atomic_write(tmp_path / "a.txt", "w") as fh:
            fh.write("x")
        tmp = atomic_path(tmp_path / "b.npy")
        np.save(tmp, np.zeros(3))
        os.replace(tmp, tmp_path / "b.npy")
        folder = temp_dir(tmp_path / "c")
    assert _mode(tmp_path / "a.txt") == 0o666 & ~mask
    assert _mode(tmp_path / "b.npy") == 0o666 & ~mask
    assert _mode(folder) == 0o777 & ~mask


def test_rewriting_a_file_keeps_its_mode(tmp_path):
    from nidslab.paths import atomic_write

    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o640)
    with _umask(0o022), atomic_write(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new" and _mode(target) == 0o640


def test_a_saved_dataset_folder_is_readable_by_the_group_under_umask_022(tmp_path):
    from nidslab.data import write_dataset

    rng = np.random.default_rng(0)
    with _umask(0o022):
        ds = write_dataset(tmp_path / "ds", rng.random((20, 115), dtype=np.float32), np.arange(20) % 2)
    assert _mode(ds.path) == 0o755
    assert _mode(ds.path / "meta.json") == 0o644


# ----------------------------------------------------------------------------- item 13: the CLI


def test_version_option_and_command_print_the_version():
    from nidslab import __version__
    from nidslab.cli import app

    for args in (["--version"], ["version"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == __version__


def test_lab_help_shows_no_subcommand_placeholder_and_no_bool_metavar():
    from nidslab.cli import app

    result = CliRunner().invoke(app, ["lab", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    assert "COMMAND [ARGS]" not in result.output
    assert "<bool>" not in result.output.lower() and "BOOLEAN" not in result.output
    # the report subcommand is still there, and said to be one
    assert "report" in result.output and "--quick" in result.output


# ----------------------------------------------------------------------------- item 11: nidslab bench


def test_bench_reports_step_memory_growing_with_the_batch():
    from conftest import import_learnable_dataset

    from nidslab.cli import app

    name = import_learnable_dataset("bench-mem", rows=4_000, seed=2)
    result = CliRunner().invoke(app, ["bench", "--data", name, "--batch-sizes", "100,1000"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "step memory (MiB)" in result.output
    rows = [line.split("│") for line in result.output.splitlines() if line.count("│") >= 5]
    mib = [float(cells[4]) for cells in rows if cells[1].strip().replace(",", "").isdigit()]
    assert len(mib) == 2 and mib[0] < mib[1], result.output


# ----------------------------------------------------------------------------- item 13: nidslab train --target


def _regression_dataset(tmp_path):
    """A Kitsune-schema dataset where HH_L0.1_mean is a function of five other lab columns (not of its own
    statistics, which are noise here), so a regressor that sees only the others can learn it."""
    from nidslab import schema
    from nidslab.data import write_dataset

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, schema.N_FEATURES)).astype(np.float32)
    y = (rng.random(3000) < 0.8).astype(np.uint8)
    src = [n for n in schema.LAB_FEATURES if not n.startswith("HH_L0.1_")][:5]
    X[:, schema.INDEX["HH_L0.1_mean"]] = 300.0 + 40.0 * X[:, schema.indices(src)].sum(axis=1)
    return write_dataset(tmp_path / "reg", X, y)


def test_train_regression_target_predicts_that_column_without_its_own_statistics(tmp_path):
    import json

    from nidslab.cli import app

    _regression_dataset(tmp_path)
    out = tmp_path / "m"
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "reg"), "-o", str(out), "--head", "regression",
                                 "--target", "HH_L0.1_mean", "--activation", "relu", "--optimizer", "adam",
                                 "--lr", "0.01", "--batch-size", "100", "--epochs", "15"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    features = json.loads((out / "features.json").read_text())
    names = features if isinstance(features, list) else features.get("feature_names", features.get("names"))
    assert "HH_L0.1_mean" not in names and not any(n.startswith("HH_L0.1_") for n in names)
    assert metrics["target"]["name"] == "HH_L0.1_mean" and "HH_L0.1_std" in metrics["target"]["excluded"]
    test = metrics["test"]
    # in the column's own units (bytes), and far better than always predicting the mean: not 0/1 labels
    assert test["r2"] > 0.8 and test["mae"] < 0.5 * test["mean_baseline_mae"], test
    assert test["mean_baseline_mae"] > 50
    again = CliRunner().invoke(app, ["evaluate", str(out)], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "HH_L0.1_mean" in again.output and "r2" in again.output and "balanced_accuracy" not in again.output


@pytest.mark.parametrize("args, message", [(["--head", "regression"], "needs --target"),
                                           (["--target", "HH_L0.1_mean"], "needs --head regression"),
                                           (["--head", "regression", "--target", "HH_L9_mean"], "not a column")])
def test_train_target_mistakes_are_one_line_errors(tmp_path, args, message):
    from nidslab.cli import app

    _regression_dataset(tmp_path)
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "reg"), "-o", str(tmp_path / "m"), "--epochs", "1",
                                 *args], env={"COLUMNS": "200"})
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output
