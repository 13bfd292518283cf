"""The contact rule (nidslab.contacts): login accepts read from packets, and incidents opened on contact."""

from __future__ import annotations

import numpy as np

from nidslab.contacts import contact_alerts, login_accepts, rule_inputs
from nidslab.generalise.measure import incident_table, measure_network


def test_only_a_syn_ack_from_a_login_port_accepts_a_login():
    #            SYN-ACK 23, SYN-ACK 2323, RST-ACK 23, SYN to 23, SYN-ACK 80, UDP from 23, SYN-ACK+RST 23
    l4 = np.array([1, 1, 1, 1, 1, 2, 1], np.uint8)
    sport = np.array([23, 2323, 23, 40000, 80, 23, 23], np.uint16)
    flags = np.array([0x12, 0x12, 0x14, 0x02, 0x12, 0, 0x16], np.uint8)
    assert login_accepts(l4, sport, flags).tolist() == [True, True, False, False, False, False, False]


def test_contacts_follow_a_chain_of_logins_while_incidents_are_open():
    # host 0 scans (alerts at 10, 12); 1 accepts a login from 0 at 15; 2 from 1 at 30; 3 from 2 at 200, when 2's
    # incident (its one contact alert at 30) closed at 90; 4 from 0 at 300, long after; 5 accepts from itself
    ts = np.array([10, 12, 15, 30, 200, 300, 310.0])
    host = np.array([0, 0, 1, 2, 3, 4, 5])
    peer = np.array([9, 9, 0, 1, 2, 0, 5])
    accepts = np.array([0, 0, 1, 1, 1, 1, 1], bool)
    alerts = np.array([1, 1, 0, 0, 0, 0, 0], bool)
    out, contact = contact_alerts(ts, host, peer, accepts, alerts, gap_s=60.0)
    assert out.tolist() == [True, True, True, True, False, False, False]
    assert contact.tolist() == [False, False, True, True, False, False, False]
    h, start, _ = incident_table(ts, host, out, gap_s=60.0)
    assert sorted(zip(h.tolist(), start.tolist())) == [(0, 10.0), (1, 15.0), (2, 30.0)]
    # a longer gap keeps 2's incident open at 200: the chain goes on; no alert at all: nothing is added
    assert contact_alerts(ts, host, peer, accepts, alerts, gap_s=200.0)[0].tolist()[:5] == [True] * 5
    assert not contact_alerts(ts, host, peer, accepts, np.zeros(7, bool), gap_s=60.0)[0].any()
    # a login accepted from the Internet (id 9 here) is an alert with no incident open anywhere
    out, contact = contact_alerts(ts, host, np.where(host == 4, 9, peer), accepts, np.zeros(7, bool), gap_s=60.0,
                                  outside=(9,))
    assert out.tolist() == contact.tolist() == [False, False, False, False, False, True, False]


def test_an_incident_that_starts_after_the_login_adds_nothing():
    ts = np.array([5.0, 10.0])
    host, peer = np.array([1, 0]), np.array([0, 9])
    out, contact = contact_alerts(ts, host, peer, np.array([True, False]), np.array([False, True]), gap_s=60.0)
    assert out.tolist() == [False, True] and not contact.any()


def test_a_victim_found_on_contact_is_counted_as_such():
    # host 0 is a bot (its alerts from 0 s); host 1's first malicious packet is its SYN-ACK to it at 3 s, its
    # own attack traffic (alerted) starts at 40 s
    ts = np.array([0.0, 1.0, 3.0, 40.0, 41.0])
    host, peer = np.array([0, 0, 1, 1, 1]), np.array([7, 7, 0, 7, 7])
    truth = np.array([1, 1, 1, 1, 1], np.uint8)
    model = np.array([True, True, False, True, True])
    accepts = np.array([False, False, True, False, False])
    kw = {"onset_s": 0.0, "infected": np.array([1]), "eval_from_s": 0.0, "threshold": 0.5}
    without = measure_network("n", ts, host, truth, model, **kw)
    alerts, contact = contact_alerts(ts, host, peer, accepts, model, gap_s=60.0)
    with_ = measure_network("n", ts, host, truth, alerts, contact=contact, **kw)
    assert without.times_to_incident_s == [37.0] and without.detected_by_contact == 0
    assert with_.times_to_incident_s == [0.0] and with_.detected_by_contact == 1


def test_a_family_network_knows_whom_each_victim_answered(tmp_path):
    from nidslab.data.family import build_family
    from nidslab.generalise.networks import from_family

    fam = build_family(1, first=3, benign_s=60, attack_scale=0.25, captures=True, name=str(tmp_path / "fam"))
    net = from_family(fam, 3)
    assert net.peer is not None and net.accepts is not None and len(net.peer) == len(net)
    hosts = fam.network(3).hosts
    for h in net.infected:  # it accepted its infector's telnet SYN: the Internet, the operator's machine or a bot
        first = np.flatnonzero((net.host == h) & (net.truth == 1) & net.accepts)[0]
        assert net.peer[first] == -2 or hosts[net.peer[first]]["kind"] == "attacker" or net.peer[first] in net.infected
    assert not net.accepts[net.truth == 0].any()  # the population's benign devices never accept telnet
    sub = net.rows(slice(10, 20))
    assert len(sub.peer) == len(sub.accepts) == 10


def _frame(src_ip, dst_ip, sport, dport, flags, src_mac=1, dst_mac=2) -> bytes:
    import struct

    tcp = struct.pack("!HHIIHHHH", sport, dport, 0, 0, 0x5000 | flags, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, bytes(src_ip), bytes(dst_ip))
    return dst_mac.to_bytes(6, "big") + src_mac.to_bytes(6, "big") + b"\x08\x00" + ip + tcp


def test_a_capture_gives_incidents_on_contact_in_both_forms(tmp_path):
    """A bot (10.0.0.5) scans; 10.0.0.9 accepts its telnet SYN; 10.0.0.7 accepts a telnet SYN from an Internet
    address; 10.0.0.8 refuses the bot (RST). Only the bot's packets are the model's alerts."""
    from nidslab.features import write_pcap
    from nidslab.incidents import IncidentTracker, group_incidents
    from nidslab.predict import capture_rows

    bot, victim, exposed, closed, far = (10, 0, 0, 5), (10, 0, 0, 9), (10, 0, 0, 7), (10, 0, 0, 8), (93, 184, 216, 34)
    frames = [_frame(bot, victim, 40000, 23, 0x02)] * 4 + [
        _frame(victim, bot, 23, 40000, 0x12, 3, 1),    # t=4: accepts the bot's login
        _frame(closed, bot, 23, 40000, 0x14, 4, 1),    # t=5: refuses it
        _frame(exposed, far, 23, 50000, 0x12, 5, 9),   # t=6: accepts a login from the Internet
        _frame(victim, bot, 80, 40001, 0x12, 3, 1),    # t=7: a web answer, not a login
    ]
    path = tmp_path / "contacts.pcap"
    write_pcap(path, np.arange(len(frames), dtype=float), frames)
    rows = capture_rows(path)
    assert rows.accepts.tolist() == [False] * 4 + [True, False, True, False]
    names = rows.host_names
    assert [names[p] for p in rows.peer[rows.accepts]] == ["10.0.0.5", "93.184.216.34"]
    assert [names[i] for i in rows.outside] == ["93.184.216.34"]
    alert = np.array([names[h] == "10.0.0.5" for h in rows.host])
    score = alert.astype(np.float32)
    rule = rule_inputs(rows)
    assert rule_inputs(rows, False) == {}
    whole = group_incidents(rows.times, rows.host, score, alert, host_names=names, **rule)
    got = {i.host: i.contact for i in whole}
    assert got == {"10.0.0.5": None, "10.0.0.9": {"from": "10.0.0.5", "time": 4.0, "index": 4},
                   "10.0.0.7": {"from": "93.184.216.34", "time": 6.0, "index": 6}}
    assert whole[1].to_dict()["contact"] == got["10.0.0.9"] and whole[0].to_dict()["contact"] is None
    without = group_incidents(rows.times, rows.host, score, alert, host_names=names, **rule_inputs(rows, False))
    assert [i.host for i in without] == ["10.0.0.5"]
    tracker = IncidentTracker(host_names=names)
    for a in range(0, len(frames), 3):  # chunks of 3: the bot's incident is open from an earlier chunk
        s = slice(a, a + 3)
        tracker.update(rows.times[s], rows.host[s], score[s], alert[s], index=rows.packets.index[s],
                       peer=rows.peer[s], accepts=rows.accepts[s], outside=rows.outside)
    tracker.finish()
    assert sorted((i.host, i.start, str(i.contact)) for i in tracker.closed) == \
        sorted((i.host, i.start, str(i.contact)) for i in whole)
