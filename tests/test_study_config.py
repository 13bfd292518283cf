"""The study file: the lab's own loads with the lab's settings; bad tables, keys and values are named."""

from __future__ import annotations

import pytest

from nidslab.errors import ConfigError
from nidslab.schema import LAB_FEATURES
from nidslab.study.config import default_study_path
from nidslab.study.study_file import load_study


def test_the_lab_study_has_the_lab_settings():
    s = load_study()
    assert s.source == str(default_study_path())
    names = [e.name for e in s.experiments]
    # the lab's 9, 4 that measure what Questions 5, 12 and 14 ask (issue 16), and Question 12's learning rate x
    # batch size grid (issue 22: 2 batch sizes x 3 learning rates, 5 epochs each)
    assert len(names) == 19
    grid = {(e.fit.batch_size, e.fit.lr) for e in s.experiments if e.name.startswith("grid_")}
    assert grid == {(b, lr) for b in (1_000, 10_000) for lr in (0.01, 0.1, 1.0)}
    base = s.experiment("sigmoid_2x20")
    assert (base.spec.n_layers, base.spec.n_nodes, base.spec.activation, base.fit.optimizer) == (2, 20, "sigmoid", "sgd")
    assert (base.fit.lr, base.fit.batch_size, base.fit.epochs, base.fit.class_weight) == (0.1, 10_000, 20, None)
    assert s.experiment("balanced_2x20").fit.class_weight == "balanced"
    assert s.experiment("bigger_4x50").spec.n_layers == 4 and s.experiment("bigger_4x50").spec.n_nodes == 50
    assert s.experiment("batchnorm_2x20").spec.batch_norm
    assert s.experiment("relu_2x20").spec.activation == "relu"
    assert s.experiment("adam_2x20").fit.optimizer == "adam"
    assert s.experiment("dropout_2x20").spec.dropout == 0.5
    # results.json's settings keep their keys
    assert list(base.settings()) == ["n_layers", "n_nodes", "activation", "batch_norm", "dropout", "optimizer", "lr",
                                     "batch_size", "epochs", "class_weight"]
    g = s.regression
    assert (g.spec.head, g.spec.activation, g.fit.optimizer, g.fit.lr) == ("regression", "relu", "adam", 0.01)
    assert set(g.settings()) == {"n_layers", "n_nodes", "activation", "optimizer", "lr", "batch_size", "epochs"}
    assert s.batch_size_timing.batch_sizes == (100, 1_000, 10_000)
    assert s.mc_dropout.passes == 100
    assert (s.cross_validation.folds, s.cross_validation.seed) == (10, 1234)
    assert s.search.trials >= 20
    assert s.regression.target in LAB_FEATURES
    assert s.split == "random" and s.evaluation.target_fprs[0] == 1e-3 and s.evaluation.experiment == "balanced_2x20"


def test_quick_version_shrinks_every_count():
    s = load_study()
    q = s.quick_version()
    assert q.is_quick and q.fraction < s.fraction
    assert all(e.fit.epochs <= s.quick.epochs for e in q.experiments)
    assert q.regression.fit.epochs <= s.quick.epochs
    assert q.mc_dropout.passes < s.mc_dropout.passes and q.cross_validation.folds < s.cross_validation.folds
    assert q.search.trials < s.search.trials and q.batch_size_timing.max_rows > 0
    assert q.evaluation.sim_packets == s.quick.eval_sim_packets < s.evaluation.sim_packets
    assert q.quick_version() is q


def _write(tmp_path, text):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


MINIMAL = """
[study]
title = "mine"
[experiments.a]
n_layers = 3
"""


def test_a_minimal_study_takes_defaults_and_runs_only_what_it_names(tmp_path):
    s = load_study(_write(tmp_path, MINIMAL))
    assert s.title == "mine" and s.experiments[0].spec.n_layers == 3 and s.experiments[0].spec.n_nodes == 20
    assert s.search is None and s.mc_dropout is None and s.tree_baseline is None


def test_split_is_random_or_temporal_and_stratified_is_an_alias_of_random(tmp_path):
    assert load_study(_write(tmp_path, '[study]\nsplit = "stratified"\n[experiments.a]\n')).split == "random"
    assert load_study(_write(tmp_path, '[study]\nsplit = "temporal"\n[experiments.a]\n')).split == "temporal"
    with pytest.raises(ConfigError, match=r"\[study\] split must be one of \('random', 'temporal'\)"):
        load_study(_write(tmp_path, '[study]\nsplit = "shuffled"\n[experiments.a]\n'))


def test_evaluation_table_is_checked(tmp_path):
    ok = load_study(_write(tmp_path, '[experiments.a]\n[evaluation]\nexperiment = "a"\nsim_packets = 5000\n'))
    assert ok.evaluation.sim_packets == 5000 and ok.evaluation.sim_flood_type == "syn"
    with pytest.raises(ConfigError, match=r"\[evaluation\] experiment must name an experiment \(a\)"):
        load_study(_write(tmp_path, '[experiments.a]\n[evaluation]\n'))
    with pytest.raises(ConfigError, match=r"\[evaluation\] target_fprs must lie in \(0, 1\)"):
        load_study(_write(tmp_path, '[experiments.a]\n[evaluation]\nexperiment = "a"\ntarget_fprs = [0.5, 2]\n'))


def test_defaults_table_applies_to_every_experiment(tmp_path):
    s = load_study(_write(tmp_path, "[defaults]\nepochs = 7\n[experiments.a]\n[experiments.b]\nepochs = 2\n"))
    assert [e.fit.epochs for e in s.experiments] == [7, 2]


@pytest.mark.parametrize(
    "text, names",
    [
        ("[studdy]\ntitle = 'x'\n", ["[studdy]", "unknown table"]),
        ("[experiments.a]\nnodes = 20\n", ["[experiments.a]", "'nodes'", "n_nodes"]),
        ("[experiments.a]\nn_layers = 'two'\n", ["[experiments.a] n_layers", "an integer", "'two'"]),
        ("[experiments.a]\nn_layers = 0\n", ["[experiments.a] n_layers", "at least 1"]),
        ("[experiments.a]\nactivation = 'softmax'\n", ["[experiments.a] activation", "softmax"]),
        ("[experiments.a]\ndropout = 1.5\n", ["[experiments.a] dropout", "[0, 1)"]),
        ("[experiments.a]\nbatch_norm = 1\n", ["[experiments.a] batch_norm", "true or false"]),
        ("[experiments.a]\nclass_weight = 'auto'\n", ["[experiments.a] class_weight"]),
        ("[defaults]\noptimizer = 'lbfgs'\n", ["[defaults] optimizer", "lbfgs"]),
        ("[regression]\nlr = 0\n", ["[regression] lr", "positive"]),
        ("[regression]\nbatch_norm = true\n", ["[regression]", "'batch_norm'"]),
        ("[search]\nclass_weight = 'auto'\n", ["[search] class_weight"]),
        ("[study]\nfraction = 0\n", ["[study] fraction", "(0, 1]"]),
        ("[experiments.a]\n[cross_validation]\nexperiment = 'b'\n", ["[cross_validation] experiment", "'b'"]),
        ("[experiments.a]\n[mc_dropout]\nexperiment = 'best'\n", ["[mc_dropout] experiment", "'best'"]),
        ("[search]\nlr = [0.1]\n", ["[search] lr", "[low, high]"]),
        ("[search]\noptimizer = ['sgd', 'lbfgs']\n", ["[search] optimizer"]),
        ("[regression]\ntarget = 'HH_L0.1_size'\n", ["[regression] target", "Kitsune feature"]),
        ("[batch_size_timing]\nexperiment = 'a'\n[experiments.a]\n[quick]\nfolds = 1\n", ["[quick]", "folds"]),
        ("[tree_baseline]\nspeed = 3\n", ["[tree_baseline]", "'speed'"]),
        ("experiments = 3\n", ["[experiments] must be a table"]),
    ],
)
def test_bad_study_files_name_the_table_and_key(tmp_path, text, names):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    message = str(err.value)
    assert str(path) in message
    for name in names:
        assert name in message, message


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_study(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_study(_write(tmp_path, "[study\n"))
