"""Issue 16 item 9 (the study's part): an empty study is refused, an unknown table is named."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nidslab.errors import ConfigError
from nidslab.study.study_file import load_study


@pytest.mark.parametrize("text", ["", "# nothing here\n", "[study]\ntitle = 'empty'\n", "[defaults]\nepochs = 2\n",
                                  "[quick]\nfraction = 0.1\n"])
def test_a_study_with_no_parts_is_refused(tmp_path, text):
    path = tmp_path / "empty.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="no parts to run") as err:
        load_study(path)
    assert str(path) in str(err.value)


def test_a_study_with_only_a_tree_baseline_is_accepted(tmp_path):
    path = tmp_path / "tree.toml"
    path.write_text("[tree_baseline]\nn_estimators = 5\n")
    assert load_study(path).tree_baseline.n_estimators == 5


def test_empty_study_through_the_cli_writes_no_report(tmp_path):
    from nidslab.cli import app

    path = tmp_path / "empty.toml"
    path.write_text("")
    result = CliRunner().invoke(app, ["lab", "--study", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "no parts to run" in result.output and "Traceback" not in result.output
    assert not list((tmp_path / "runs").rglob("report.*"))


@pytest.mark.parametrize("text, name", [("[bogus]\nx = 1\n", "bogus"), ("[experiments.a]\n[Search]\ntrials = 2\n", "Search")])
def test_an_unknown_table_is_named_on_the_command_line(tmp_path, text, name):
    from nidslab.cli import app

    path = tmp_path / "s.toml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["lab", "--study", str(path), "--out", str(tmp_path / "runs")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "unknown table" in result.output and name in result.output, result.output


def test_a_key_outside_any_table_is_called_that(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("title = 'x'\n[experiments.a]\n")
    with pytest.raises(ConfigError, match="'title' stands outside any table"):
        load_study(path)


def test_every_part_table_counts_as_something_to_run():
    from nidslab.study.registry import tables
    from nidslab.study.study_file import parse_study

    assert "kitnet" in tables() and "tree_baseline" in tables()
    assert parse_study({"kitnet": {}}).kitnet is not None
