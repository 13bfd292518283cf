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
