"""nidslab.settings: ModelSpec and FitConfig are checked once, round-trip through dicts, and are fit's only defaults."""

import dataclasses
import inspect

import numpy as np
import pytest
import torch

from nidslab.errors import ConfigError
from nidslab.model import build_model
from nidslab.settings import FitConfig, ModelSpec
from nidslab.train import fit


def test_fit_config_round_trips_and_names_unknown_keys():
    cfg = FitConfig(optimizer="adam", lr=0.01, class_weight={0: 2, 1: 0.5}, early_stopping=3, threads=2)
    assert FitConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown fit config key.*learning_rate"):
        FitConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="unknown fit config key.*momentum"):
        cfg.replace(momentum=0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.5


@pytest.mark.parametrize("given, canonical", [
    (None, None), ("none", None), ("balanced", "balanced"),
    ({0: 3, 1: 0.5}, {0: 3.0, 1: 0.5}), ({"1": 0.5, "0": 3}, {0: 3.0, 1: 0.5}),  # JSON/TOML keys are strings
])
def test_class_weight_has_one_canonical_form(given, canonical):
    cw = FitConfig(class_weight=given).class_weight
    assert cw == canonical and type(cw) is type(canonical)
    # the canonical form is a fixed point, so a config read back from JSON is the same config
    assert FitConfig(class_weight=cw).class_weight == cw


@pytest.mark.parametrize("bad", ["auto", {0: 1.0}, {0: 1.0, 1: 2.0, 2: 3.0}, {0: -1.0, 1: 1.0}, 3])
def test_a_bad_class_weight_is_refused_by_name(bad):
    with pytest.raises(ConfigError, match="class_weight"):
        FitConfig(class_weight=bad)


def test_class_weights_resolve_to_numbers():
    y = np.array([0] * 10 + [1] * 30, dtype=np.uint8)
    assert FitConfig().class_weights(y) is None
    assert FitConfig(class_weight="balanced").class_weights(y) == pytest.approx({0: 2.0, 1: 40 / 60})
    assert FitConfig(class_weight={0: 1, 1: 4}).class_weights(y) == {0: 1.0, 1: 4.0}


@pytest.mark.parametrize("kwargs, name", [
    ({"optimizer": "lbfgs"}, "optimizer"), ({"lr": -1}, "lr"), ({"batch_size": 0}, "batch_size"),
    ({"epochs": -1}, "epochs"), ({"epochs": 2.5}, "epochs"), ({"seed": "x"}, "seed"), ({"threads": 0}, "threads"),
    ({"step": "magic"}, "step"), ({"early_stopping": 0}, "early_stopping"),
    ({"early_stopping": {"patience": 2, "delta": 1}}, "early_stopping"),
])
def test_bad_fit_settings_name_the_setting(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        FitConfig(**kwargs)


def test_spec_settings_are_checked_and_normalised():
    assert ModelSpec(dropout=0).dropout == 0.0 and isinstance(ModelSpec(dropout=0).dropout, float)
    with pytest.raises(ConfigError, match="batch_norm must be true or false"):
        ModelSpec(batch_norm=1)
    with pytest.raises(ConfigError, match="unknown model spec key.*lr"):
        ModelSpec().replace(lr=0.1)


def test_fit_takes_its_defaults_from_fit_config_only():
    params = inspect.signature(fit).parameters
    assert params["config"].default == FitConfig()
    # every training setting comes through the config; fit's own keywords are about this call only
    assert not {f.name for f in dataclasses.fields(FitConfig)} & set(params)


def test_fit_with_a_config_equals_fit_with_keyword_overrides():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    cfg = FitConfig(optimizer="adam", lr=0.01, batch_size=64, epochs=2, class_weight="balanced", seed=3)
    a, b = build_model(ModelSpec(), 4, seed=1), build_model(ModelSpec(), 4, seed=1)
    ha = fit(a, (X, y), None, cfg)
    hb = fit(b, (X, y), optimizer="adam", lr=0.01, batch_size=64, epochs=2, class_weight="balanced", seed=3)
    assert ha.loss == hb.loss
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_build_model_seeds_its_own_draw_without_touching_the_global_generator():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_model(ModelSpec(), 5, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(7)
    b = build_model(ModelSpec(), 5)  # the same numbers as seeding the global generator first
    c = build_model(ModelSpec(), 5, seed=8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)
