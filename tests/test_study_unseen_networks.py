"""The study part "unseen networks" (issue 20 item 6): it runs on a tiny family the test builds, its Result
round-trips through results.json, the report renders one verdict line per model from the measures (never
from a stored string), and --full / --quick choose its networks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nidslab.errors import ConfigError
from nidslab.study.config import Full, Quick
from nidslab.study.context import Context
from nidslab.study.parts import unseen_networks as part
from nidslab.study.results import from_plain, to_plain
from nidslab.study.study_file import load_study, parse_study

TINY = part.Config(train_networks=1, benign_s=60.0, validation_networks=1, test_networks=1, heldout_first=2,
                   heldout_benign_s=120.0, recipes=("dnn / lab / pooled",), rows_per_network=2_000, epochs=1,
                   reference_data="no-such-folder")


@pytest.fixture(scope="module")
def tiny_result():
    """The part on networks 1 (training), 2 (validation) and 3 (held out), built here on first use."""
    ctx = Context(study=None, data=None, needs={"experiments": None})  # type: ignore[arg-type]
    return part.run(TINY, ctx)


@pytest.mark.slow
def test_the_part_runs_on_a_tiny_family_and_round_trips(tiny_result, tmp_path):
    r = tiny_result
    assert [d["role"] for d in r.networks.values()] == ["train", "validation", "test"]
    assert list(r.models) == ["dnn / lab / pooled"]
    m = r.models["dnn / lab / pooled"]
    (net,) = m.test.values()
    assert net.network == "net3" and net.infected_hosts >= 1
    assert len(net.times_to_incident_s) == net.infected_hosts
    assert sum(t is not None for t in net.times_to_incident_s) == net.infected_detected
    assert 0 < net.benign_hours <= 120 / 3600
    assert r.real_data.startswith("not measured: ") and "no-such-folder absent" in r.real_data and m.real is None
    assert r.family_seconds > 0 and r.seconds > 0
    # results.json: plain JSON (no NaN or infinity), read back to the same typed result
    text = json.dumps(to_plain(r), allow_nan=False)
    back = from_plain(part.Result, json.loads(text), part.NAME)
    assert back == r and isinstance(back.models["dnn / lab / pooled"].test["net3"], part.NetworkResult)


@pytest.mark.slow
def test_the_report_renders_a_verdict_line_per_model(tiny_result):
    blocks, figures = part.render(tiny_result, {})
    texts = [b[1] for b in blocks if b[0] == "p"]
    m = tiny_result.models["dnn / lab / pooled"]
    line = part.verdict(m, 1.0)
    assert line.startswith(("usable at this budget", "not usable: "))
    assert f"dnn / lab / pooled: {line}." in texts
    assert any("Real data: not measured: " in t for t in texts)
    assert any(b[0] == "table" and b[1][0] == "target (issue 20)" for b in blocks)
    assert set(figures) == {"unseen_false_incidents", "unseen_time_to_incident"}
    assert all(png[:4] == b"\x89PNG" for png in figures.values())


def _network(name: str, per_day: float | None, detected: int = 2, infected: int = 2) -> part.NetworkResult:
    times: list[float | None] = [3.0] * detected + [None] * (infected - detected)
    return part.NetworkResult(network=name, benign_hours=2.0, false_incidents=round((per_day or 0) * 2 / 24),
                              false_incidents_per_day=per_day, incidents_uninfected_outbreak=0,
                              infected_hosts=infected, infected_detected=detected, times_to_incident_s=times,
                              median_time_to_incident_s=3.0 if detected else None,
                              worst_time_to_incident_s=3.0 if detected == infected else None,
                              median_time_from_bot_s=1.0, worst_time_from_bot_s=1.0, fpr=1e-4, tpr=0.5, threshold=1.0)


def _result(*nets: part.NetworkResult) -> part.Result:
    m = part.ModelResult(recipe="dnn / lab / pooled", level="max", confirm_alerts=4, train_rows=10, train_seconds=1.0,
                         seconds=2.0, validation={}, test={n.network: n for n in nets})
    return part.Result(settings=dataclasses.asdict(part.Config()), networks={n.network: {"role": "test",
                                                                                         "benign_hours": 2.0}
                                                                              for n in nets},
                       models={m.recipe: m}, best=m.recipe, real_data="not measured: x absent", family_seconds=1.0,
                       seconds=2.0)


def _verdicts(result: part.Result) -> list[str]:
    blocks, _ = part.render(result, {})
    return [b[1] for b in blocks if b[0] == "p" and b[1].startswith("dnn / lab / pooled: ")]


def test_the_verdict_line_follows_the_measures():
    # 3 false incidents per day on one held-out network: not usable, whatever else holds
    assert _verdicts(_result(_network("net27", 0.0), _network("net28", 3.0))) == [
        "dnn / lab / pooled: not usable: 3 false incidents per day."]
    assert _verdicts(_result(_network("net27", 0.0), _network("net28", 0.5))) == [
        "dnn / lab / pooled: usable at this budget."]
    assert _verdicts(_result(_network("net27", 0.0, detected=1))) == [
        "dnn / lab / pooled: not usable: 1 of 2 infected hosts never detected."]
    assert _verdicts(_result(_network("net27", 0.0), _network("net28", None))) == [
        "dnn / lab / pooled: not measured: no benign traffic scored on net28."]


def test_targets_say_met_or_missed_by_how_much():
    rows = part.targets(_result(_network("net27", 12.0)).models["dnn / lab / pooled"],
                        dataclasses.asdict(part.Config()))
    by_target = {r[0].split(":")[0]: r for r in rows}
    assert by_target["false incidents per day, each held-out network"][2] == "missed by 11/day"
    assert by_target["median time to first incident"][2] == "met"
    ok = part.targets(_result(_network("net27", 0.0)).models["dnn / lab / pooled"], dataclasses.asdict(part.Config()))
    fid = ok[0]
    assert fid[2] == "met" and "too few hours" in fid[3]  # 0 in 2 h cannot show 1 per day: the bound is 36/day


def test_quick_and_full_choose_the_networks():
    cfg = part.Config()
    q = cfg.quick(Quick())
    assert q.network_ids() == ((1, 2), (25,), (26,)) and q.heldout_benign_s == 600
    f = cfg.full(Full())
    train, validation, test = f.network_ids()
    assert train == tuple(range(1, 25)) and validation == (25, 26) and test == tuple(range(27, 39))
    assert f.heldout_benign_s == 7200
    study = load_study()
    assert study.full_version().unseen_networks == f and study.full_version().is_full
    with pytest.raises(ConfigError, match="--full and --quick"):
        study.quick_version().full_version()


@pytest.mark.parametrize("table, words", [
    ({"recipes": ["dnn / lab"]}, ["recipes", "model / view / scaling"]),
    ({"recipes": ["svm / lab / site"]}, ["recipes", "svm"]),
    ({"recipes": ["dnn / lab / site x"]}, ["recipes", "suffix"]),
    ({"heldout_first": 3}, ["heldout_first", "above the training networks"]),
    ({"heldout_benign_s": 10}, ["heldout_benign_s", "at least 60"]),
    ({"experiment": "nosuch"}, ["experiment", "nosuch"]),
])
def test_bad_settings_are_named(table, words):
    raw = {"experiments": {"balanced_2x20": {}}, "unseen_networks": table}
    with pytest.raises(ConfigError) as err:
        parse_study(raw, source="s.toml")
    assert all(w in str(err.value) for w in words)


def test_cli_refuses_quick_with_full():
    from typer.testing import CliRunner

    from nidslab.cli import app

    out = CliRunner().invoke(app, ["lab", "--quick", "--full"])
    assert out.exit_code != 0 and "--quick and --full" in out.output


def test_the_login_floor_is_said_beside_the_time_targets():
    import dataclasses

    net = dataclasses.replace(_network("net9", 0.0), times_to_incident_s=[13.0, 0.5], login_floor_s=[12.0, 0.0],
                              detected_by_contact=2)
    text = part.login_floor([net], 10.0)
    assert text.startswith("1 of 2 infected hosts accept the login that infects them more than 10 s after")
    assert "2 of 2 within 10 s" in text  # 1.0 s and 0.5 s after their logins
    assert part.login_floor([_network("net9", 0.0)], 10.0) == ""  # flags unknown: no floor to say
    rows = part.targets(_result(net).models["dnn / lab / pooled"], {"budget_per_day": 1.0, "detect_within_s": 10.0})
    assert any("the floor for any detector that waits for it" in r[3] for r in rows)


def test_weak_evidence_is_said_below_four_networks_of_two_hours():
    def weak(hours: list[float]) -> bool:
        r = _result(*[_network(f"net{27 + k}", 0.0) for k in range(len(hours))])
        for k, h in enumerate(hours):
            r.networks[f"net{27 + k}"]["benign_hours"] = h
        blocks, _ = part.render(r, {})
        return any(b[0] == "p" and b[1].startswith("Weak evidence") for b in blocks)

    # 2 hours simulated read 1.9998 h from the first to the last benign packet: not weak
    assert not weak([1.9998] * 4) and not weak([2.0] * 12)
    assert weak([1.9998] * 3) and weak([2.0, 2.0, 2.0, 0.5])
