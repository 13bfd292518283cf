"""nidslab.explain: reasons per alert for a saved network (integrated gradients) and for KitNET."""

import json

import numpy as np
import pytest
import torch

from nidslab import schema
from nidslab.detect import KitNET
from nidslab.errors import DataError
from nidslab.explain import Reason, attributions, explain, explainer_for, reason_text
from nidslab.model import ModelSpec, build_model
from nidslab.saved_model import load_model, save_model
from nidslab.scorers import DNNScorer, KitNETScorer

DECIDER = "HH_L5_weight"  # the feature the built network looks at (one of the lab's 92)
KIT_DECIDER = "H_L5_weight"


def _raw_rows(n: int, seed: int) -> np.ndarray:
    """Raw 115-column rows on very different scales (packets, bytes, bytes², seconds), like real features."""
    rng = np.random.default_rng(seed)
    scale = np.geomspace(1e-2, 1e6, schema.N_FEATURES)
    return (scale * (1 + 0.2 * rng.standard_normal((n, schema.N_FEATURES)))).astype(np.float32)


@pytest.fixture()
def decided_model(tmp_path):
    """A ReLU network on the lab's 92 features whose logit rises steeply with HH_L5_weight alone; every
    other feature has a small weight. Saved with a standardiser far from identity (the raw scale)."""
    names = list(schema.LAB_FEATURES)
    benign = _raw_rows(500, 0)[:, schema.indices(names)]
    mean, scale = benign.mean(axis=0).astype(np.float64), benign.std(axis=0).astype(np.float64)
    m = build_model(ModelSpec(n_layers=1, n_nodes=4, activation="relu"), len(names), seed=0)
    j = names.index(DECIDER)
    with torch.no_grad():
        lin, out = m[0], m.output
        lin.weight.copy_(0.05 * torch.randn(lin.weight.shape, generator=torch.Generator().manual_seed(1)))
        lin.weight[0, j] = 3.0
        lin.bias.zero_()
        out.weight.zero_()
        out.weight[0, 0] = 2.0
        out.weight[0, 1:] = 0.1
        out.bias.fill_(-4.0)
    std = {"mean": mean.tolist(), "scale": scale.tolist()}
    return load_model(save_model(tmp_path / "m", m, standardizer=std, feature_names=names)), benign, mean, scale


def test_network_top_reason_is_the_deciding_feature_in_raw_units(decided_model):
    saved, benign, mean, scale = decided_model
    names = saved.feature_names
    j = names.index(DECIDER)
    X = _raw_rows(40, 1)
    X[:, schema.INDEX[DECIDER]] = mean[j] + scale[j] * np.linspace(3, 8, 40)  # alerts: far above the baseline
    # other features move too, many standard deviations and by large raw amounts: the network barely reads them
    X[:, schema.indices(names[:10])] *= 5
    logits = saved.predict_raw(X)
    assert (logits > 0).all()
    reasons = explain(saved, X, benign, top=3)
    assert len(reasons) == 40 and all(rs and rs[0].feature == DECIDER for rs in reasons)
    first = reasons[0][0]
    assert isinstance(first, Reason) and first.autoencoder is None
    # values in the raw space the user sees, against the benign rows' mean
    assert first.value == pytest.approx(float(X[0, schema.INDEX[DECIDER]]))
    assert first.baseline == pytest.approx(float(benign[:, j].mean()), rel=1e-6)
    assert first.ratio == pytest.approx(first.value / first.baseline)
    assert first.text.startswith("packets from this host to this destination in the last ~0.2 s (HH_L5_weight): ")
    assert "x its baseline" in first.text
    json.dumps([r.to_dict() for r in reasons[0]])  # serialisable as is
    # completeness: a row's attributions (logit units) sum to its logit minus the baseline's
    names_out, A = attributions(saved, X, benign, steps=64)
    assert names_out == names and A.shape == (40, len(names))
    base_logit = saved.predict_raw(benign.mean(axis=0, keepdims=True))[0]
    np.testing.assert_allclose(A.sum(axis=1), logits - base_logit, rtol=2e-2, atol=2e-2)
    # the same from the model's own 92 columns, a DNNScorer and the folder's path
    own = X[:, schema.indices(names)]
    for model, rows in ((saved, own), (DNNScorer(saved), X), (saved.path, X)):
        np.testing.assert_allclose(attributions(model, rows, benign.mean(axis=0), steps=64)[1], A, rtol=1e-5,
                                   atol=1e-6)


def test_network_reasons_follow_the_feature_that_moved(decided_model):
    """Not a fixed ranking: with the decider at its baseline, the reason is what moved instead."""
    saved, benign, mean, _ = decided_model
    X = np.repeat(mean[None, :], 5, axis=0).astype(np.float32)
    k = saved.feature_names.index("HH_L1_mean")
    X[:, k] = mean[k] * 50
    names, A = attributions(saved, X, benign)
    assert np.abs(A[:, k]).min() > 1e-4  # the only feature away from its baseline gets all of the attribution
    np.testing.assert_allclose(np.delete(A, k, axis=1), 0.0, atol=1e-6)  # (float32 rounding of the mean)
    expected = [["HH_L1_mean"]] * 5 if A[0, k] > 0 else [[]] * 5  # a reason only if it pushed towards an alert
    assert [[r.feature for r in rs] for rs in explain(saved, X, benign, top=3)] == expected


def test_explainer_for_returns_dicts_per_row(decided_model):
    saved, benign, mean, scale = decided_model
    fn = explainer_for(saved, benign, top=2)
    X = _raw_rows(3, 2)
    X[:, schema.INDEX[DECIDER]] = mean[saved.feature_names.index(DECIDER)] * 30
    out = fn(X)
    assert len(out) == 3 and all(len(r) <= 2 for r in out)
    assert out[0][0]["feature"] == DECIDER
    assert set(out[0][0]) == {"feature", "value", "baseline", "ratio", "attribution", "text", "autoencoder"}
    assert fn(X[:0]) == []
    with pytest.raises(DataError, match="7 columns"):
        fn(X[:, :7])


def test_bad_baselines_are_refused(decided_model):
    saved, benign, *_ = decided_model
    X = _raw_rows(2, 3)
    with pytest.raises(DataError, match="baseline"):
        explain(saved, X, benign[:0])
    bad = benign.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        explain(saved, X, bad)
    X[1, schema.INDEX["HH_L1_mean"]] = np.inf
    with pytest.raises(DataError, match="row 1, feature HH_L1_mean is inf"):
        explain(saved, X, benign)


def _benign_kitnet_rows(rows: int, seed: int) -> np.ndarray:
    """115 columns from a few correlated latent factors plus noise, on positive traffic-like scales."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 3))
    mix = np.random.default_rng(99).normal(size=(3, schema.N_FEATURES))
    return (10 + latent @ mix + 0.05 * rng.normal(size=(rows, schema.N_FEATURES))).astype(np.float32)


def test_kitnet_top_reason_is_the_feature_that_broke_its_pattern():
    kit = KitNET(max_ae=10, fm_grace=200, ad_grace=2000, seed=3)
    kit.fit(_benign_kitnet_rows(kit.grace_rows, 0))
    benign = _benign_kitnet_rows(500, 1)
    X = _benign_kitnet_rows(20, 2)
    k = schema.INDEX[KIT_DECIDER]
    X[:, k] = 40 * benign[:, k].mean()  # one feature far from the pattern it learned
    assert (kit.score(X) > np.quantile(kit.score(benign), 0.999)).all()
    reasons = explain(kit, X, benign, top=3)
    assert all(rs[0].feature == KIT_DECIDER for rs in reasons)
    r = reasons[0][0]
    assert r.autoencoder == int(np.flatnonzero([schema.INDEX[KIT_DECIDER] in c for c in kit.clusters])[0])
    assert r.ratio == pytest.approx(40, rel=1e-5) and "40x its baseline" in r.text
    # shares of the squared score: in [0, 1], summing to 1 per row; the scorer and its saved file agree
    names, A = attributions(kit, X, benign)
    assert names == list(schema.FEATURE_NAMES)
    assert (A >= 0).all() and np.allclose(A.sum(axis=1), 1.0)
    np.testing.assert_array_equal(attributions(KitNETScorer(kit), X, benign)[1], A)


def test_kitnet_errors_add_up_to_its_score():
    kit = KitNET(max_ae=5, fm_grace=100, ad_grace=900, seed=1)
    kit.fit(_benign_kitnet_rows(kit.grace_rows, 0))
    X = _benign_kitnet_rows(300, 4).astype(np.float64)
    X[-1, :5] += 1e3
    visible, output, rmse = kit.ensemble.errors(X)
    np.testing.assert_allclose(rmse, kit.score(X), rtol=1e-12)
    assert visible.shape == (300, schema.N_FEATURES) and output.shape == (300, len(kit.clusters))


def test_untrained_kitnet_is_refused():
    kit = KitNET(max_ae=5, fm_grace=10, ad_grace=10)
    with pytest.raises(DataError, match="grace rows"):
        explain(kit, np.zeros((1, 5)), np.zeros(5))


def test_reason_text_in_words():
    assert reason_text("H_L5_weight", 160.0, 4.0) == ("packets this host sent in the last ~0.2 s (H_L5_weight): "
                                                       "160, 40x its baseline (4)")
    assert reason_text("HH_L1_pcc", -0.5, 0.2).endswith("-0.5, against 0.2 at baseline")
    assert "bytes" in reason_text("MI_dir_L3_mean", 1400.0, 1400.0) and "about its baseline" in \
        reason_text("MI_dir_L3_mean", 1400.0, 1400.0)
    assert reason_text("HH_0.1_std_0", 9.0, 3.0, layout="kitsune-py").startswith("variance of the sizes")


def test_predict_explain_writes_reasons_for_flagged_rows_only(decided_model, tmp_path):
    import pyarrow.csv as pacsv
    from typer.testing import CliRunner

    from nidslab.cli import app

    saved, benign, mean, scale = decided_model
    X = _raw_rows(60, 5)
    j = saved.feature_names.index(DECIDER)
    X[:30, schema.INDEX[DECIDER]] = mean[j] + scale[j] * 6  # the first 30 rows alert
    X[30:, schema.INDEX[DECIDER]] = mean[j] - scale[j] * 3
    np.save(tmp_path / "x.npy", X)
    base = _raw_rows(200, 6)
    base[:, schema.INDEX[DECIDER]] = mean[j]
    np.save(tmp_path / "benign.npy", base)
    runner = CliRunner()
    for spec in ("unflagged", str(tmp_path / "benign.npy")):
        res = runner.invoke(app, ["predict", str(saved.path), str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.csv"),
                                  "--explain", "--baseline", spec])
        assert res.exit_code == 0, res.output
        t = pacsv.read_csv(tmp_path / "p.csv").to_pydict()
        labels, reasons = t["label"], [r or "" for r in t["reasons"]]
        assert labels == [1] * 30 + [0] * 30
        assert all(r == "" for r in reasons[30:])
        parsed = [json.loads(r) for r in reasons[:30]]
        assert all(p[0]["feature"] == DECIDER and len(p) <= 3 for p in parsed)
        assert "reasons for 30 flagged rows" in res.output
    res = runner.invoke(app, ["predict", str(saved.path), str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.csv"),
                              "--explain", "--baseline", "10m"])
    assert res.exit_code == 2 and "a duration needs packet times" in res.output


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "gelu"])
def test_integrated_gradients_equal_captums(tmp_path, activation):
    """explain's vectorised integrated gradients (the network's layers in NumPy with the backward pass written
    out; or, for a layer without a NumPy form here (gelu), one autograd forward and backward pass for all rows
    and steps) are Captum's IntegratedGradients with its own per-row gradients, the reference (rows do not
    interact in eval mode, batch norm included; MC dropout off), for any step count."""
    from captum.attr import IntegratedGradients

    from nidslab.explain import _numpy_plan
    from nidslab.model import MCDropout

    names = list(schema.LAB_FEATURES)
    m = build_model(ModelSpec(n_layers=2, n_nodes=6, batch_norm=True, dropout=0.3, mc_dropout=True,
                              activation=activation), len(names), seed=0)
    assert (_numpy_plan(m) is None) == (activation == "gelu")
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
    saved = load_model(save_model(tmp_path / "bn", m, standardizer=None, feature_names=names))
    X, benign = _raw_rows(50, 7)[:, :], _raw_rows(100, 8)
    X = np.log1p(X)  # keep a network with no standardiser in its working range
    benign = np.log1p(benign)
    Xk = X[:, schema.indices(names)]
    base = benign[:, schema.indices(names)].mean(axis=0)
    reference = saved.model
    reference.eval()
    for mod in reference.modules():
        if isinstance(mod, MCDropout):
            mod.p = 0.0
    refs = {}
    for steps in (1, 3, 8, 16):
        _, fast = attributions(saved, X, benign, steps=steps)
        ref = IntegratedGradients(reference).attribute(
            torch.tensor(Xk, dtype=torch.float32), torch.tensor(base, dtype=torch.float32)[None, :], n_steps=steps,
            method="gausslegendre").double().numpy()
        # float32 rounding: the sums run in another order (relu's kinks and the batch norm magnify it a little;
        # torch's thread count, left by earlier tests, moves a near-zero attribution by ~2e-8: atol 1e-4 of the largest)
        np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-4 * np.abs(ref).max())
        assert np.abs(ref).max() > 1e-3  # not a comparison of zeros
        refs[steps] = ref
    reference.train()  # MC dropout back on: attributions still take its expectation, deterministically
    for mod in reference.modules():
        if isinstance(mod, MCDropout):
            mod.p = 0.3
    _, fast = attributions(saved, X, benign, steps=8)
    _, again = attributions(saved, X, benign, steps=8)
    np.testing.assert_array_equal(fast, again)
    np.testing.assert_allclose(fast, refs[8], rtol=1e-5, atol=1e-5 * np.abs(refs[8]).max())
    assert reference.training and all(mod.p == 0.3 for mod in reference.modules() if isinstance(mod, MCDropout))


def test_a_row_explained_alone_gets_the_reasons_it_gets_in_a_batch(decided_model):
    """A watch explains a few rows per call (a per-row path), predict thousands (whole-array): the same reasons."""
    saved, benign, mean, scale = decided_model
    X = _raw_rows(12, 9)
    fn = explainer_for(saved, benign)
    together = fn(X)
    alone = [fn(X[i:i + 1])[0] for i in range(len(X))]
    assert any(together)

    def words(rs):
        return [[{k: v for k, v in r.items() if k != "attribution"} for r in row] for row in rs]

    assert words(alone) == words(together)
    for a, b in zip(alone, together):
        np.testing.assert_allclose([r["attribution"] for r in a], [r["attribution"] for r in b], rtol=1e-5)
