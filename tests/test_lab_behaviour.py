"""Behaviour the lab shows on the default dataset (issue 3): needs nidslab.data."""

import numpy as np
import pytest
import torch

from nidslab.evaluate import evaluate
from nidslab.model import ModelSpec, build_model
from nidslab.train import fit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab_split():
    try:
        from nidslab.data import open_dataset
        from nidslab.data.prep import prepare
    except ImportError as exc:
        pytest.skip(f"nidslab.data (open_dataset, prepare) is not available yet: {exc}")
    try:
        dataset = open_dataset()
    except ImportError as exc:  # the default dataset is simulated: needs nidslab.simulate
        pytest.skip(f"the default dataset cannot be built here yet: {exc}")
    return prepare(dataset, features="lab", seed=0)


def train_2x20(p, class_weight):
    torch.manual_seed(0)
    m = build_model(ModelSpec(n_layers=2, n_nodes=20, activation="sigmoid"), p.X_train.shape[1])
    fit(m, (p.X_train, p.y_train), validation=(p.X_val, p.y_val), optimizer="sgd", lr=0.1, batch_size=10_000,
        epochs=20, class_weight=class_weight, seed=0)
    return evaluate(m, p.X_test, p.y_test)


def test_without_class_weights_2x20_sgd_ends_at_the_majority_class_accuracy(lab_split):
    r = train_2x20(lab_split, None)
    majority = np.bincount(lab_split.y_test, minlength=2).max() / len(lab_split.y_test)
    assert r["accuracy"] == pytest.approx(majority)
    assert r["balanced_accuracy"] == pytest.approx(0.5)


def test_with_balanced_class_weights_its_balanced_accuracy_rises_above_one_half(lab_split):
    r = train_2x20(lab_split, "balanced")
    assert r["balanced_accuracy"] > 0.6
