"""The study as a list of parts (issue 22): a new part is one module and one registry line, a part's config
checks itself, results.json is read back strictly, and docs/results-schema.md is the code's."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import sys
import textwrap

import pytest
from test_study_runner import FakeLab, install_fake_lab

from nidslab.errors import ConfigError
from nidslab.study import registry, runner
from nidslab.study.report import write_report
from nidslab.study.results import ResultsLayoutError
from nidslab.study.study_file import parse_study

TOY = '''
"""A toy part: twice its setting, and the rows it saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nidslab.study.config import Quick, Study, need
from nidslab.study.context import Context
from nidslab.study.results import doc

NAME = "toy"
NEEDS: tuple[str, ...] = ("experiments",)
CACHE = "part"


@dataclass(frozen=True)
class Config:
    TABLE = NAME
    n: int = 3

    def __post_init__(self) -> None:
        need(self.n >= 1, "[toy] n", "must be at least 1", self.n)

    def check(self, study: Study) -> None:
        pass

    def quick(self, q: Quick) -> Config:
        return self


@dataclass
class Result:
    doubled: int = doc("twice n")
    rows: int = doc("rows of the prepared data")
    experiments_seen: int = doc("experiments it was handed")


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return {"n": cfg.n}


def run(cfg: Config, ctx: Context) -> Result:
    return Result(doubled=2 * cfg.n, rows=len(ctx.data.y_all), experiments_seen=len(ctx.needs["experiments"]))


def render(result: Result, results: dict[str, Any]) -> tuple[list[tuple[Any, ...]], dict[str, bytes]]:
    return [("h2", "A toy part"), ("p", f"Twice n is {result.doubled} (toy marker).")], {}
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy part: one new module, and one line that adds it to the registry."""
    path = tmp_path / "toy_part.py"
    path.write_text(textwrap.dedent(TOY))
    spec = importlib.util.spec_from_file_location("toy_part", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_part"] = module
    spec.loader.exec_module(module)
    monkeypatch.setattr(registry, "PARTS", [*registry.PARTS, module])   # the registry line
    yield module
    sys.modules.pop("toy_part", None)


@pytest.fixture
def fake(monkeypatch):
    FakeLab.calls, FakeLab.fail_at = [], None
    install_fake_lab(monkeypatch)
    return FakeLab


def test_a_new_part_is_one_module_and_one_registry_line(toy, fake, tmp_path):
    study = parse_study({"experiments": {"a": {}, "b": {}}, "toy": {"n": 21}}, source="t.toml")
    assert study.toy.n == 21 and study.search is None
    results = runner.run_study(study, data="fake", out_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["toy"] == {"doubled": 42, "rows": 20, "experiments_seen": 2} == results["toy"]
    assert saved["search"] == {"not_run": "the study has no [search] table"}
    assert saved["meta"]["parts"]["toy"]["cached"] is False
    assert "Twice n is 42 (toy marker)." in (tmp_path / "run" / "report.md").read_text()
    # its table is checked like every other, and its result is cached like every other
    with pytest.raises(ConfigError, match=r"t.toml: \[toy\] n must be at least 1"):
        parse_study({"experiments": {"a": {}}, "toy": {"n": 0}}, source="t.toml")
    again = runner.run_study(study, data="fake", out_dir=tmp_path / "again", cache_dir=tmp_path / "cache")
    assert again["meta"]["parts"]["toy"]["cached"] is True
    # and the report is rebuilt from results.json alone
    (tmp_path / "run" / "report.md").unlink()
    write_report(tmp_path / "run" / "results.json")
    assert "Twice n is 42" in (tmp_path / "run" / "report.md").read_text()


def test_a_renamed_result_field_fails_loudly(fake, tmp_path, monkeypatch):
    """A field renamed in a part's Result (and in the code that fills it) but not where it is read: the run
    stops naming the path, instead of the answer saying "Not measured"."""
    from nidslab.study.parts import cross_validation as cv

    fields = [(f.name if f.name != "accuracy" else "accuracy_over_folds", f.type, f)
              for f in dataclasses.fields(cv.Result)]
    Renamed = dataclasses.make_dataclass("Result", [(n, t, dataclasses.field(default=f.default, metadata=f.metadata))
                                                    if f.default is not dataclasses.MISSING else (n, t)
                                                    for n, t, f in fields])
    Renamed.__module__ = cv.__name__   # its annotations are names in the part's module
    monkeypatch.setattr(cv, "Result", Renamed)

    def run(cfg, ctx):
        d = FakeLab().cross_validation()
        d["accuracy_over_folds"] = d.pop("accuracy")
        return Renamed(**d)

    monkeypatch.setattr(cv, "run", run)
    study = parse_study({"experiments": {"b": {}}, "cross_validation": {"experiment": "b", "folds": 2}})
    with pytest.raises(ResultsLayoutError, match="cross_validation/accuracy"):
        runner.run_study(study, data="fake", out_dir=tmp_path / "run", cache_dir=tmp_path / "cache")


def test_a_results_json_with_a_renamed_field_is_refused_by_the_report(tmp_path):
    from test_report import sample_results

    r = sample_results()
    r["regression"] = copy.deepcopy(r["regression"])
    r["regression"]["test_scores"] = r["regression"].pop("test")
    (tmp_path / "results.json").write_text(json.dumps(r))
    with pytest.raises(ResultsLayoutError, match="regression") as err:
        write_report(tmp_path / "results.json")
    assert "test_scores" in str(err.value)
    del r["regression"]
    (tmp_path / "results.json").write_text(json.dumps(r))
    with pytest.raises(ResultsLayoutError, match="no entry for part 'regression'"):
        write_report(tmp_path / "results.json")


def test_part_configs_built_in_python_are_checked():
    from nidslab.study.parts import cross_validation, evaluation, kitnet, mc_dropout, search

    with pytest.raises(ConfigError, match=r"\[search\] trials must be at least 1"):
        search.Config(trials=0)
    with pytest.raises(ConfigError, match=r"\[mc_dropout\] passes"):
        mc_dropout.Config(passes=1)
    with pytest.raises(ConfigError, match=r"\[cross_validation\] folds"):
        cross_validation.Config(folds=1)
    with pytest.raises(ConfigError, match=r"\[kitnet\] target_fpr"):
        kitnet.Config(target_fpr=2.0)
    with pytest.raises(ConfigError, match=r"\[evaluation\] sim_flood_type"):
        evaluation.Config(sim_flood_type="icmp")
    # a study built in Python checks its parts' references too
    from nidslab.study.config import Study

    with pytest.raises(ConfigError, match=r"\[cross_validation\] experiment must name an experiment"):
        Study(parts={"cross_validation": cross_validation.Config(experiment="nope")})


def test_every_registered_part_has_the_parts_shape():
    names = registry.names()
    assert len(set(names)) == len(names)
    for i, part in enumerate(registry.PARTS):
        assert part.CACHE in ("part", "self", "none"), part.NAME
        assert all(n in names[:i] for n in part.NEEDS), (part.NAME, part.NEEDS)   # needs run before it
        assert callable(part.run) and callable(part.render)
        if part.CACHE == "part":
            assert callable(part.cache_settings)
        if part.Config is not None:
            assert part.Config.TABLE == part.NAME and dataclasses.is_dataclass(part.Config)
            assert callable(part.Config().check) and callable(part.Config().quick)


def test_the_search_defaults_are_the_lab_study_files():
    from nidslab.study.parts import search
    from nidslab.study.study_file import load_study

    assert load_study().search == search.Config()


def test_the_results_schema_document_is_generated_from_the_code():
    from nidslab.study.schema_doc import DOC_PATH, schema_markdown

    assert DOC_PATH.read_text(encoding="utf-8") == schema_markdown(), \
        "docs/results-schema.md is stale: run python -m nidslab.study.schema_doc"
    for name in registry.names():
        assert f"## `{name}`" in schema_markdown()
