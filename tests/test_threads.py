"""The training loops run on FitConfig.threads torch threads and give the count back after (nidslab.threads)."""

import numpy as np
import pytest
import torch

from nidslab.model import build_model
from nidslab.settings import FitConfig, ModelSpec
from nidslab.stacked import fit_shared, fit_stacked
from nidslab.threads import torch_threads
from nidslab.train import fit


def _data(n=120, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.float32)


@pytest.fixture
def two_threads():
    with torch_threads(2):  # a known starting count, different from the 1 the fits ask for
        yield


def test_fit_runs_on_its_threads_and_restores_them(two_threads):
    X, y = _data()
    seen = []
    fit(build_model(ModelSpec(), 5, seed=0), (X, y), None, FitConfig(epochs=2, batch_size=40, threads=1),
        callback=lambda epoch, logs: seen.append(torch.get_num_threads()))
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2


def test_fit_restores_threads_after_an_error(two_threads):
    X, y = _data()

    def fail(epoch, logs):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        fit(build_model(ModelSpec(), 5, seed=0), (X, y), None, FitConfig(epochs=2, batch_size=40, threads=1),
            callback=fail)
    assert torch.get_num_threads() == 2


def test_stacked_fits_run_on_their_threads_and_restore_them(two_threads):
    X, y = _data()
    seen = []
    cfg = FitConfig(epochs=2, batch_size=40, threads=1)
    fit_stacked([build_model(ModelSpec(), 5, seed=i) for i in range(2)], [(X, y), (X, y)], config=cfg,
                callback=lambda epoch, hs: seen.append(torch.get_num_threads()))
    members = np.stack([np.arange(len(y)) % 2 == i for i in range(2)])
    fit_shared([build_model(ModelSpec(), 5, seed=i) for i in range(2)], X, y, members, cfg,
               callback=lambda epoch, hs: seen.append(torch.get_num_threads()))
    assert seen == [1, 1, 1, 1]
    assert torch.get_num_threads() == 2
