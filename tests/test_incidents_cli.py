"""Incidents as operators meet them: `predict --incidents`, `watch` events (JSON and Suricata EVE),
the incident page, `nidslab calibrate` and `watch --calibrate`, on a small simulated capture."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nidslab import schema
from nidslab.cli import app
from nidslab.eve import FIELDS, check_event
from nidslab.contacts import contact_alerts
from nidslab.incidents import DEFAULT_GAP_S, IncidentTracker, group_incidents, incident_measures
from nidslab.predict import capture_rows
from nidslab.saved_model import load_model
from nidslab.scorers import DNNScorer
from nidslab.watch import Watcher

from conftest import capture_and_tiny_model, record_ends

runner = CliRunner()
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("incidents")
    cap, sim, _ = capture_and_tiny_model(d, 8_000)
    data = cap.read_bytes()
    ends = record_ends(data)
    benign = d / "benign.pcap"  # the capture's benign prefix, before the outbreak
    benign.write_bytes(data[:ends[sim.onset_index - 1]])
    return {"dir": d, "capture": cap, "model": d / "model", "truth": sim.labels_truth, "benign": benign,
            "onset": sim.onset_index, "phases": sim.phases}


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def comparable(d: dict) -> dict:
    d = {k: v for k, v in d.items() if k not in ("event", "time")}
    d["peak_score"] = round(d["peak_score"], 5)  # batch and live scores agree to float32 rounding
    # attributions too: the network runs the explained rows in batches of another size (float32 sums)
    d["reasons"] = [{**r, "attribution": float(f"{r['attribution']:.4g}")} for r in d["reasons"]]
    return d


def test_the_library_forms_agree_and_see_the_outbreak(lab):
    saved = load_model(lab["model"])
    rows = capture_rows(lab["capture"])
    scores = saved.predict(rows.features)
    alert = scores >= THRESHOLD
    batch = group_incidents(rows.times, rows.host, scores, alert, index=rows.packets.index,
                            host_names=rows.host_names, truth=lab["truth"], phases=lab["phases"],
                            packets=rows.packets)
    assert any(i.malicious for i in batch) and any(i.phases for i in batch)
    assert all(i.flow["src_ip"] == i.host or i.flow["src_mac"] == i.host for i in batch)
    w = Watcher(lab["capture"], DNNScorer(saved), threshold=THRESHOLD, hosts=True, chunk=997)
    tracker = IncidentTracker(host_names=w.hosts.names)
    for c in w:
        np.testing.assert_array_equal(c.alert, alert[c.index])  # no score sits on the threshold
        tracker.update(c.time, c.host, c.score, c.alert, index=c.index, packets=c.packets,
                       truth=lab["truth"][c.index])
    tracker.finish()
    assert w.hosts.names == rows.host_names
    live = sorted(tracker.closed, key=lambda i: (i.start, i.id))
    assert [comparable(i.to_dict()) for i in live] == [
        comparable({**i.to_dict(), "phases": []}) for i in batch]


def test_watch_incidents_equal_predict_incidents(lab, tmp_path):
    """The same capture, the same benign baseline: watch's closed incidents are predict's, reasons included."""
    invoke("predict", lab["model"], lab["capture"], "--incidents", tmp_path / "p.jsonl", "--threshold", THRESHOLD,
           "--baseline", lab["benign"])
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--chunk", 1500, "-o", tmp_path / "w.jsonl", "--baseline", lab["benign"])
    predicted = lines(tmp_path / "p.jsonl")
    events = lines(tmp_path / "w.jsonl")
    assert predicted and {e["event"] for e in events} >= {"open", "close"}
    closed = sorted((e for e in events if e["event"] == "close"), key=lambda e: (e["start"], e["id"]))
    assert [comparable(e) for e in closed] == [comparable(p) for p in predicted]
    assert all(p["reasons"] for p in predicted)  # the comparison covers reasons, not empty lists
    # without --baseline, reasons are still there (against the packets not flagged so far), fewer words
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--chunk", 1500, "-o", tmp_path / "u.jsonl", "--no-reasons")
    assert all(e["reasons"] == [] for e in lines(tmp_path / "u.jsonl"))
    # packets and incidents together: one line per packet besides the events
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--emit", "both", "-o", tmp_path / "b.jsonl")
    both = lines(tmp_path / "b.jsonl")
    assert sum("score" in x and "event" not in x for x in both) == 8_000
    assert sum(x.get("event") == "close" for x in both) == len(predicted)


def test_watch_events_carry_reasons_that_name_the_models_features(lab, tmp_path):
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--chunk", 1500, "-o", tmp_path / "w.jsonl")
    events = lines(tmp_path / "w.jsonl")
    opened = [e for e in events if e["event"] == "open"]
    assert opened and all(1 <= len(e["reasons"]) <= 3 for e in opened)
    used = set(load_model(lab["model"]).feature_names)
    for e in events:
        for r in e["reasons"]:
            assert r["feature"] in used and r["feature"] in r["text"] and r["attribution"] > 0
    # each event's reasons are those of the packet reasons_index names: the peak's for an open and a close (an
    # update's may be an earlier peak's until re-explaining is due); that packet's row gives them again
    rows = capture_rows(lab["capture"])
    peak_of = {e["id"]: e["peak_index"] for e in events}
    assert len(peak_of) == len({e["id"] for e in opened})
    assert all(e["reasons_index"] == e["peak_index"] for e in events if e["event"] != "update")
    assert all(r["value"] == pytest.approx(float(rows.features[e["reasons_index"], schema.FEATURE_NAMES.index(
        r["feature"])]), rel=1e-6) for e in events for r in e["reasons"])
    # --reexplain 0: every event's reasons are its peak's; the closes explain the same packets either way (against
    # the running baseline of the moment they are explained, so the words may differ)
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--chunk", 1500, "-o", tmp_path / "every.jsonl", "--reexplain", 0)
    every = lines(tmp_path / "every.jsonl")
    assert all(e["reasons_index"] == e["peak_index"] for e in every)

    def closes(evs):
        return [{k: v for k, v in e.items() if k != "reasons"} for e in evs if e["event"] == "close"]

    assert closes(every) == closes(events)
    # EVE: the same reasons under the nidslab key
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--chunk", 1500, "--format", "eve", "-o", tmp_path / "eve.json")
    eve = lines(tmp_path / "eve.json")
    assert [e["nidslab"]["reasons"] for e in eve] == [e["reasons"] for e in events]


def test_eve_events_carry_every_field_with_its_type(lab, tmp_path):
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--threshold", THRESHOLD,
           "--format", "eve", "--emit", "both", "--chunk", 1500, "-o", tmp_path / "eve.json")
    events = lines(tmp_path / "eve.json")
    assert len(events) > 100
    for ev in events:
        assert check_event(ev) == [], ev
    kinds = {ev["nidslab"]["event"] for ev in events}
    assert kinds == {"open", "update", "close", "packet"}
    required = {k for k, (_, need) in FIELDS.items() if need}
    assert all(required <= set(ev) for ev in events)
    assert any("src_port" in ev and "dest_ip" in ev for ev in events)
    # the checker can fail
    bad = dict(events[0], src_port="23", timestamp="yesterday")
    del bad["alert"]["severity"]
    problems = check_event(bad)
    assert any("src_port" in p for p in problems) and any("timestamp" in p for p in problems)
    assert any("severity" in p for p in problems)


def test_the_incident_page_is_self_contained(lab, tmp_path):
    page = tmp_path / "incidents.html"
    invoke("predict", lab["model"], lab["capture"], "--incidents-html", page, "--threshold", THRESHOLD)
    text = page.read_text()
    hosts = {p["host"] for p in lines_of_predict(lab, tmp_path)}
    assert text.count("class='timeline'") == len(hosts) > 1
    assert not re.search(r"(src|href)=['\"](https?:)?//", text)  # nothing fetched from elsewhere
    assert "data:image/png;base64," in text
    # each incident's reasons listed, the feature's meaning as the tooltip
    assert text.count("<li title='") >= len(lines_of_predict(lab, tmp_path)) and "Decayed " in text


def lines_of_predict(lab, tmp_path):
    invoke("predict", lab["model"], lab["capture"], "--incidents", tmp_path / "p2.jsonl", "--threshold", THRESHOLD)
    return lines(tmp_path / "p2.jsonl")


def test_predict_counts_each_incidents_malicious_packets_against_the_labels_file(lab, tmp_path):
    from nidslab.cli.common import write_table

    labels = tmp_path / "cap.labels.csv"  # as nidslab simulate writes it beside the capture
    write_table(labels, {"truth": lab["truth"], "kitsune": (np.arange(len(lab["truth"])) >= lab["onset"]).astype(int)})
    res = invoke("predict", lab["model"], lab["capture"], "--incidents", tmp_path / "t.jsonl", "--threshold",
                 THRESHOLD, "--truth", labels)
    found = lines(tmp_path / "t.jsonl")
    assert found and all(isinstance(f["malicious"], int) for f in found)
    rows = capture_rows(lab["capture"])
    scores = load_model(lab["model"]).predict(rows.features)
    library = group_incidents(rows.times, rows.host, scores, scores >= THRESHOLD, index=rows.packets.index,
                              host_names=rows.host_names, truth=lab["truth"][rows.packets.index],
                              peer=rows.peer, accepts=rows.accepts, outside=rows.outside)
    assert [f["malicious"] for f in found] == [i.malicious for i in library]
    false = sum(1 for f in found if f["malicious"] == 0)
    truth = lab["truth"][rows.packets.index]
    senders = {rows.host_names[h] for h in np.unique(rows.host[truth == 1])}
    alerts, _ = contact_alerts(rows.times, rows.host, rows.peer, rows.accepts, scores >= THRESHOLD, gap_s=DEFAULT_GAP_S,
                               outside=rows.outside)
    m = incident_measures(library, ts=rows.times, host=rows.host, alert=alerts, truth=truth, host_names=rows.host_names)
    assert m["infected_hosts"] == len(senders) and m["detected_hosts"] >= 1  # the study's measures, on these rows
    assert (f"{len(found) - false:,} incident(s) hold malicious packets, {false:,} hold none, "
            f"{m['false_incidents_benign']:,} opened before the first malicious packet; {m['detected_hosts']:,} of the "
            f"{len(senders):,} host(s) that sent malicious packets detected") in " ".join(res.output.split())
    short = tmp_path / "short.csv"
    short.write_text("truth\n0\n1\n")
    r = runner.invoke(app, ["predict", str(lab["model"]), str(lab["capture"]), "--incidents", str(tmp_path / "s.jsonl"),
                            "--truth", str(short)])
    assert r.exit_code == 2 and f"2 labels, but the capture has {len(lab['truth']):,} packets" in " ".join(r.output.split())
    r = runner.invoke(app, ["predict", str(lab["model"]), str(lab["capture"]), "-o", str(tmp_path / "x.csv"),
                            "--truth", str(labels)])
    assert r.exit_code == 2 and "--truth labels incidents" in " ".join(r.output.split())


def test_incident_outputs_are_checked_before_anything_is_read(lab, tmp_path):
    result = runner.invoke(app, ["predict", str(lab["model"]), str(lab["capture"]), "--incidents",
                                 str(lab["capture"])])
    assert result.exit_code == 2 and "capture being read" in " ".join(result.output.split())
    result = runner.invoke(app, ["predict", str(lab["model"]), str(lab["capture"])])
    assert result.exit_code == 2 and "nothing to write" in " ".join(result.output.split())


def test_calibrate_cli_and_watch_calibrate(lab, tmp_path):
    out = tmp_path / "site"
    res = invoke("calibrate", lab["model"], lab["benign"], "-o", out)
    assert "re-fitted" in res.output
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["packets"] == lab["onset"] and cal["hosts"] >= 2 and cal["duration_s"] > 0
    site = load_model(out)
    assert site.calibration["source"] == str(lab["benign"])
    for p in site.thresholds["points"]:  # each budget holds on the site's benign packets
        assert p["calibration_fpr"] <= p["target_fpr"]
    # watch learns its baseline from the first seconds, then alerts
    invoke("watch", lab["model"], lab["capture"], "--no-follow", "--quiet", "--calibrate", "45s",
           "--target-fpr", 1e-2, "-o", tmp_path / "c.jsonl", "--save-calibrated", tmp_path / "live")
    events = lines(tmp_path / "c.jsonl")
    live = json.loads((tmp_path / "live" / "calibration.json").read_text())
    assert live["duration_s"] <= 45 and live["packets"] > 1_000
    rows = capture_rows(lab["capture"])
    first_packet_time = float(np.min(rows.times))
    assert events and all(e["start"] >= first_packet_time + 45 for e in events)
    # reasons compare with the calibration rows: the packets before the first one 45 s after the start
    calibration = rows.features[:int(np.flatnonzero(rows.times >= rows.times[0] + 45)[0])]
    explained = [r for e in events for r in e["reasons"]]
    opened = [e for e in events if e["event"] == "open"]
    # most: a peak that scores barely above the site's threshold may sit below the baseline row's own logit,
    # and then no feature pushed it up from there ([] is the honest answer)
    assert sum(bool(e["reasons"]) for e in opened) > len(opened) / 2
    for r in explained:
        col = schema.FEATURE_NAMES.index(r["feature"])
        assert r["baseline"] == pytest.approx(float(calibration[:, col].mean(dtype=np.float64)), rel=1e-9)
