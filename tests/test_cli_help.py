"""--help shows the defaults from their one home (nidslab.settings) and no option's text restates a number."""

import re

import typer

from nidslab.cli import app
from nidslab.cli.common import default_of
from nidslab.settings import FitConfig, ModelSpec


def _options(command, path: str = ""):
    """(command path, option) for every option of every command (typer ships its own click: duck-typed)."""
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _options(sub, f"{path} {name}")
        return
    for p in command.params:
        if p.param_type_name == "option":
            yield path.strip(), p


def test_no_cli_text_restates_a_default_number():
    """A number after "default" in the CLI's string literals is a second home; f-strings that read the one
    home (``default {DEFAULT_TARGET_FPR:g}``) are fine, and --help shows the option's own default."""
    import io
    import tokenize
    from pathlib import Path

    import nidslab.cli

    restated = []
    for path in sorted(Path(nidslab.cli.__file__).parent.glob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.STRING and re.search(r"\bdefault:? [\d.]", tok.string):
                restated.append(f"{path.name}:{tok.start[0]}: {tok.string}")
    assert restated == []


def test_train_help_shows_the_settings_defaults():
    shown = {p.opts[0]: p.show_default for cmd, p in _options(typer.main.get_command(app)) if cmd == "train"}
    assert shown["--lr"] == f"{FitConfig.lr:g}"
    assert shown["--batch-size"] == f"{FitConfig.batch_size:,}"
    assert shown["--epochs"] == str(FitConfig.epochs)
    assert shown["--optimizer"] == FitConfig.optimizer
    assert shown["--n-layers"] == str(ModelSpec.n_layers)
    assert shown["--activation"] == ModelSpec.activation
    assert shown["--dropout"] == f"{ModelSpec.dropout:g}"


def test_default_of_renders_each_kind():
    assert default_of(FitConfig, "batch_size") == f"{FitConfig.batch_size:,}"
    assert default_of(FitConfig, "class_weight") == "none"
    assert default_of(ModelSpec, "batch_norm") == "off"
