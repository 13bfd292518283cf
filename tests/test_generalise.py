"""nidslab.generalise on small networks the tests make: views, per-site standardisation, measures, levels."""

from __future__ import annotations

import numpy as np
import pytest

from nidslab.errors import ConfigError, DataError
from nidslab.generalise import views
from nidslab.generalise.measure import (
    NetworkMeasures,
    incident_table,
    measure_network,
    verdict,
)
from nidslab.generalise.models import (
    Recipe,
    TrainSettings,
    calibration_windows,
    level_threshold,
    train,
)
from nidslab.generalise.networks import Network
from nidslab.schema import FEATURE_NAMES


def _slog(x):
    return np.sign(x) * np.log1p(np.abs(x))


def test_relative_view_is_each_stream_against_its_own_slowest_lambda():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 500, (7, 115)).astype(np.float32)
    V = views.transform(X, "relative")
    names = views.view_names("relative")
    assert V.shape == (7, len(names))
    i = FEATURE_NAMES.index
    got = V[:, names.index("HpHp_mean L5-L0.01")]
    want = _slog(X[:, i("HpHp_L5_mean")].astype(np.float64)) - _slog(X[:, i("HpHp_L0.01_mean")].astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_array_equal(V[:, names.index("HH_L1_pcc")], X[:, i("HH_L1_pcc")])
    # no absolute size survives: a stream whose every lambda doubles in size (x -> 2x + 1, so log1p moves
    # by log 2 at every lambda) gives the same relative row
    sizes = [k for k, n in enumerate(FEATURE_NAMES) if n.endswith(("_mean", "_std", "_variance", "_magnitude",
                                                                      "_radius"))]
    X2 = X.copy()
    X2[:, sizes] = 2 * X[:, sizes] + 1
    np.testing.assert_allclose(views.transform(X2, "relative"), V, atol=1e-4)
    assert not np.allclose(views.transform(X2, "log"), views.transform(X, "log"))


def test_views_check_their_input():
    with pytest.raises(DataError, match="115"):
        views.transform(np.zeros((3, 92), np.float32), "log")
    with pytest.raises(ConfigError, match="feature view"):
        views.transform(np.zeros((3, 115), np.float32), "absolute")
    assert views.transform(np.zeros((3, 115), np.float32), "lab").shape == (3, 92)


def test_site_scaler_maps_shifted_sites_onto_each_other():
    rng = np.random.default_rng(1)
    A = rng.normal(0, 1, (500, 4)) * [1, 2, 3, 4] + [10, 0, -5, 100]
    B = A * [3, 0.5, 1, 2] + [-7, 40, 2, 1e4]  # the same traffic at a site with other sizes and rates
    za = views.SiteScaler(floor=1e-6).fit(A).transform(A)
    zb = views.SiteScaler(floor=1e-6).fit(B).transform(B)
    np.testing.assert_allclose(za, zb, atol=1e-4)
    # a column constant at the site is floored (share of the reference spread), then clipped
    C = np.c_[np.ones(10), np.arange(10.0)]
    s = views.SiteScaler(floor=0.5, clip=3).fit(C, reference_sd=np.array([2.0, 1.0]))
    assert s.scale_[0] == pytest.approx(1.0)
    assert s.transform(np.array([[100.0, 4.5]]))[0, 0] == 3.0


def test_levels_and_windows():
    s = np.arange(1000, dtype=np.float64)
    assert level_threshold(s, "q1e-3") > 998 and level_threshold(s, "q1e-3") <= 999
    assert level_threshold(s, "max") > 999
    assert level_threshold(s, "max+100%") == pytest.approx(999 + 999 - 499.5)
    fit, thr, end = calibration_windows(np.arange(900.0), 600)
    assert (fit, thr, end) == (slice(0, 200), slice(200, 300), 300)
    with pytest.raises(DataError):
        calibration_windows(np.arange(10.0), 10)


def test_incidents_and_measures_equal_a_hand_count():
    ts = np.arange(20, dtype=np.float64) * 10.0  # one packet every 10 s
    host = np.array([1, 2] * 10)
    truth = np.zeros(20, np.uint8)
    truth[14:] = np.array([1, 0] * 3)  # host 1 turns malicious at t=140 s
    flagged = np.zeros(20, bool)
    flagged[[4, 6]] = True  # host 1: alerts at 40 and 60 s (one incident with a 60 s gap)
    flagged[9] = True  # host 2 at 90 s (a second false incident)
    flagged[[16, 18]] = True  # host 1 at 160 and 180 s: detected 20 s after its first malicious packet
    flagged[17] = True  # host 2 at 170 s during the outbreak: not infected
    h, start, _end = incident_table(ts, host, flagged, gap_s=60.0)
    assert len(h) == 4 and sorted(start.tolist()) == [40.0, 90.0, 160.0, 170.0]
    m = measure_network("hand", ts, host, truth, flagged, onset_s=140.0, infected=np.array([1]), eval_from_s=20.0,
                        threshold=0.5, gap_s=60.0, bot_start={1: 150.0})
    assert m.false_incidents == 2
    assert m.benign_hours == pytest.approx(120 / 3600)
    assert m.false_incidents_per_day == pytest.approx(2 / (120 / 86400))
    assert m.incidents_uninfected_outbreak == 1
    assert (m.infected_detected, m.infected_hosts) == (1, 1)
    assert m.median_time_to_incident_s == pytest.approx(20.0) and m.worst_time_to_incident_s == pytest.approx(20.0)
    assert m.median_time_from_bot_s == pytest.approx(10.0)  # its own attack traffic starts at 150 s
    assert m.tpr == pytest.approx(2 / 3)
    assert m.fpr == pytest.approx(4 / 15)  # benign packets from 20 s on: 18 less 3 malicious; 4 flagged
    assert verdict(0.5) == "usable at this budget"
    assert verdict(2_000.4) == "not usable: 2,000 false incidents per day"
    assert verdict(0.0, 3, 5) == "not usable: 2 of 5 infected hosts never detected"


def _site(seed: int, offset: float, n_benign: int = 600, n_bad: int = 120) -> Network:
    """A site with its own level of every feature; the attacker (host 9) sits 8 site deviations above it."""
    rng = np.random.default_rng(seed)
    sd = rng.uniform(1, 3, 115)
    base = offset + rng.uniform(0, 5, 115)
    X = base + sd * rng.normal(0, 1, (n_benign + n_bad, 115))
    X[n_benign:] += 8 * sd
    host = rng.integers(1, 5, n_benign + n_bad)
    host[n_benign:] = 9
    truth = np.r_[np.zeros(n_benign), np.ones(n_bad)].astype(np.uint8)
    ts = np.arange(n_benign + n_bad, dtype=np.float64)
    return Network(f"site{seed}", X.astype(np.float32), ts, truth, host, onset_s=float(n_benign),
                   infected=np.array([9]))


@pytest.mark.parametrize("scaling, expect_false", [("site", False), ("pooled", True)])
def test_per_site_standardisation_carries_a_detector_to_an_unseen_site(scaling, expect_false):
    train_sites = [_site(1, 0.0), _site(2, 2.0)]
    unseen = _site(3, 40.0)  # every feature far above anything seen in training
    settings = TrainSettings(rows_per_network=700, epochs=20, batch_size=64, lr=1e-2, threads=1)
    trained = train(Recipe("dnn", "lab", scaling), train_sites, settings)
    fit, thr, end = calibration_windows(unseen.ts, unseen.benign_rows)
    site = trained.at_site(unseen.X, fit, thr)
    scores = site.scores(unseen.X)
    # the threshold is set on the site's own benign scores either way: only the standardisation differs
    flagged = site.flagged(scores, "q1e-3")
    m = measure_network(unseen.name, unseen.ts, unseen.host, unseen.truth, flagged, onset_s=unseen.onset_s,
                        infected=unseen.infected, eval_from_s=float(unseen.ts[end]), threshold=0.0)
    if expect_false:  # the lab's one standardisation: the attacker looks like the site's benign traffic
        assert m.tpr < 0.5
    else:
        assert m.infected_detected == 1 and m.worst_time_to_incident_s == 0.0
        assert m.tpr > 0.95 and m.fpr < 0.05


def test_confirmed_alerts_need_a_run_of_alerts_from_one_host():
    from nidslab.generalise.measure import confirmed_alerts

    ts = np.array([0.0, 0.1, 0.2, 0.3, 10.0, 20.0, 20.05, 30.0])
    host = np.array([1, 2, 1, 1, 1, 2, 2, 2])
    flagged = np.ones(8, bool)
    got = confirmed_alerts(ts, host, flagged, alerts=3, window_s=1.0)
    # host 1: its 3rd alert within 1 s is at 0.3 s; 10 s stands alone. host 2: 0.1, 20, 20.05 span 20 s
    assert got.tolist() == [False, False, False, True, False, False, False, False]
    assert confirmed_alerts(ts, host, flagged, alerts=2, window_s=1.0).tolist() == [
        False, False, True, True, False, False, True, False]
    assert confirmed_alerts(ts, host, flagged, alerts=1).tolist() == flagged.tolist()


def _m(fid: float, found: int, worst: float) -> NetworkMeasures:
    return NetworkMeasures("n", 1.0, int(fid > 0), fid, 0, 2, found, worst / 2, worst, None, None, 0.0, 1.0, 0.0)


def test_validation_picks_the_strictest_point_that_finds_the_most_hosts():
    from nidslab.generalise.experiment import choose_operating_point

    points = {("q1e-3", 1): [_m(30.0, 2, 1.0)],  # over budget
              ("q1e-4", 1): [_m(0.0, 2, 2.0)],
              ("max", 4): [_m(0.0, 2, 9.0)],
              ("max+50%", 16): [_m(0.0, 1, 9.0)]}  # within budget but misses a host
    assert choose_operating_point(points, 1.0, "margin") == ("max", 4)
    assert choose_operating_point(points, 1.0, "fastest") == ("q1e-4", 1)
    none_within = {("q1e-3", 1): [_m(30.0, 2, 1.0)], ("max", 4): [_m(5.0, 2, 1.0)]}
    for rule in ("margin", "middle", "fastest"):  # none within the budget: the strictest point
        assert choose_operating_point(none_within, 1.0, rule) == ("max", 4)


def test_the_middle_rule_takes_the_middle_level_of_those_that_find_the_most_hosts():
    from nidslab.generalise.experiment import choose_operating_point

    points = {("q1e-3", 16): [_m(30.0, 2, 1.0)],  # over budget
              ("q1e-4", 4): [_m(0.0, 2, 2.0)], ("q1e-4", 16): [_m(0.0, 2, 2.0)],
              ("max", 1): [_m(0.0, 2, 2.0)], ("max", 16): [_m(0.0, 2, 3.0)],
              ("max+50%", 16): [_m(0.0, 2, 9.0)],
              ("max+100%", 16): [_m(0.0, 1, 9.0)]}  # within budget but misses a host
    assert choose_operating_point(points, 1.0, "margin") == ("max+50%", 16)
    assert choose_operating_point(points, 1.0, "middle") == ("max", 16)  # of q1e-4, max, max+50%; most alerts
    del points[("max+50%", 16)]
    assert choose_operating_point(points, 1.0, "middle") == ("max", 16)  # of two middles, the stricter
    with pytest.raises(ConfigError, match="middle"):
        choose_operating_point(points, 1.0, "loosest")


def test_a_family_network_carries_its_victims_and_when_each_starts_attacking(tmp_path):
    from nidslab.data.family import build_family
    from nidslab.generalise.networks import from_family

    fam = build_family(1, first=3, benign_s=60, attack_scale=0.25, captures=False, name=str(tmp_path / "fam"))
    net = from_family(fam, 3)
    assert net.benign_seconds > 50 and len(net) == len(net.X) == len(net.host)
    victims = [k for k, h in enumerate(fam.network(3).hosts) if h["infected"]]
    assert net.infected.tolist() == victims and victims
    for h in victims:  # a victim answers the scanner first, and attacks of its own only once infected
        first = net.ts[(net.host == h) & (net.truth == 1)][0]
        assert net.bot_start[h] > first >= net.onset_s


class _Recording:
    """A local executor that records which networks each ``map`` was given (what a cluster would get)."""

    kind, remote = "recording", False

    def __init__(self):
        from nidslab.cluster import LocalExecutor

        self.local, self.calls = LocalExecutor(), []

    def put(self, obj):
        return obj

    def map(self, fn, items, *shared, progress=None):
        items = list(items)
        self.calls.append((fn.__name__, items))
        return self.local.map(fn, items, *shared, progress=progress)

    def describe(self):
        return {"kind": self.kind}


def test_families_not_cached_yet_are_built_on_the_executor_given(tmp_path, monkeypatch):
    from nidslab.data.family import build_family
    from nidslab.generalise import networks

    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(networks, "LONG_BLOCK", 2)  # held-out networks built two at a time at most
    (tmp_path / "home").mkdir()
    ex = _Recording()
    kw = {"networks": 1, "benign_s": 60, "long_benign_s": 90, "executor": ex}
    train, held, last = networks.family_networks([1, 3, 5], **kw)
    assert ex.calls == [("simulate_and_extract", [1]), ("simulate_and_extract", [3, 4]),
                        ("simulate_and_extract", [5])]
    assert [n.name for n in (train, held, last)] == ["net1", "net3", "net5"]
    again = networks.family_networks([1, 3, 5], **kw)
    assert len(ex.calls) == 3  # cached: nothing built twice
    assert np.array_equal(np.asarray(again[1].X), np.asarray(held.X))
    here = build_family(1, first=3, benign_s=90, captures=True, name=str(tmp_path / "here"))
    assert held.benign_seconds > 60 and np.array_equal(np.asarray(here.network(3).X), np.asarray(held.X))
    assert np.array_equal(np.asarray(here.network(3).host, np.int64), held.host)


def test_the_report_has_one_verdict_line_per_model_and_escapes_table_pipes():
    from nidslab.generalise.experiment import GeneraliseResult, RecipeResult
    from nidslab.generalise.report import markdown

    m = _m(0.0, 2, 3.0)
    rr = RecipeResult("dnn|kitnet / log / site", "max", 16, 1.0, 10, [m], [m], {}, "usable at this budget", 2.0)
    text = markdown(GeneraliseResult({}, {}, [rr], rr.recipe, [{"target": "t", "measured": "x", "met": False}], 3.0))
    assert "| dnn\\|kitnet / log / site | max | 16 | usable at this budget |" in text
    assert "| t | x | no |" in text


def test_a_host_found_at_once_is_a_time_of_zero_not_a_missing_one():
    from nidslab.generalise.experiment import GeneraliseConfig, RecipeResult, targets_table

    at_once = _m(0.0, 2, 0.0)
    r = RecipeResult("r", "max", 1, 0.0, 0, [at_once], [at_once], {}, "", 0.0)
    row = targets_table(r, GeneraliseConfig())[1]
    assert row["met"] and "worst 0.00 s" in row["measured"]


def test_the_dnn_and_lightgbm_together_alert_only_where_both_do():
    sites = [_site(1, 0.0), _site(2, 2.0)]
    unseen = _site(3, 1.0)
    settings = TrainSettings(rows_per_network=700, epochs=5, batch_size=64, lr=1e-2, threads=1, lgbm_trees=20)
    both = train(Recipe("dnn+lightgbm", "lab", "site"), sites, settings)
    assert Recipe("dnn+lightgbm", "lab", "site").parts == ("dnn", "lightgbm")
    assert both.lgbm is not None and len(both.dnns) == 1
    fit, thr, _ = calibration_windows(unseen.ts, unseen.benign_rows)
    site = both.at_site(unseen.X, fit, thr)
    scores = site.scores(unseen.X)
    th = site.thresholds("q1e-3")
    each = [scores[p] >= th[p] for p in ("dnn", "lightgbm")]
    got = site.flagged(scores, "q1e-3")
    assert np.array_equal(got, each[0] & each[1]) and got[unseen.truth == 1].mean() > 0.9


class _ScoreColumn:
    """A stand-in for a calibrated model: the score is column 0, flagged above the calibration rows' max."""

    def at_site(self, X, fit, thr):
        self.top = float(X[thr, 0].max())
        return self

    def scores(self, X):
        return X[:, 0]

    def flagged(self, scores, level):
        return scores > self.top


def test_doorbell_counts_the_warm_up_rows_of_its_attack_apart(tmp_path):
    from nidslab.generalise import transfer

    rng = np.random.default_rng(0)
    n_ben, n_bad = 1_600, 40
    X = rng.normal(0, 1, (n_ben + n_bad, len(FEATURE_NAMES))).astype(np.float32)
    w = FEATURE_NAMES.index("MI_dir_L0.01_weight")
    X[:, w] = 500.0
    X[n_ben:, 0] = 10.0  # every attack row scores high ...
    X[n_ben:n_ben + 3, 0] = -10.0  # ... but the first three, the extractor's warm-up (weights 1, 2, 3)
    X[n_ben:n_ben + 3, w] = [1.0, 2.0, 3.0]
    X[n_ben + 5, 0] = -10.0  # and one missed row after the warm-up
    X[1_550, 0] = 50.0  # one benign row after the calibration rows scores high
    path = tmp_path / transfer.DOORBELL
    path.parent.mkdir(parents=True)
    header = ",".join([*FEATURE_NAMES, "Normal"])
    rows = np.column_stack([X, np.r_[np.ones(n_ben), np.zeros(n_bad)]])
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.6g")
    d = transfer.doorbell(_ScoreColumn(), "max", tmp_path)
    assert (d["benign_rows"], d["benign_flagged_rows"], d["gafgyt_rows"], d["gafgyt_caught_rows"]) == (100, 1, 40, 36)
    assert (d["gafgyt_warmup_rows"], d["gafgyt_warmup_caught"]) == (3, 0)
    assert d["gafgyt_caught_share_after_warmup"] == pytest.approx(36 / 37)
    assert transfer.doorbell_misses_text(d).startswith("3 of the 4 missed row(s) are warm-up rows")
    assert transfer.doorbell_misses_text({**d, "gafgyt_caught_rows": 40}) == ""
    assert transfer.doorbell_misses_text({**d, "gafgyt_caught_rows": 20}) == ""  # 3 of 20 misses: not the story


def test_recipes_of_one_run_share_a_model_fitted_on_the_same_rows():
    sites = [_site(s, 0.0) for s in range(3)]
    small = TrainSettings(rows_per_network=300, epochs=2, batch_size=64, threads=1, lgbm_trees=10)
    fitted: dict = {}
    alone = train(Recipe("lightgbm", "log", "site"), sites, small, fitted=fitted)
    pair = train(Recipe("dnn+lightgbm", "log", "site"), sites, small, fitted=fitted)
    other_view = train(Recipe("lightgbm", "lab", "site"), sites, small, fitted=fitted)
    assert pair.lgbm is alone.lgbm and other_view.lgbm is not alone.lgbm and alone.dnns == []
    fresh = train(Recipe("dnn+lightgbm", "log", "site"), sites, small)  # the same model when fitted again
    Z = np.random.default_rng(1).normal(size=(50, 115)).astype(np.float32)
    np.testing.assert_array_equal(fresh.lgbm.predict(Z, raw_score=True), pair.lgbm.predict(Z, raw_score=True))


class _StubSite:
    """A calibrated site whose score is the first feature and whose levels sit at fixed thresholds."""

    LEVEL_AT = {"q1e-3": 0.9, "q1e-4": 0.95, "max": 1.0, "max+50%": 2.0, "max+100%": 3.0, "max+200%": 4.0}

    def scores(self, X):
        return np.asarray(X[:, 0], np.float64)

    def thresholds(self, level):
        return {"stub": self.LEVEL_AT[level]}

    def flagged(self, scores, level):
        return scores > self.LEVEL_AT[level]


class _StubTrained:
    seconds, train_rows = 0.0, 0

    def at_site(self, X, fit, thr):
        return _StubSite()


def _exposed_site(name: str) -> Network:
    """Benign hosts 1-4 scoring below 0.8; at 600 s host 9 accepts a telnet login from the Internet (-2), then
    scans, scoring 1.5: above the quantile levels and ``max``, below ``max+50%``."""
    rng = np.random.default_rng(0)
    n_benign, n_bad = 600, 120
    X = np.zeros((n_benign + n_bad, 115), np.float32)
    X[:n_benign, 0] = rng.uniform(0, 0.8, n_benign)
    X[n_benign:, 0] = 1.5
    ts = np.r_[np.arange(n_benign, dtype=np.float64), n_benign + 0.01 * np.arange(n_bad)]
    host = np.r_[rng.integers(1, 5, n_benign), np.full(n_bad, 9)].astype(np.int64)
    peer = np.where(host == 9, -2, 0).astype(np.int64)
    accepts = np.zeros(n_benign + n_bad, bool)
    accepts[n_benign] = True  # the infecting login, accepted from the Internet
    truth = np.r_[np.zeros(n_benign), np.ones(n_bad)].astype(np.uint8)
    return Network(name, X, ts, truth, host, onset_s=float(n_benign), infected=np.array([9]), peer=peer,
                   accepts=accepts, outside=(-2,))


def test_validation_chooses_by_the_models_own_alerts_not_the_contact_rules(monkeypatch):
    from nidslab.generalise import experiment

    monkeypatch.setattr(experiment, "train", lambda *a, **k: _StubTrained())
    val, test = _exposed_site("val"), _exposed_site("test")
    config = experiment.GeneraliseConfig(train=(1,), validation=(2,), test=(3,), confirm=(1,), real_data="")
    r = experiment.run_recipe(Recipe("lightgbm", "log", "site"), [], [val], [test], config)
    # with the contact rule every level finds host 9 and the middle rule would take max+50%, where the model is
    # blind; the model alone finds it at q1e-3, q1e-4 and max: the middle of these
    assert (r.level, r.confirm_alerts) == ("q1e-4", 1)
    assert r.validation[0].infected_detected == 1  # at the chosen point, as the operator sees it
    assert r.test[0].infected_detected == 1 and r.test[0].detected_by_contact == 1  # measured with the rule
    no_contacts = experiment.measure_site(_StubSite(), val, "max+50%", eval_from=300, gap_s=60.0, contacts=False)
    with_contacts = experiment.measure_site(_StubSite(), val, "max+50%", eval_from=300, gap_s=60.0)
    assert (no_contacts.infected_detected, with_contacts.infected_detected) == (0, 1)
