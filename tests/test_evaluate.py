"""nidslab.evaluate: scores and metrics against scikit-learn on known outputs."""

import numpy as np
import pytest
import torch
from sklearn import metrics

from nidslab.evaluate import evaluate, expected_calibration_error, predict_scores
from nidslab.model import ModelSpec, build_model


def model_and_data(n=1000, seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelSpec(n_layers=1, n_nodes=8, batch_norm=True, dropout=0.5), 4)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    return m, X, y


def test_scores_are_probabilities_independent_of_batch_size_and_mode():
    m, X, _ = model_and_data()
    m.train()
    a = predict_scores(m, X, batch_size=7)
    b = predict_scores(m, X, batch_size=100_000)
    assert a.dtype == np.float32 and a.shape == (len(X),)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert ((a > 0) & (a < 1)).all()
    assert m.training  # the caller's mode is restored


def test_binary_metrics_agree_with_sklearn():
    m, X, y = model_and_data()
    r = evaluate(m, X, y, threshold=0.4, batch_size=64)
    p = predict_scores(m, X).astype(np.float64)
    pred = (p >= 0.4).astype(int)
    assert r["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert r["balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, pred))
    assert r["f1"] == pytest.approx(metrics.f1_score(y, pred))
    assert r["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, p), rel=1e-6)
    assert r["brier"] == pytest.approx(np.mean((p - y) ** 2), rel=1e-5)
    assert r["precision"] == pytest.approx(metrics.precision_score(y, pred))
    assert r["recall"] == pytest.approx(metrics.recall_score(y, pred))
    assert r["pr_auc"] == pytest.approx(metrics.average_precision_score(y, p), rel=1e-6)
    assert r["log_loss"] == pytest.approx(metrics.log_loss(y, p), rel=1e-5)
    assert r["brier"] == pytest.approx(metrics.brier_score_loss(y, p), rel=1e-5)
    assert r["loss"] == pytest.approx(r["log_loss"], rel=1e-4)
    assert r["ece"] == pytest.approx(expected_calibration_error(y, p), rel=1e-5)
    assert 0 < r["balanced_accuracy"] < 1 and 0 < r["precision"] < 1 and 0 < r["recall"] < 1  # not degenerate
    (tn, fp), (fn, tp) = r["confusion_matrix"]
    assert (tn + fp, fn + tp) == (int((y == 0).sum()), int((y == 1).sum()))
    assert tp == int(((pred == 1) & (y == 1)).sum())


def test_one_class_leaves_undefined_metrics_empty():
    m, X, _ = model_and_data()
    r = evaluate(m, X, np.zeros(len(X), dtype=np.uint8))
    assert r["roc_auc"] is None and r["balanced_accuracy"] is None and r["accuracy"] >= 0


def test_ece_by_hand_on_two_bins():
    # 15 bins of width 1/15: p 0.05 falls in bin 0, p 0.95 in bin 14.
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.05, 0.05, 0.95, 0.95, 0.95])
    # bin 0: |1/3 - 0.05| over 3 rows; bin 14: |2/3 - 0.95| over 3 rows; weighted by 3/6 each.
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * abs(1 / 3 - 0.05) + 0.5 * abs(2 / 3 - 0.95))


def test_ece_of_a_calibrated_and_a_confident_wrong_predictor():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(p.size) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(np.zeros(10), np.full(10, 0.99)) == pytest.approx(0.99)


def test_regression_metrics():
    torch.manual_seed(0)
    m = build_model(ModelSpec(n_layers=1, head="regression"), 3)
    X = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
    t = X[:, 0].astype(np.float32)
    r = evaluate(m, X, t)
    pred = predict_scores(m, X).astype(np.float64)
    assert r["mae"] == pytest.approx(np.abs(pred - t).mean(), rel=1e-5)
    assert r["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(t, pred)), rel=1e-5)
    assert r["rmse"] == pytest.approx(np.sqrt(r["loss"]))
    assert r["r2"] == pytest.approx(metrics.r2_score(t, pred), rel=1e-5)


def test_wrong_width_is_refused():
    m, X, y = model_and_data()
    with pytest.raises(ValueError, match="5 columns; the model takes 4"):
        evaluate(m, np.zeros((3, 5), np.float32), y[:3])


# ----------------------------------------------------------------------------- operating points


def test_threshold_for_fpr_on_a_known_distribution_gives_an_fpr_within_the_interval():
    from scipy.stats import norm

    from nidslab.evaluate import rates_at, threshold_for_fpr

    rng = np.random.default_rng(0)
    val_benign = rng.standard_normal(200_000)  # validation benign scores ~ N(0, 1)
    for f in (1e-2, 1e-3, 1e-4):
        t = threshold_for_fpr(val_benign, f)
        assert np.mean(val_benign >= t) <= f  # never above the budget on the rows it was chosen from
        true_fpr = norm.sf(t)  # the known distribution's rate at the chosen threshold
        assert abs(true_fpr - f) < 4 * np.sqrt(f / len(val_benign))
        # fresh test rows from the same distributions: the Wilson intervals hold the true rates
        y = np.r_[np.zeros(400_000), np.ones(10_000)].astype(np.uint8)
        s = np.r_[rng.standard_normal(400_000), rng.standard_normal(10_000) + 4.0]
        r = rates_at(y, s, t)
        assert r["fpr_ci"][0] <= true_fpr <= r["fpr_ci"][1]
        assert r["tpr_ci"][0] <= norm.sf(t - 4.0) <= r["tpr_ci"][1]


def test_threshold_for_fpr_with_ties_and_too_few_rows():
    from nidslab.evaluate import operating_points, threshold_for_fpr

    s = np.array([0.0] * 990 + [1.0] * 10)  # ten tied top scores
    assert np.mean(s >= threshold_for_fpr(s, 0.01)) == pytest.approx(0.01)
    assert np.mean(s >= threshold_for_fpr(s, 0.005)) == 0.0  # 5 of 10 tied rows cannot be flagged alone
    pts = operating_points(s, np.array([0, 1]), np.array([0.0, 2.0]), targets=(1e-2, 1e-4))
    assert [p["resolvable"] for p in pts] == [True, False]
    assert pts[1]["threshold"] > 1.0 and pts[1]["tpr"] == 1.0 and pts[1]["fpr"] == 0.0
    with pytest.raises(ValueError, match="target_fpr"):
        threshold_for_fpr(s, 1.5)


def test_wilson_interval_known_values():
    from nidslab.evaluate import wilson_interval

    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and hi == pytest.approx(0.03699, abs=1e-4)
    assert wilson_interval(100, 100)[1] == 1.0
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)


def test_roc_points_are_thinned_but_keep_the_ends_and_the_auc():
    from nidslab.evaluate import roc_points

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 20_000)
    s = rng.standard_normal(20_000) + y
    roc = roc_points(y, s, max_points=50)
    assert len(roc["fpr"]) <= 50 and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert np.all(np.diff(roc["fpr"]) >= 0)
    assert roc["auc"] == pytest.approx(metrics.roc_auc_score(y, s))
    assert roc_points(np.zeros(5), s[:5]) is None
    # a detector that separates most positives at FPR 0 keeps that point after thinning
    y2 = np.r_[np.zeros(5_000), np.ones(5_000)]
    s2 = np.r_[rng.standard_normal(5_000), np.where(np.arange(5_000) < 4_000, 10.0, rng.standard_normal(5_000))]
    s2[5_000:9_000] += np.linspace(0, 1, 4_000)  # distinct scores, so the curve has many points at FPR 0
    thin = roc_points(y2, s2, max_points=20)
    assert max(t for f, t in zip(thin["fpr"], thin["tpr"]) if f == 0) == pytest.approx(0.8)


def test_threshold_of_float32_scores_holds_in_float32_and_float64():
    from nidslab.evaluate import threshold_for_fpr

    s = np.random.default_rng(2).standard_normal(1_000).astype(np.float32)
    t = threshold_for_fpr(s, 0.01)
    assert np.sum(s >= t) == 10 and np.sum(s.astype(np.float64) >= t) == 10


@pytest.mark.parametrize("case", ["mixed", "nothing_flagged", "everything_flagged", "one_class", "ties"])
def test_binary_metrics_by_hand_equal_sklearns(case):
    """The confusion-matrix metrics, log loss and Brier score nidslab computes itself equal scikit-learn's
    (zero_division=0), also where a class or a prediction is missing."""
    from nidslab.evaluate import binary_metrics

    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.3).astype(np.int64)
    z = rng.normal(0, 2, 500) + 2 * y
    if case == "nothing_flagged":
        z = -np.abs(z) - 1
    elif case == "everything_flagged":
        z = np.abs(z) + 1
    elif case == "one_class":
        y = np.zeros_like(y)
    elif case == "ties":
        z = np.round(z)
    r = binary_metrics(y, z, threshold=0.5)
    p = 1 / (1 + np.exp(-z))
    pred = (p >= 0.5).astype(int)
    assert r["confusion_matrix"] == metrics.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    assert r["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    for name, fn in (("precision", metrics.precision_score), ("recall", metrics.recall_score), ("f1", metrics.f1_score)):
        assert r[name] == pytest.approx(fn(y, pred, zero_division=0)), name
    assert r["log_loss"] == pytest.approx(metrics.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]), rel=1e-9)
    assert r["brier"] == pytest.approx(metrics.brier_score_loss(y, p, pos_label=1), rel=1e-9)
    if case == "one_class":
        assert r["balanced_accuracy"] is None and r["roc_auc"] is None
    else:
        assert r["balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, pred))
