"""Reasons in `nidslab watch` (nidslab.watch.LiveReasons, UnflaggedMean): the running baseline, the scorer
read at each call, a KitNET explained only once trained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nidslab import schema
from nidslab.data.prep import Standardizer
from nidslab.detect import KitNET
from nidslab.features import extract_features
from nidslab.model import ModelSpec, build_model
from nidslab.saved_model import load_model, save_model
from nidslab.scorers import DNNScorer, KitNETScorer
from nidslab.simulate import simulate_capture
from nidslab.watch import LiveReasons, UnflaggedMean, Watcher


def test_the_unflagged_mean_is_exact_on_small_chunks_and_a_systematic_sample_of_large_ones():
    rng = np.random.default_rng(1)
    chunks = [(rng.normal(size=(n, 5)).astype(np.float32) * 100 + 7, rng.random(n) < 0.8) for n in (7, 300, 1, 64)]
    m = UnflaggedMean(rows_per_chunk=300)
    assert m.mean() is None
    for X, keep in chunks:
        m.add(X, keep)
    everything = np.concatenate([X[k] for X, k in chunks])
    assert len(m) == m.seen == len(everything)
    np.testing.assert_allclose(m.mean(), everything.mean(axis=0, dtype=np.float64), rtol=1e-6)
    m.add(np.ones((5, 5), np.float32), np.zeros(5, bool))  # nothing unflagged: no change
    np.testing.assert_allclose(m.mean(), everything.mean(axis=0, dtype=np.float64), rtol=1e-6)
    # a backlog of 3,000 rows: every 10th row, each standing for 10
    X, keep = rng.normal(size=(3_000, 5)).astype(np.float32) + 3, rng.random(3_000) < 0.5
    big = UnflaggedMean(rows_per_chunk=300)
    big.add(X, keep)
    assert big.seen == keep.sum() and len(big) == keep[::10].sum()
    np.testing.assert_allclose(big.mean(), X[::10][keep[::10]].mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(big.mean(), X[keep].mean(axis=0), atol=0.2)  # sd 1 over ~150 rows: ~0.08
    # weights across chunks: the 10-row strata and a small chunk's single rows add up as rows
    big.add(np.full((2, 5), 100, np.float32), np.ones(2, bool))
    w = keep[::10].sum() * 10
    np.testing.assert_allclose(big.mean(), (X[::10][keep[::10]].sum(axis=0, dtype=np.float64) * 10 + 200) / (w + 2),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="rows_per_chunk"):
        UnflaggedMean(rows_per_chunk=0)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("reasons")
    cap = d / "capture.pcap"
    simulate_capture(cap, packets=4_000, seed=3)
    X = extract_features(cap)
    cols = schema.indices(schema.LAB_FEATURES)
    torch.manual_seed(0)
    spec = ModelSpec(n_layers=1, n_nodes=8)
    save_model(d / "model", build_model(spec, len(cols)), spec, standardizer=Standardizer().fit(X[:, cols]),
               feature_names=schema.LAB_FEATURES)
    return {"capture": cap, "X": X, "model": d / "model"}


def test_reasons_wait_for_a_trained_kitnet_and_follow_the_scorer_it_is_swapped_for(lab):
    X = lab["X"]
    kit = KitNET(max_ae=5, fm_grace=200, ad_grace=800)
    w = Watcher(lab["capture"], KitNETScorer(kit), threshold=1.0, hosts=True, keep_features=True)
    why = LiveReasons(w, baseline=X[:500])
    assert why(X[:2]) == [[], []]  # in its grace periods: no reasons, and no error
    kit.process(X[:1_001].astype(np.float64))  # fm_grace + ad_grace + 1 rows
    assert kit.trained
    got = why(X[2_000:2_002])
    assert all(r and all(isinstance(x["autoencoder"], int) for x in r) for r in got)
    assert why.rows == 2  # only the explained rows count
    w.scorer = DNNScorer(load_model(lab["model"]))  # as --calibrate does mid-watch
    got = why(X[2_000:2_002])
    lab_features = set(schema.LAB_FEATURES)
    assert all(x["autoencoder"] is None and x["feature"] in lab_features for r in got for x in r)
    assert any(got) and w.stats.seconds_in["reasons"] > 0


def test_the_default_baseline_is_the_running_mean_of_the_unflagged_packets(lab):
    saved = load_model(lab["model"])
    scorer = DNNScorer(saved)
    scores = scorer.score(lab["X"])
    thr = float(np.quantile(scores, 0.95))
    w = Watcher(lab["capture"], scorer, threshold=thr, hosts=True, keep_features=True, chunk=700)
    why = LiveReasons(w)
    assert why.kind == "unflagged"
    for chunk in w:
        why.observe(chunk)
    unflagged = lab["X"][scores < thr]
    np.testing.assert_allclose(why.unflagged.mean(), unflagged.mean(axis=0, dtype=np.float64), rtol=1e-5)  # float32 sums
    reasons = why(lab["X"][np.argmax(scores)][None, :])[0]
    assert reasons
    for r in reasons:  # each reason's baseline is that mean's value for its feature
        assert r["baseline"] == pytest.approx(float(unflagged[:, schema.FEATURE_NAMES.index(r["feature"])].mean()),
                                              rel=1e-6)


def test_bad_baselines_are_refused_before_reading(lab, tmp_path):
    from typer.testing import CliRunner

    from nidslab.cli import app

    def run(*extra):
        res = CliRunner().invoke(app, ["watch", str(lab["model"]), str(lab["capture"]), "--no-follow", "--quiet",
                                       "-o", str(tmp_path / "out.jsonl"), *map(str, extra)])
        return res.exit_code, " ".join(res.output.split())

    code, text = run("--baseline", tmp_path / "missing.pcap")
    assert code == 2 and "missing.pcap" in text and "no such file" in text
    code, text = run("--baseline", "calibration")
    assert code == 2 and "--calibrate" in text
    code, text = run("--baseline", "unflagged", "--emit", "packets")
    assert code == 2 and "--emit incidents" in text
    np.save(tmp_path / "narrow.npy", lab["X"][:50, :7])
    code, text = run("--baseline", tmp_path / "narrow.npy")
    assert code == 2 and "7 columns" in text
    assert not (tmp_path / "out.jsonl").exists()
