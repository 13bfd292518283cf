"""Incidents per host: the hand count, batch == chunked, measures against packet truth, hosts of packets."""

import numpy as np
import pytest

from nidslab.features import Packets
from nidslab.incidents import HostTable, IncidentTracker, flow_fields, group_incidents, incident_measures


def hand_series():
    # host 0: alerts at 10, 20 (gap 10 <= 30: one incident), 100 (new), host 1: alert at 15 only
    ts = np.array([0, 10, 12, 15, 20, 25, 60, 100, 101, 130], float)
    host = np.array([0, 0, 0, 1, 0, 1, 0, 0, 1, 0])
    score = np.array([.1, .9, .2, .8, .95, .3, .4, .7, .1, .2])
    alert = score >= 0.5
    truth = np.array([0, 0, 0, 0, 1, 0, 1, 1, 0, 0], bool)
    phase = np.array(["", "", "", "", "scan", "", "scan", "flood", "", ""])
    return ts, host, score, alert, truth, phase


def test_incidents_on_a_hand_made_series_equal_the_hand_count():
    ts, host, score, alert, truth, phase = hand_series()
    inc = group_incidents(ts, host, score, alert, gap_s=30, truth=truth, phase=phase, host_names=["a", "b"])
    got = [(i.host, i.start, i.end, i.alerts, i.packets, i.peak_score, i.peak_index, i.malicious, i.phases)
           for i in inc]
    assert got == [("a", 10.0, 20.0, 2, 3, 0.95, 4, 1, ["scan"]),   # packets 1, 2, 4 of host a
                   ("b", 15.0, 15.0, 1, 1, 0.8, 3, 0, []),
                   ("a", 100.0, 100.0, 1, 1, 0.7, 7, 1, ["flood"])]
    assert [i.id for i in inc] == [1, 3, 7]
    # a longer gap joins host a's two incidents: packets 1..7 of a (the 60 s packet is malicious, in "scan")
    one = group_incidents(ts, host, score, alert, gap_s=90, truth=truth, phase=phase)
    a = [i for i in one if i.host == "0"]
    assert len(a) == 1 and a[0].packets == 5 and a[0].malicious == 3 and a[0].phases == ["flood", "scan"]


def test_no_alert_gives_no_incident():
    ts, host, score, _, truth, _ = hand_series()
    assert group_incidents(ts, host, score, np.zeros(10, bool), truth=truth) == []
    tr = IncidentTracker()
    assert tr.update(ts, host, score, np.zeros(10, bool)) == [] and tr.finish() == []


def random_capture(seed=0, n=30_000, hosts=9):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.uniform(0, 7200, n))
    host = rng.integers(0, hosts, n)
    score = rng.random(n).astype(np.float32)
    alert = score >= 0.98
    truth = (host == 3) & (ts > 3600)
    phase = np.where(truth, np.where(ts > 5000, "flood", "scan"), "")
    return ts, host, score, alert, truth, phase


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tracker_equals_the_batch_form_whatever_the_chunks(seed):
    ts, host, score, alert, truth, phase = random_capture(seed)
    n = len(ts)
    X = np.arange(n, dtype=np.float32)[:, None]
    explain = lambda rows: [[{"feature": "row", "value": float(r[0])}] for r in rows]  # noqa: E731
    batch = group_incidents(ts, host, score, alert, gap_s=45, truth=truth, phase=phase, features=X, explain=explain)
    assert len(batch) > 100 and any(i.malicious for i in batch)
    assert all(i.reasons == [{"feature": "row", "value": float(i.peak_index)}] for i in batch)
    rng = np.random.default_rng(seed + 10)
    rows_explained = {}
    for cuts, reexplain in [(np.sort(rng.choice(np.arange(1, n), 40, replace=False)), 0.0), (np.arange(1, n, 997), 0.0),
                            (np.arange(1, n, 37), 0.0), (np.arange(1, n, 37), 5.0), (np.arange(1, n, 37), 1e9), (np.array([], int), 45.0)]:
        calls = []

        def counted(rows):
            calls.append(len(rows))
            return explain(rows)

        tr = IncidentTracker(gap_s=45, explain=counted, reexplain_s=reexplain)
        events = []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n]):
            events += tr.update(ts[lo:hi], host[lo:hi], score[lo:hi], alert[lo:hi], index=np.arange(lo, hi),
                                truth=truth[lo:hi], phase=phase[lo:hi], features=X[lo:hi])
        events += tr.finish()
        online = sorted(tr.closed, key=lambda i: (i.start, i.id))
        assert [i.to_dict() for i in online] == [i.to_dict() for i in batch]
        kinds = [e.kind for e in events]
        assert kinds.count("open") == kinds.count("close") == len(batch)
        assert len(calls) <= len(cuts) + 2  # one call per chunk at most, and one at the end
        # every event's reasons explain the packet it names; an open's and a close's are its peak's; an update's
        # its peak's when re-explaining is due (always with reexplain_s 0), else an earlier peak's
        assert all(e.incident.reasons == [{"feature": "row", "value": float(e.incident.reasons_index)}]
                   for e in events)
        assert all(e.incident.reasons_index == e.incident.peak_index for e in events if e.kind != "update")
        ups = [e.incident for e in events if e.kind == "update"]
        if reexplain == 0:
            assert all(i.reasons_index == i.peak_index for i in ups)
        else:
            assert all(ts[i.reasons_index] <= ts[i.peak_index] for i in ups)
        if reexplain > 1e6:  # never re-explained while open: its first peak, and the final one at the close
            assert sum(calls) <= 2 * len(batch)
        rows_explained[(len(cuts), reexplain)] = sum(calls)
        # each incident's events come as open, updates, close, at non-decreasing times
        per = {}
        for e in events:
            per.setdefault(e.incident.id, []).append(e)
        for evs in per.values():
            assert evs[0].kind == "open" and evs[-1].kind == "close"
            assert all(e.kind == "update" for e in evs[1:-1])
            assert not evs[0].incident.closed and evs[-1].incident.closed
            if reexplain > 1e6:  # updates keep the open's reasons (the close's, in the chunk where it closes)
                assert {e.incident.reasons_index for e in evs} <= {evs[0].incident.peak_index, evs[-1].incident.peak_index}
    # waiting to re-explain explains fewer rows
    k = len(np.arange(1, n, 37))
    assert rows_explained[(k, 1e9)] <= rows_explained[(k, 5.0)] <= rows_explained[(k, 0.0)], rows_explained
    assert rows_explained[(k, 1e9)] < rows_explained[(k, 0.0)], rows_explained


def test_incidents_close_on_the_gap_while_the_stream_goes_on():
    tr = IncidentTracker(gap_s=10)
    ev = tr.update([0.0, 1.0], [0, 1], [0.9, 0.1], [True, False])
    assert [e.kind for e in ev] == ["open"] and tr.open
    ev = tr.update([5.0], [1], [0.1], [False])
    assert ev == []
    ev = tr.update([12.0], [1], [0.1], [False])  # 12 s after host 0's last alert: its gap ran out
    assert [e.kind for e in ev] == ["close"] and ev[0].time == 10.0 and not tr.open


def test_measures_count_false_incidents_per_day_and_time_to_detect():
    # 2 days of benign traffic from 3 hosts, then host 2 is infected
    day = 86_400.0
    ts = np.array([0, 0.5 * day, day, 1.5 * day, 2 * day, 2 * day + 5, 2 * day + 8, 2 * day + 9, 2 * day + 20])
    host = np.array([0, 1, 0, 2, 2, 2, 1, 2, 0])
    truth = np.array([0, 0, 0, 0, 1, 1, 0, 1, 0], bool)
    alert = np.array([1, 0, 1, 0, 0, 1, 1, 1, 0], bool)
    score = alert.astype(float)
    inc = group_incidents(ts, host, score, alert, gap_s=60, truth=truth, host_names=["a", "b", "c"])
    m = incident_measures(inc, ts=ts, host=host, alert=alert, truth=truth, host_names=["a", "b", "c"])
    assert m["benign_days"] == pytest.approx(2.0)
    assert m["false_incidents_benign"] == 2 and m["false_incidents_per_day"] == pytest.approx(1.0)
    assert m["incidents_on_uninfected_hosts"] == 1  # host b at 2 days + 8 s
    assert m["infected_hosts"] == 1 and m["detected_share"] == 1.0
    assert m["time_to_detect_s"] == {"c": pytest.approx(5.0)} and m["worst_time_to_detect_s"] == pytest.approx(5.0)
    # benign-only traffic: every incident is false, over the whole span
    m = incident_measures(inc, ts=ts, host=host, alert=alert, truth=None)
    assert m["infected_hosts"] == 0 and m["detected_share"] is None
    assert m["false_incidents_benign"] == len(inc)


def packets_of(l3, ip_src=None, eth_src=None):
    n = len(l3)
    p = Packets.empty(n)
    p.l3[:] = l3
    if ip_src is not None:
        for i, a in enumerate(ip_src):
            p.ip_src[i, :len(a)] = list(a)
    if eth_src is not None:
        p.eth_src[:] = eth_src
    return p


def test_hosts_are_source_ips_or_macs_stable_across_chunks():
    v6 = bytes.fromhex("fe800000000000000000000000000001")
    p = packets_of([1, 3, 2, 0, 1], ip_src=[(192, 168, 2, 108), (192, 168, 2, 1), v6, (), (10, 0, 0, 1)],
                   eth_src=[1, 0x001A2B3C4D5E, 2, 0x001A2B3C4D5E, 3])
    t = HostTable()
    ids = t.ids(p)
    assert [t.names[i] for i in ids] == ["192.168.2.108", "00:1a:2b:3c:4d:5e", "fe80::1", "00:1a:2b:3c:4d:5e",
                                         "10.0.0.1"]
    again = t.ids(p.take(slice(2, 5)))
    assert again.tolist() == ids[2:].tolist() and len(t) == 4
    p.l4[:] = [2, 0, 0, 0, 1]
    p.sport[:] = [53, 0, 0, 0, 80]
    f = flow_fields(p, [0, 1])
    assert f[0]["src_ip"] == "192.168.2.108" and f[0]["proto"] == "UDP" and f[0]["src_port"] == 53
    assert f[1]["proto"] == "ARP" and f[1]["src_port"] is None


def test_measures_take_the_infected_hosts_when_known():
    ts = np.arange(6, dtype=float)
    host = np.array([0, 1, 0, 1, 2, 2])
    truth = np.array([0, 1, 1, 1, 0, 0], bool)  # host 1's packets: a scanned device's replies
    alert = np.array([0, 0, 0, 1, 0, 0], bool)
    inc = group_incidents(ts, host, alert.astype(float), alert, truth=truth, host_names=["a", "b", "c"])
    m = incident_measures(inc, ts=ts, host=host, alert=alert, truth=truth, host_names=["a", "b", "c"],
                          infected=["a", "c"])
    assert m["infected_hosts"] == 2 and m["detected_hosts"] == 0
    assert m["time_to_detect_s"] == {"a": None, "c": None}
    m = incident_measures(inc, ts=ts, host=host, alert=alert, truth=truth, host_names=["a", "b", "c"])
    assert m["infected_hosts"] == 2 and m["time_to_detect_s"] == {"a": None, "b": pytest.approx(2.0)}


def test_a_simulators_host_ids_and_phase_codes_are_taken_as_they_are():
    # host -1 ("no known host") and integer phase codes into a names list, as nidslab.simulate.networks gives
    ts, host, score, alert, truth, phase = hand_series()
    host = np.where(host == 1, -1, host)
    codes = np.select([phase == "scan", phase == "flood"], [1, 5], 0)
    names = ["benign", "scan", "bruteforce", "loader", "propagation", "flood"]
    inc = group_incidents(ts, host, score, alert, gap_s=30, truth=truth, phase=codes, phase_names=names,
                          host_names=["a"])
    assert [(i.host, i.phases) for i in inc] == [("a", ["scan"]), ("-1", []), ("a", ["flood"])]
    m = incident_measures(inc, ts=ts, host=host, alert=alert, truth=truth, host_names=["a"])
    assert m["infected_hosts"] == 1 and m["time_to_detect_s"] == {"a": pytest.approx(0.0)}
