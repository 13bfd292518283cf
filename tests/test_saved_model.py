"""nidslab.saved_model: a model folder round-trips and refuses foreign features."""

import json

import numpy as np
import pytest
import torch

from nidslab.errors import CacheError, DataError
from nidslab.evaluate import predict_scores
from nidslab.model import ModelSpec, build_model
from nidslab.saved_model import load_model, save_model
from nidslab.train import fit

NAMES = ["a", "b", "c", "d"]


def trained():
    torch.manual_seed(0)
    spec = ModelSpec(n_layers=2, n_nodes=8, batch_norm=True)
    m = build_model(spec, 4)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    y = (X[:, 1] > 0).astype(np.uint8)
    h = fit(m, (X, y), epochs=2, batch_size=50)
    return m, spec, h, X


def test_round_trip_gives_the_same_predictions(tmp_path):
    m, spec, h, X = trained()
    std = {"mean": [0.0] * 4, "scale": [1.0] * 4}
    out = save_model(tmp_path / "m", m, spec, standardizer=std, feature_names=NAMES,
                     metrics={"accuracy": np.float64(0.9)}, history=h)
    s = load_model(out, feature_names=NAMES)
    assert s.spec == spec and s.feature_names == NAMES and s.standardizer == std
    assert s.metrics == {"accuracy": 0.9} and s.history["loss"] == h.loss
    np.testing.assert_array_equal(predict_scores(s.model, X), predict_scores(m, X))


def test_saving_again_replaces_the_folder(tmp_path):
    m, spec, h, _ = trained()
    save_model(tmp_path / "m", m, spec, feature_names=NAMES, metrics={"v": 1})
    save_model(tmp_path / "m", m, spec, feature_names=NAMES, metrics={"v": 2})
    assert load_model(tmp_path / "m").metrics == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp or old folders left


def test_foreign_features_are_refused_naming_the_difference(tmp_path):
    m, spec, _, _ = trained()
    save_model(tmp_path / "m", m, spec, feature_names=NAMES)
    with pytest.raises(DataError, match="missing 1: d; unexpected 1: e"):
        load_model(tmp_path / "m", feature_names=["a", "b", "c", "e"])
    with pytest.raises(DataError, match="another order"):
        load_model(tmp_path / "m").check_features(["b", "a", "c", "d"])


def test_broken_folders_are_named(tmp_path):
    m, spec, _, _ = trained()
    save_model(tmp_path / "m", m, spec, feature_names=NAMES)
    (tmp_path / "m" / "history.json").unlink()
    with pytest.raises(CacheError, match="history.json is missing"):
        load_model(tmp_path / "m")
    save_model(tmp_path / "m", m, spec, feature_names=NAMES)
    spec_file = tmp_path / "m" / "spec.json"
    spec_file.write_text(json.dumps({**json.loads(spec_file.read_text()), "n_nodes": 9}))
    with pytest.raises(CacheError, match="does not fit spec.json"):
        load_model(tmp_path / "m")


def test_weights_file_is_never_unpickled(tmp_path):
    m, spec, _, _ = trained()
    save_model(tmp_path / "m", m, spec, feature_names=NAMES)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "m" / "weights.pt")
    with pytest.raises(CacheError, match="cannot be read"):
        load_model(tmp_path / "m")


def test_thresholds_are_saved_with_the_model_and_looked_up_by_rate(tmp_path):
    from nidslab.evaluate import predict_raw
    from nidslab.saved_model import thresholds_doc

    m, spec, h, X = trained()
    benign = predict_raw(m, X[X[:, 1] <= 0])  # the benign rows' logits stand in for a validation split
    doc = thresholds_doc(benign, split="temporal", targets=(0.01, 0.1))
    assert [p["target_fpr"] for p in doc["points"]] == [0.01, 0.1]
    assert all(p["validation_fpr"] <= p["target_fpr"] for p in doc["points"])
    out = save_model(tmp_path / "m", m, spec, feature_names=NAMES, thresholds=doc)
    s = load_model(out)
    t = s.threshold_for(0.1)
    assert t == doc["points"][1]["threshold"] and np.mean(benign >= t) <= 0.1
    with pytest.raises(DataError, match="no threshold for a false-positive rate of 0.001; stored: 0.01, 0.1"):
        s.threshold_for(0.001)
    plain = load_model(save_model(tmp_path / "old", m, spec, feature_names=NAMES))  # a folder without thresholds
    assert plain.thresholds is None
    with pytest.raises(DataError, match="trained before thresholds were saved"):
        plain.threshold_for(0.001)
