"""Issue 16: the report says what data it measured (items 10) and what it measured (items 11-12)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nidslab.study import runner
from nidslab.study.config import parse_study


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
    from test_study_runner import FakeLab

    ds = _sim_dataset(tmp_path)

    class SimLab(FakeLab):
        def __init__(self, study):
            super().__init__(study)
            self.dataset = ds

    monkeypatch.setattr(runner.backend, "Lab", SimLab)
    study = parse_study({"study": {"title": "t"}, "experiments": {"b": {}}}, source="t.toml")
    results = runner.run_study(study, data="default", out_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    meta = json.loads((tmp_path / "run" / "results.json").read_text())["meta"]
    assert meta["dataset"] == "mirai-sim" and results["meta"]["dataset"] == "mirai-sim"
    assert meta["dataset_source"]["kind"] == "simulated" and meta["dataset_source"]["seed"] == 3
    md = (tmp_path / "run" / "report.md").read_text()
    top = md[: md.index("## ")]                       # before the first section
    assert "mirai-sim" in top and "SIMULATED" in top and "seed 3" in top and "default" not in top.split("Study")[0]
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.index("SIMULATED") < html.index("<h2>")
