"""The root command: help, version, and the user-error path (message + exit code 2)."""

import typer
from typer.testing import CliRunner

from nidslab import __version__
from nidslab.cli import app
from nidslab.errors import DataError

runner = CliRunner()


def test_help_lists_command_groups():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "version" in result.output


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_user_error_is_one_line_and_exit_2():
    probe = typer.Typer()

    @probe.command()
    def boom() -> None:
        raise DataError("bad.csv row 7 column 'H_L1_mean': expected a number, found 'abc'")

    app.add_typer(probe, name="probe-error")
    try:
        result = runner.invoke(app, ["probe-error", "boom"])
    finally:
        app.registered_groups.pop()
    assert result.exit_code == 2
    assert "bad.csv row 7" in result.output
    assert "Traceback" not in result.output


def test_lab_help_names_the_default_dataset_and_fraction_does_not_offer_zero():
    result = runner.invoke(app, ["lab", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "mirai-sim" in text and "SIMULATED" in text
    assert "0.0<=x" not in text and "above 0" in text
    bad = runner.invoke(app, ["lab", "--fraction", "0"])
    assert bad.exit_code != 0 and "above 0" in bad.output
