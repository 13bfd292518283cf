"""The population of simulated networks: drawing, validation, captures, network 0 bit for bit, the family dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import dpkt
import numpy as np
import pytest
from typer.testing import CliRunner

from nidslab.errors import ConfigError
from nidslab.simulate import pcapgen as pg
from nidslab.simulate import simulate_capture
from nidslab.simulate.networks import PHASES, simulate_network, simulate_network_table
from nidslab.simulate.population import KINDS, VARIANTS, VECTORS, draw_network, population_table

TINY = {"benign_s": 30.0, "attack_scale": 0.05}
# sha256 of simulate_capture(packets=3000, seed=7) taken before the population existed (commit 10735f7)
NETWORK0_3000_S7 = "66d0f97d4bf1ee2735b6c163415da07c7b00e21dc65cc0e0e3c10e4122966156"


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_network_seed_draws_the_same_network_and_others_differ():
    a, b, c = draw_network(4), draw_network(4), draw_network(5)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    assert json.dumps(a.to_dict(), sort_keys=True) != json.dumps(c.to_dict(), sort_keys=True)
    with pytest.raises(ConfigError, match="network 0"):
        draw_network(0)


def test_fifty_drawn_networks_validate_and_cover_the_population():
    specs = [draw_network(n) for n in range(1, 51)]
    for s in specs:
        s.validate()
        json.dumps(s.to_dict())  # JSON-able, for meta.json
    kinds = {d.kind for s in specs for d in s.devices}
    assert kinds == set(KINDS)
    assert {v for s in specs for v in s.outbreak.vectors} == set(VECTORS)
    assert {s.outbreak.variant for s in specs} == set(VARIANTS)
    assert {s.uplink_reachable for s in specs} == {True, False}
    assert {s.outbreak.cnc_inside for s in specs} == {True, False}
    assert all(s.outbreak.cnc_inside for s in specs if not s.uplink_reachable)  # nothing outside reaches it
    assert len({len(s.devices) for s in specs}) > 5
    rows = population_table(range(1, 4))
    assert [r["network"] for r in rows] == [1, 2, 3] and rows[0]["devices"] == len(specs[0].devices)


def test_validation_refuses_a_broken_network():
    s = draw_network(3)
    with pytest.raises(ConfigError, match="victims"):
        dataclasses.replace(s, outbreak=dataclasses.replace(s.outbreak, victims=("nobody",))).validate()
    with pytest.raises(ConfigError, match="vectors"):
        dataclasses.replace(s, outbreak=dataclasses.replace(s.outbreak, vectors=("teardrop",))).validate()
    twin = dataclasses.replace(s.devices[2], name="twin")
    with pytest.raises(ConfigError, match="share an address"):
        dataclasses.replace(s, devices=[*s.devices, twin]).validate()


def test_network_zero_is_todays_mirai_sim_bit_for_bit(tmp_path):
    sim = simulate_network(tmp_path / "n0.pcap", 0, packets=3000, seed=7)
    assert _sha(sim.path) == NETWORK0_3000_S7
    ref = simulate_capture(tmp_path / "ref.pcap", packets=3000, seed=7)
    assert _sha(ref.path) == NETWORK0_3000_S7
    assert np.array_equal(sim.truth, ref.labels_truth) and sim.onset_index == ref.onset_index
    assert np.all((sim.phase > 0) == (sim.truth > 0))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("pop")
    return [simulate_network(d / f"n{n}.pcap", n, **TINY) for n in (1, 2, 3)]


def test_small_captures_are_valid_and_labelled_per_packet(small):
    for sim in small:
        with open(sim.path, "rb") as fh:
            frames = list(dpkt.pcap.Reader(fh))
        assert len(frames) == sim.n_packets == len(sim.truth) == len(sim.phase) == len(sim.host) == len(sim.time)
        ts = np.array([t for t, _ in frames])
        assert np.all(np.diff(ts) >= 0) and np.allclose(ts, sim.time, atol=1e-6)
        assert max(len(b) for _, b in frames) <= 1514
        for _, buf in frames[::7]:  # IPv4 header checksums hold
            eth = dpkt.ethernet.Ethernet(buf)
            if isinstance(eth.data, dpkt.ip.IP):
                h = np.frombuffer(buf[14:34], ">u2").astype(np.int64).sum()
                while h >> 16:
                    h = (h & 0xFFFF) + (h >> 16)
                assert h == 0xFFFF
        assert np.array_equal(sim.truth, (sim.phase > 0).astype(np.uint8))
        on = sim.onset_index
        assert sim.truth[:on].sum() == 0 and sim.truth[on] == 1
        assert sim.time[on] >= sim.onset_time - 1e-6
        assert sim.onset_time - sim.start_time == pytest.approx(TINY["benign_s"])
        assert sim.time[0] - sim.start_time < 5.0
        present = {PHASES[p] for p in np.unique(sim.phase)}
        assert {"benign", "scan", "bruteforce", "loader", "propagation", "flood"} <= present
        victims = [i for i, h in enumerate(sim.hosts) if h["infected"]]
        assert victims and all(sim.hosts[i]["infected_at"] is not None for i in victims)
        for i in victims:  # each victim sends malicious packets once infected
            assert sim.truth[sim.host == i].sum() > 0
        unreach = sum(1 for _, b in frames if isinstance(dpkt.ethernet.Ethernet(b).data, dpkt.ip.IP)
                      and isinstance(dpkt.ethernet.Ethernet(b).data.data, dpkt.icmp.ICMP)
                      and dpkt.ethernet.Ethernet(b).data.data.type == 3)
        assert (unreach > 0) == (not sim.spec.uplink_reachable)


def test_same_network_same_bytes(small, tmp_path):
    again = simulate_network(tmp_path / "again.pcap", 2, **TINY)
    assert _sha(again.path) == _sha(small[1].path)
    assert np.array_equal(again.host, small[1].host)


def test_benign_prefix_is_a_parameter_and_stays_clean(tmp_path):
    short = simulate_network(tmp_path / "s.pcap", 6, benign_s=20, attack_scale=0.05)
    long = simulate_network(tmp_path / "l.pcap", 6, benign_s=400, attack_scale=0.05)
    assert long.truth[: long.onset_index].sum() == 0
    assert long.onset_time - long.start_time == pytest.approx(400)
    ratio = long.onset_index / max(short.onset_index, 1)
    assert 8 < ratio < 40  # benign packets grow with the benign time (20 s -> 400 s)


@pytest.mark.parametrize("vector", list(VECTORS))
def test_every_attack_vector_floods(vector):
    s = draw_network(2)
    s = dataclasses.replace(s, outbreak=dataclasses.replace(s.outbreak, vectors=(vector,), flood_pps=200.0))
    tab, _, _ = simulate_network_table(s, benign_s=5, attack_scale=0.05)
    flood = tab["label"] == PHASES.index("flood")
    assert flood.sum() > 50
    k, dport = tab["kind"][flood], tab["dport"][flood]
    expect = {"udp": k == pg.UDP, "udpplain": k == pg.UDP, "vse": dport == 27015, "dns": dport == 53,
              "syn": tab["flags"][flood] == pg.SYN, "ack": tab["flags"][flood] == pg.ACK,
              "stomp": k == pg.TCP, "greip": k == pg.GRE, "greeth": k == pg.GRE, "http": k == pg.TCP}[vector]
    assert expect.mean() > 0.9
    if vector in ("greip", "greeth"):  # the GRE frames parse: outer IPv4 proto 47, inner IPv4 / Ethernet
        rows = np.flatnonzero(flood)[:5]
        buf = pg.assemble(pg.take(tab, rows))
        for _, frame in dpkt.pcap.Reader(__import__("io").BytesIO(buf.tobytes())):
            ip = dpkt.ethernet.Ethernet(frame).data
            assert ip.p == 47
            proto = int.from_bytes(bytes(ip.data)[2:4], "big")
            assert proto == (0x6558 if vector == "greeth" else 0x0800)


def test_family_dataset_of_three_tiny_networks(tmp_path):
    from nidslab.data.family import build_family, open_family
    from nidslab.features import extract_features

    fam = build_family(3, benign_s=20, attack_scale=0.05, name=str(tmp_path / "fam"))
    assert fam.networks == [1, 2, 3]
    ds = fam.dataset
    assert ds.X.shape[1] == 115 and set(np.unique(ds.arrays["network"])) == {1, 2, 3}
    meta = json.loads((ds.path / "meta.json").read_text())
    assert meta["extra"]["build"]["networks"] == 3 and meta["extra"]["build"]["packets"] == ds.n_rows
    assert {f"captures/net-000{n}.pcap" for n in (1, 2, 3)} <= set(meta["files"])
    net = fam.network(2)
    assert np.array_equal(np.asarray(net.X), extract_features(fam.capture(2), layout="uci"))
    assert np.array_equal(np.asarray(net.truth), (np.asarray(net.phase) > 0).astype(np.uint8))
    assert net.kitsune[: int(np.argmax(net.truth))].sum() == 0 and net.kitsune[-1] == 1
    assert net.benign_s == pytest.approx(20) and net.hosts
    again = open_family(str(tmp_path / "fam"))
    assert again.networks == [1, 2, 3]
    split = fam.split(test=1, validation=1, seed=0)
    parts = [set(split.train_networks), set(split.validation_networks), set(split.test_networks)]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    netcol = ds.arrays["network"]
    for rows, nets in zip((split.train, split.validation, split.test), parts):
        assert set(np.unique(netcol[rows])) == nets
    assert len(split.train) + len(split.validation) + len(split.test) == ds.n_rows


def test_cli_simulate_network_and_show(tmp_path):
    from nidslab.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["simulate", "--network", "3", "--show"])
    assert r.exit_code == 0, r.output
    assert "router" in r.output and "outbreak" in r.output
    out = tmp_path / "n3.pcap"
    r = runner.invoke(app, ["simulate", "--network", "3", "--benign-s", "10", "--attack-scale", "0.05", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and "flood" in r.output
    import pyarrow.csv as pacsv

    from nidslab.features import read_packets
    from nidslab.simulate.networks import PHASES

    labels = pacsv.read_csv(tmp_path / "n3.labels.csv")  # one row per packet, beside the capture
    assert labels.column_names == ["truth", "kitsune", "phase"] and labels.num_rows == len(read_packets(out))
    truth, phase = labels["truth"].to_numpy(), labels["phase"].to_numpy(zero_copy_only=False)
    assert set(phase) <= set(PHASES) and truth.any() and ((phase != "benign") == (truth == 1)).all()
    r = runner.invoke(app, ["simulate", "--network", "3"])
    assert r.exit_code != 0 and "--output" in r.output


def test_cli_builds_a_family_from_a_first_network():
    from nidslab.cli import app
    from nidslab.data.family import family_name, open_family

    r = CliRunner().invoke(app, ["data", "build", "mirai-sim-family", "--networks", "2", "--first", "9",
                                 "--benign-s", "10", "--attack-scale", "0.05", "--no-captures", "--firmware-x", "144"])
    assert r.exit_code == 0, r.output
    name = family_name(2, first=9, benign_s=10, attack_scale=0.05, firmware_x=144)
    assert name == "mirai-sim-family-n2from9-b10-a0.05-fw144"
    fam = open_family("mirai-sim-family", networks=2, first=9, benign_s=10, attack_scale=0.05, firmware_x=144)
    assert fam.networks == [9, 10] and fam.dataset.name == name
    assert fam.dataset.meta["extra"]["build"]["captures"] is False
    assert fam.dataset.meta["extra"]["build"]["firmware_x"] == 144


def test_a_download_acknowledges_every_second_segment():
    """Delayed ACK (RFC 1122 4.2.3.2): the client acknowledges each second full segment while more data
    follows, then the whole response once; the segments come ``segment_gap`` apart."""
    from nidslab.simulate.devices import _tls_steps

    steps = _tls_steps(0.05, 300, 10 * 1448, segment_gap=0.004)
    request = max(i for i, s in enumerate(steps) if s[0] == 0 and s[2] == 300)
    tail = steps[request + 1:]
    data = [i for i, s in enumerate(tail) if s[0] == 1 and s[2] > 0]
    acks = [i for i, s in enumerate(tail) if s[0] == 0 and s[2] == 0 and s[1] == pg.ACK]
    assert len(data) == 10 and sum(tail[i][2] for i in data) == 10 * 1448
    assert [a for a in acks if a < data[-1]] == [data[k] + 1 for k in (1, 3, 5, 7)]  # after segments 2, 4, 6, 8
    assert acks[4] == data[-1] + 1  # the response's own ACK
    assert {tail[i][3] for i in data[1:]} == {0.004}
    small = _tls_steps(0.05, 300, 1000)  # one segment: no ACK inside it
    # handshake, server flight, response, close: no ACK inside a one-segment response
    assert sum(1 for s in small if s[0] == 0 and s[2] == 0 and s[1] == pg.ACK) == 4


def test_a_phone_app_polls_a_device_on_the_lan_in_spells():
    """Every drawn phone has an app that, while open, opens a new HTTP connection to one hub, plug or camera
    of its LAN every poll_interval_s ([sentinel] HueSwitch): SYN to port 80 from a fresh port, 11 packets."""
    from nidslab.simulate.devices import POLLED_KINDS, benign_traffic, lan_ip

    spec = draw_network(3)
    phones = [d for d in spec.devices if d.kind == "phone"]
    assert phones and all({"poll_spells_per_s", "poll_spell_s", "poll_interval_s"} <= set(d.rates) for d in phones)
    lan = {lan_ip(spec, d.last): d for d in spec.devices}
    tab = benign_traffic(spec, 3, 0.0, 3600.0)
    syn = (tab["kind"] == pg.TCP) & (tab["flags"] == pg.SYN) & (tab["dport"] == 80) & np.isin(tab["dip"], list(lan))
    assert syn.sum() > 20  # an hour holds spells of every phone (1-6 an hour each)
    for phone in phones:
        mine = syn & (tab["sip"] == lan_ip(spec, phone.last))
        targets = {lan[int(ip)].name for ip in tab["dip"][mine]}
        assert len(targets) <= 1 and all(spec.device(t).kind in POLLED_KINDS for t in targets)
        t = np.sort(tab["t"][mine])
        gaps = np.diff(t)
        inside = gaps[gaps < phone.rates["poll_spell_s"] / 2]  # polls of one spell
        if len(inside):
            assert np.median(inside) == pytest.approx(phone.rates["poll_interval_s"], rel=0.25)
        sport = tab["sport"][mine]
        assert len(np.unique(sport)) > 0.9 * len(sport)  # a new connection each time
    sessions = (tab["kind"] == pg.TCP) & ((tab["sport"] == 80) | (tab["dport"] == 80)) & np.isin(tab["sip"], list(lan)) \
        & np.isin(tab["dip"], list(lan))
    assert sessions.sum() == 11 * syn.sum()


def test_training_networks_can_download_firmware_more_often():
    """Augmentation for training (``GeneraliseConfig.firmware_x``): the same network with its firmware downloads
    x times as frequent, nothing else drawn differently; the family that holds such networks says so in its name."""
    from nidslab.data.family import family_name
    from nidslab.simulate.population import with_firmware_x

    spec = next(s for s in map(draw_network, range(1, 40))
                if s.uplink_reachable and sum("firmware_per_s" in d.rates for d in s.devices) >= 3)
    assert with_firmware_x(spec, 1) is spec
    boosted = with_firmware_x(spec, 144)
    assert boosted.outbreak == spec.outbreak and [d.name for d in boosted.devices] == [d.name for d in spec.devices]
    for d, b in zip(spec.devices, boosted.devices):
        assert b.sizes == d.sizes and set(b.rates) == set(d.rates)
        for k, v in d.rates.items():
            assert b.rates[k] == pytest.approx(v * 144 if k == "firmware_per_s" else v)
    with pytest.raises(ConfigError, match="firmware_x"):
        with_firmware_x(spec, 0)
    with pytest.raises(ValueError, match="network 0"):  # today's mirai-sim is not drawn: nothing to scale
        simulate_network("unused.pcap", 0, firmware_x=2.0)

    def cloud_segments(s) -> int:  # full-size TCP segments from port 443 before the outbreak
        tab, t_on, _ = simulate_network_table(s, benign_s=600, attack_scale=0.05)
        return int(((tab["kind"] == pg.TCP) & (tab["sport"] == 443) & (tab["plen"] >= 1400) & (tab["t"] < t_on)).sum())

    # about one download (0.2-4 MB: 140-2,800 segments) per device in 600 s, against one a day
    assert cloud_segments(boosted) > cloud_segments(spec) + 140
    assert family_name(24, firmware_x=144) == "mirai-sim-family-fw144" and family_name(24) == "mirai-sim-family"
