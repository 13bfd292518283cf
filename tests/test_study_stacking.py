"""The study's stacked training: cross-validation's folds side by side (``[cross_validation] stacking``) and
an experiment's repeated seeds (``seeds``, results' ``seed_runs``), on a small generated dataset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import import_learnable_dataset

from nidslab.errors import ConfigError
from nidslab.study import run_study
from nidslab.study.study_file import parse_study


@pytest.fixture(scope="module")
def data() -> str:
    return import_learnable_dataset("stacking-study", rows=3000, seed=2)


def _cv(data: str, tmp_path, stacking: str, **more) -> dict:
    study = parse_study({"study": {"seed": 1}, "defaults": {"epochs": 3, "batch_size": 300, "optimizer": "adam",
                                                             "lr": 0.01},
                         "experiments": {"b": {"n_nodes": 8}},
                         "cross_validation": {"experiment": "b", "folds": 3, "stacking": stacking, **more}})
    out = tmp_path / stacking
    return run_study(study, data=data, out_dir=out / "runs", cache_dir=out / "cache")["cross_validation"]


def test_cv_folds_stacked_with_own_batches_equal_one_by_one(data, tmp_path):
    one = _cv(data, tmp_path, "none")
    own = _cv(data, tmp_path, "own")
    assert one["stacking"] == "none" and own["stacking"] == "own"
    np.testing.assert_allclose(own["accuracy"]["per_fold"], one["accuracy"]["per_fold"], atol=1e-3)
    np.testing.assert_allclose(own["balanced_accuracy"]["per_fold"], one["balanced_accuracy"]["per_fold"], atol=1e-3)


def test_cv_folds_with_shared_batches_learn_and_groups_split_them(data, tmp_path):
    shared = _cv(data, tmp_path, "shared")
    assert len(shared["accuracy"]["per_fold"]) == 3 and shared["stacking"] == "shared"
    # the columns carry the class: every fold learns it (one-by-one: 0.82-0.83 balanced accuracy)
    assert min(shared["balanced_accuracy"]["per_fold"]) > 0.75
    # a fold's network sees the same shared batches whatever else is stacked beside it: groups (parallel
    # tasks on a cluster) change where folds train, not their numbers
    grouped = _cv(data, tmp_path / "g", "shared", groups=3)
    np.testing.assert_allclose(grouped["accuracy"]["per_fold"], shared["accuracy"]["per_fold"], atol=1e-4)


def test_cv_stacking_and_groups_are_checked():
    study = parse_study({"experiments": {"b": {}}, "cross_validation": {"experiment": "b", "folds": 10, "groups": 5}})
    assert study.quick_version().cross_validation.groups == 3  # --quick's 3 folds: at most 3 groups
    with pytest.raises(ConfigError, match=r"\[cross_validation\] stacking must be one of shared, own, none"):
        parse_study({"experiments": {"b": {}}, "cross_validation": {"experiment": "b", "stacking": "all"}})
    with pytest.raises(ConfigError, match=r"\[cross_validation\] groups must be between 0 \(one per worker\) and folds"):
        parse_study({"experiments": {"b": {}}, "cross_validation": {"experiment": "b", "folds": 3, "groups": 4}})


def test_seeds_from_defaults_and_tables(data, tmp_path):
    # stacking "none": each seed its own shuffle, as one-by-one training with that seed
    study = parse_study({"study": {"seed": 5, "stacking": "none"},
                         "defaults": {"epochs": 2, "batch_size": 300, "seeds": 2},
                         "experiments": {"a": {}, "b": {"seeds": 3, "n_nodes": 8}, "c": {"seeds": 1}}})
    assert [e.seeds for e in study.experiments] == [2, 3, 1]
    r = run_study(study, data=data, out_dir=tmp_path / "runs", cache_dir=tmp_path / "cache")["experiments"]
    assert r["c"].get("seed_runs") is None
    report = next((tmp_path / "runs").rglob("report.md")).read_text()
    assert "Repeated seeds" in report and "5, 6, 7" in report
    b = r["b"]["seed_runs"]
    assert b["seeds"] == [5, 6, 7] and len(b["test_accuracy"]) == len(b["val_accuracy"]) == 3
    # this run first: its own numbers
    assert b["test_accuracy"][0] == r["b"]["test"]["accuracy"]
    assert b["val_accuracy"][0] == r["b"]["history"]["val_accuracy"][-1]
    # the other seeds are other networks, each as one-by-one training with its seed would give
    from nidslab.study.prepared import open_prepared
    from nidslab.study.training import train_eval

    d = open_prepared(data, features="lab", fraction=1.0, seed=5, temporal=False, detail=lambda *a, **k: None)
    one, _ = train_eval(study.experiment("b").settings(), d.train, d.validation, d.test, seed=6)
    assert b["test_accuracy"][1] == pytest.approx(one["test"]["accuracy"], abs=1e-3)
    assert b["val_accuracy"][1] == pytest.approx(one["history"]["val_accuracy"][-1], abs=1e-3)


def _experiments(data: str, tmp_path, stacking: str) -> dict:
    study = parse_study({"study": {"seed": 3, "stacking": stacking},
                         "defaults": {"epochs": 2, "batch_size": 300, "n_nodes": 6},
                         "experiments": {"plain": {"class_weight": "none"}, "seeded": {"seeds": 3},
                                         "slow": {"lr": 0.01}, "wide": {"n_nodes": 9},
                                         "adapted": {"activation": "relu", "optimizer": "adam", "lr": 0.01},
                                         "dropped": {"dropout": 0.3, "optimizer": "adam", "lr": 0.01, "seeds": 2},
                                         "normed": {"batch_norm": True, "seeds": 2}}})
    out = tmp_path / stacking
    return run_study(study, data=data, out_dir=out / "runs", cache_dir=out / "cache")["experiments"]


def test_experiments_stacked_on_one_shuffle_equal_one_by_one(data, tmp_path):
    """stacking "shared": plain, seeded (and its seeds 4, 5), slow and adapted (ReLU, Adam) train as one
    stacked model, dropped (dropout) and its seed 4 as another, normed and its seed 4 as a third, wide alone;
    the study seed's networks get one-by-one training's numbers."""
    shared = _experiments(data, tmp_path, "shared")
    alone = _experiments(data, tmp_path, "none")
    for name in ("plain", "seeded", "slow", "wide", "dropped", "normed", "adapted"):
        s, a = shared[name], alone[name]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(s["history"][key], a["history"][key], atol=1e-5, err_msg=f"{name} {key}")
        assert s["test"]["accuracy"] == pytest.approx(a["test"]["accuracy"], abs=1e-4), name
        assert s["init"] == a["init"] and s["updates_per_epoch"] == a["updates_per_epoch"]
    assert shared["plain"]["history"]["val_loss"] != shared["slow"]["history"]["val_loss"]  # lr and weights apply
    # one shape: other activations and optimisers (SGD, Adam) stack together; dropout apart
    assert shared["seeded"]["stacked"]["networks"] == 6
    assert shared["seeded"]["stacked"]["with"] == ["plain", "seeded seed 4", "seeded seed 5", "slow", "adapted"]
    assert shared["dropped"]["stacked"]["with"] == ["dropped seed 4"] and shared["wide"].get("stacked") is None
    assert alone["seeded"].get("stacked") is None
    # BatchNorm stacks too (the hand-derived stacked step has it): normed with its seed 4, on the shared shuffle
    assert shared["normed"]["stacked"]["with"] == ["normed seed 4"] and shared["normed"]["seed_shuffle"] == "shared"
    assert shared["normed"]["seed_runs"]["test_accuracy"][0] == pytest.approx(
        alone["normed"]["seed_runs"]["test_accuracy"][0], abs=1e-4)
    # the other seeds: other networks (other initial weights), on the study seed's shuffle
    runs, own = shared["seeded"]["seed_runs"], alone["seeded"]["seed_runs"]
    assert runs["seeds"] == own["seeds"] == [3, 4, 5]
    assert shared["seeded"]["seed_shuffle"] == "shared" and alone["seeded"]["seed_shuffle"] == "own"
    assert runs["test_accuracy"][0] == pytest.approx(own["test_accuracy"][0], abs=1e-4)
    assert len(set(runs["val_accuracy"])) == 3
    report = next((tmp_path / "shared" / "runs").rglob("report.md")).read_text()
    assert "shared shuffle" in report and "each seed with its own shuffle" not in report


def test_stacking_is_checked():
    with pytest.raises(ConfigError, match=r"\[study\] stacking must be one of shared, none"):
        parse_study({"study": {"stacking": "own"}, "experiments": {"a": {}}})


def test_seeds_must_be_positive():
    with pytest.raises(ConfigError, match=r"seeds must be at least 1"):
        parse_study({"experiments": {"a": {"seeds": 0}}})
    with pytest.raises(ConfigError, match=r"\[defaults\] seeds must be an integer"):
        parse_study({"defaults": {"seeds": "3"}, "experiments": {"a": {}}})


def test_evaluation_reuses_the_models_trained_on_the_study_split(data):
    """A temporal study: the evaluation part's baseline network and LightGBM on the temporal split are the
    experiments' and the tree part's (same split, settings, seed), taken from Context.models, not retrained."""
    from nidslab.study.context import Context, model_key
    from nidslab.study.parts import evaluation, tree_baseline
    from nidslab.study.prepared import open_prepared

    study = parse_study({"study": {"split": "temporal"}, "defaults": {"epochs": 1, "batch_size": 300},
                         "experiments": {"b": {"n_nodes": 8}},
                         "tree_baseline": {"n_estimators": 5, "max_rows": 0}})
    d = open_prepared(data, features="lab", fraction=1.0, seed=0, temporal=True, detail=lambda *a, **k: None)
    ctx = Context(study=study, data=d)
    settings = study.experiment("b").settings()
    net = ({"test": {"accuracy": 0.5}}, object())
    tree = tree_baseline.fit_trees(study.tree_baseline, d.train, d.test, keep=(kept := {}))
    ctx.models.update({model_key(settings): net, tree_baseline.kept_key(study.tree_baseline): kept["model"]})
    ctx.train_eval = lambda *a, **k: pytest.fail("retrained a network the study already trained")  # type: ignore
    m = evaluation._fit(evaluation._Model("baseline", "b", "network", settings), ctx, d.train, d.validation, d.test)
    assert m.fitted is net[1]
    t = evaluation._fit(evaluation._Model("tree", "LightGBM", "tree", dataclasses.asdict(study.tree_baseline)),
                        ctx, d.train, d.validation, d.test)
    assert t.fitted is kept["model"] and t.metrics == tree["test"]
    # another split's arrays (the random side) are trained afresh
    other = (d.train[0].copy(), d.train[1])
    with pytest.raises(pytest.fail.Exception, match="retrained"):
        evaluation._fit(evaluation._Model("baseline", "b", "network", settings), ctx, other, d.validation, d.test)
