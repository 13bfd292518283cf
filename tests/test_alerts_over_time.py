"""Detection over time: delay, recall per phase, false alarms per hour, the binned timeline."""

import numpy as np
import pytest

from nidslab.alerts_over_time import detection_delay, false_alarms_per_hour, recall_per_phase, timeline


def hand_made():
    # 12 packets one second apart from t = 100; the outbreak starts at t = 105 (index 5)
    ts = 100.0 + np.arange(12, dtype=np.float64)
    truth = np.array([0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1], np.uint8)
    scores = np.array([.1, .9, .2, .1, .3, .4, .8, .2, .95, .9, .1, .99])
    return ts, truth, scores


def test_delay_computed_on_a_hand_made_score_series_equals_the_hand_computed_value():
    ts, truth, scores = hand_made()
    d = detection_delay(ts, scores >= 0.7, onset_s=105.0, truth=truth)
    # first alert at or after t=105: index 6 (t=106, a benign packet): 1 s, 2 packets after the onset
    assert d["delay_s"] == pytest.approx(1.0) and d["first_alert_index"] == 6 and d["packets_after_onset"] == 2
    # first alert on a malicious packet: index 8 (t=108): 3 s
    assert d["delay_s_malicious"] == pytest.approx(3.0) and d["first_malicious_alert_index"] == 8
    # the alert at index 1 (before the onset) does not count; a threshold nothing reaches gives None
    assert detection_delay(ts, scores >= 0.999, onset_s=105.0)["delay_s"] is None
    # an onset between packets: the first alert at or after 104.5 is still index 6
    assert detection_delay(ts, scores >= 0.7, onset_s=104.5)["delay_s"] == pytest.approx(1.5)


def test_recall_per_phase_counts_malicious_packets_inside_each_window():
    ts, truth, scores = hand_made()
    phases = [("benign", 100.0, 105.0, 0), ("scan", 105.0, 111.0, 5), ("flood", 108.0, 109.5, 8)]
    got = {p["phase"]: p for p in recall_per_phase(ts, scores >= 0.7, truth, phases)}
    assert set(got) == {"scan", "flood"}
    # scan window: malicious at 5, 7, 8, 9, 10, 11 -> flagged 8, 9, 11: 3 of 6
    assert got["scan"]["malicious_packets"] == 6 and got["scan"]["recall"] == pytest.approx(0.5)
    assert got["scan"]["delay_s"] == pytest.approx(3.0)
    # flood window [108, 109.5]: 8 and 9, both flagged
    assert got["flood"]["recall"] == 1.0 and got["flood"]["delay_s"] == 0.0


def test_false_alarms_per_hour_before_the_onset_and_overall():
    ts, truth, scores = hand_made()
    before = false_alarms_per_hour(ts, scores >= 0.7, truth, until_s=105.0)
    assert before["false_alarms"] == 1 and before["benign_packets"] == 5
    assert before["hours"] == pytest.approx(5 / 3600) and before["per_hour"] == pytest.approx(720.0)
    overall = false_alarms_per_hour(ts, scores >= 0.7, truth)
    assert overall["false_alarms"] == 2 and overall["benign_packets"] == 6 and overall["fpr"] == pytest.approx(2 / 6)
    assert false_alarms_per_hour(ts, np.zeros(12, bool))["per_hour"] == 0.0


def test_timeline_bins_max_and_median_per_class():
    ts, truth, scores = hand_made()
    tl = timeline(ts, scores, truth, bins=2)  # span 11 s: bins [0, 5.5), [5.5, 11]
    assert tl["benign"]["max"] == [pytest.approx(0.9), pytest.approx(0.8)]
    assert tl["malicious"]["max"][0] == pytest.approx(0.4) and tl["malicious"]["max"][1] == pytest.approx(0.99)
    assert tl["malicious"]["median"][1] == pytest.approx(0.9)  # of .2 .95 .9 .1 .99 (lower median of 5 = .9)
