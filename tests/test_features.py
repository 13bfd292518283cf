"""AfterImage features: equality with the Kitsune-py reference, the released layout's properties,
and the statistics themselves on captures small enough to compute by hand."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import shared_file

from nidslab import schema
from nidslab.features import (
    FeatureExtractor,
    Packets,
    column_names,
    extract_features,
    iter_features,
    read_packets,
    write_pcap,
)

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def udp_frame(src_ip, dst_ip, sport, dport, size, src_mac=MAC_A, dst_mac=MAC_B) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 0, 0, 64, 17, 0, bytes(src_ip), bytes(dst_ip))
    udp = struct.pack("!HHHH", sport, dport, size - 34, 0)
    return (dst_mac + src_mac + b"\x08\x00" + ip + udp).ljust(size, b"\0")


A, B = (10, 0, 0, 1), (10, 0, 0, 2)


@pytest.fixture(scope="module")
def mirai():
    return shared_file("kitsune-mirai", "mirai2000.pcap")


def test_kitsune_py_layout_equals_reference_output(mirai):
    ref_csv = shared_file("kitsune-mirai", "mirai2000.kitsune-py-features.csv")
    header = ref_csv.open().readline().strip().split(",")
    ref = np.loadtxt(ref_csv, delimiter=",", skiprows=1)
    X = extract_features(mirai, layout="kitsune-py")
    assert list(column_names("kitsune-py")) == header
    assert X.dtype == np.float32 and X.shape == ref.shape == (2000, 100)
    err = np.abs(X.astype(np.float64) - ref)
    bad = err > 1e-9 + 1e-6 * np.abs(ref)
    rows, cols = np.nonzero(bad)
    assert not bad.any(), f"{bad.sum()} cells differ, first at row {rows[0]} column {header[cols[0]]}"


def test_uci_layout_has_the_released_tables_properties(mirai):
    X = extract_features(mirai).astype(np.float64)
    assert X.shape == (2000, 115) and np.isfinite(X).all()
    col = schema.INDEX
    assert list(column_names("uci")) == list(schema.FEATURE_NAMES)
    # H_ repeats MI_dir_; the HH 1D part is the channel's, so its weight is the jitter's
    np.testing.assert_array_equal(X[:, 15:30], X[:, 0:15])
    for lam in schema.LAMBDA_LABELS:
        np.testing.assert_array_equal(X[:, col[f"HH_L{lam}_weight"]], X[:, col[f"HH_jit_L{lam}_weight"]])
    # Septets: magnitude and radius combine this channel (a) with the reverse one (b). The mean
    # and variance of a stream do not change with decay, so b's are those of the row where b
    # last sent. Rebuild them from the packets and check every row.
    p = read_packets(mirai)
    ends = [_channel_ends(p, i) for i in range(len(p))]
    for group, sock in (("HH", False), ("HpHp", True)):
        for lam in schema.LAMBDA_LABELS:
            c = {s: col[f"{group}_L{lam}_{s}"] for s in schema.STATS_2D}
            last: dict = {}
            mean_b = np.zeros(len(p))
            var_b = np.zeros(len(p))
            for i, (src, dst) in enumerate(e[sock] for e in ends):
                if (dst, src) in last:
                    j = last[(dst, src)]
                    mean_b[i], var_b[i] = X[j, c["mean"]], X[j, c["std"]] ** 2
                last[(src, dst)] = i
                if src == dst:  # a self channel is its own reverse
                    mean_b[i], var_b[i] = X[i, c["mean"]], X[i, c["std"]] ** 2
            mean_a, var_a = X[:, c["mean"]], X[:, c["std"]] ** 2
            np.testing.assert_allclose(X[:, c["magnitude"]], np.hypot(mean_a, mean_b), rtol=1e-5)
            np.testing.assert_allclose(X[:, c["radius"]], np.hypot(var_a, var_b), rtol=1e-4, atol=1e-6)


def _channel_ends(p: Packets, i: int):
    """((src, dst) host, (src, dst) socket) of packet i, by the reference's rules."""
    if p.l3[i] in (1, 3):
        src, dst = bytes(p.ip_src[i, :4]), bytes(p.ip_dst[i, :4])
    elif p.l3[i] == 2:
        src, dst = bytes(p.ip_src[i]), bytes(p.ip_dst[i])
    else:
        src, dst = int(p.eth_src[i]), int(p.eth_dst[i])
    if p.l3[i] == 3:
        sock = (int(p.eth_src[i]), int(p.eth_dst[i]))
    elif p.l4[i] in (1, 2):
        sock = ((src, int(p.sport[i])), (dst, int(p.dport[i])))
    else:
        sock = ((src, p.l4[i]), (dst, p.l4[i]))
    return (src, dst), sock


def test_uci_value_ranges_resemble_the_released_rows(mirai):
    X = extract_features(mirai).astype(np.float64)
    R = np.loadtxt(shared_file("kitsune-mirai", "released-features-100rows.csv"), delimiter=",")
    assert R.shape[1] == X.shape[1] == 115
    for name in schema.FEATURE_NAMES:
        c = schema.INDEX[name]
        if name.rsplit("_", 1)[1] in ("weight", "variance", "std", "magnitude", "radius"):
            assert X[:, c].min() >= 0 and R[:, c].min() >= 0, name
        if name.endswith("_mean") and not name.startswith("HH_jit"):  # packet sizes in bytes
            for v in (X[:, c], R[:, c]):
                assert 42 <= np.median(v) <= 1514, name
        if name == "HH_jit_L0.01_variance":  # first gap measured from the epoch: ~1e9 s values
            assert np.median(X[:, c]) > 1e8 and np.median(R[:, c]) > 1e8
        if name.endswith("_weight"):  # decayed packet counts: same order of magnitude
            ratio = np.median(X[:, c]) / np.median(R[:, c])
            assert 0.1 < ratio < 10, (name, ratio)


def test_one_dimensional_statistics_by_hand(tmp_path):
    # Three packets at the same instant: no decay, so weight = count, plain mean and variance.
    sizes = [100, 200, 600]
    path = tmp_path / "burst.pcap"
    write_pcap(path, [1000.0] * 3, [udp_frame(A, B, 5000, 53, s) for s in sizes])
    X = extract_features(path)
    for lam in schema.LAMBDA_LABELS:
        row = X[2, [schema.INDEX[f"MI_dir_L{lam}_{s}"] for s in ("weight", "mean", "variance")]]
        np.testing.assert_allclose(row, [3, 300, np.var(sizes)], rtol=1e-6)


def test_decay_halves_weight_after_one_half_life(tmp_path):
    # lambda = 1/s: a packet 1 s after the first sees the first at weight 1/2.
    path = tmp_path / "two.pcap"
    write_pcap(path, [50.0, 51.0], [udp_frame(A, B, 5000, 53, 100), udp_frame(A, B, 5000, 53, 300)])
    X = extract_features(path).astype(np.float64)
    w = X[1, schema.INDEX["MI_dir_L1_weight"]]
    mean = X[1, schema.INDEX["MI_dir_L1_mean"]]
    assert w == pytest.approx(1.5)
    assert mean == pytest.approx((0.5 * 100 + 300) / 1.5)
    # jitter: the released tables measure a new channel's first gap from t = 0
    assert X[0, schema.INDEX["HH_jit_L5_mean"]] == pytest.approx(50.0)
    K = extract_features(path, layout="kitsune-py")  # the reference starts it at 0 s
    assert K[0, list(column_names("kitsune-py")).index("HH_jit_5_mean")] == 0


def test_reverse_channel_feeds_magnitude_and_covariance(tmp_path):
    # A->B 100, B->A 300, B->A 500, A->B 700, all at one instant (no decay).
    frames = [udp_frame(A, B, 5000, 53, 100), udp_frame(B, A, 53, 5000, 300, MAC_B, MAC_A),
              udp_frame(B, A, 53, 5000, 500, MAC_B, MAC_A), udp_frame(A, B, 5000, 53, 700)]
    path = tmp_path / "pingpong.pcap"
    write_pcap(path, [1.0] * 4, frames)
    X = extract_features(path).astype(np.float64)
    c = {s: schema.INDEX[f"HH_L5_{s}"] for s in schema.STATS_2D}
    assert X[1, c["magnitude"]] == pytest.approx(np.hypot(300, 100))  # reply: own mean 300, A->B 100
    last = X[3, [c[s] for s in schema.STATS_2D]]
    # A->B: 100, 700 (mean 400, std 300); B->A: 300, 500 (mean 400, std 100). Residual products:
    # only the last packet pairs a non-zero residual (700 - 400) with B's last one (500 - 400),
    # over 4 link updates: covariance 30000 / 4, correlation 7500 / (300 * 100).
    np.testing.assert_allclose(
        last, [2, 400, 300, np.hypot(400, 400), np.hypot(300**2, 100**2), 7500, 0.25], rtol=1e-6
    )


def test_chunked_and_iterated_extraction_equal_whole(mirai):
    whole = extract_features(mirai, layout="kitsune-py")
    np.testing.assert_array_equal(extract_features(mirai, layout="kitsune-py", chunk=97), whole)
    parts = list(iter_features(mirai, layout="kitsune-py", chunk=500))
    assert [len(x) for x in parts] == [500] * 4
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    packets = read_packets(mirai)
    live = (packets.take(slice(i, i + 300)) for i in range(0, len(packets), 300))
    np.testing.assert_array_equal(np.concatenate(list(iter_features(live, layout="kitsune-py"))), whole)
    fx = FeatureExtractor("uci")
    np.testing.assert_array_equal(fx.transform(packets), extract_features(mirai))


def test_limit_and_progress(mirai):
    calls = []
    X = extract_features(mirai, limit=250, chunk=100, progress=lambda d, t, m="": calls.append((d, t)))
    assert X.shape == (250, 115)
    assert calls == [(100, 250), (200, 250), (250, 250)]
    np.testing.assert_array_equal(X, extract_features(mirai)[:250])


def test_unknown_layout_is_named():
    with pytest.raises(ValueError, match="unknown feature layout 'nbaiot'.*uci"):
        column_names("nbaiot")


def _two_hosts_pcap(path):
    write_pcap(path, [1000.0 + 0.01 * i for i in range(40)],
               [udp_frame(A if i % 3 else B, B if i % 3 else A, 5000 + i % 4, 53, 80 + i) for i in range(40)])
    return path


def test_the_background_compile_builds_the_link_kernel_that_extraction_calls(tmp_path):
    from nidslab.features import extract, links

    extract.compile_link_kernel()
    for layout in ("uci", "kitsune-py"):
        extract_features(_two_hosts_pcap(tmp_path / "two.pcap"), layout=layout)
    assert len(links.update_1d2d.signatures) == 1  # made-up packets and a capture: one specialisation


def test_extraction_waits_for_a_background_compile_and_gives_the_same_rows(tmp_path, monkeypatch):
    from nidslab.features import extract, links

    path = _two_hosts_pcap(tmp_path / "two.pcap")
    before = extract_features(path)
    cache_file = links.update_1d2d._cache._cache_file
    monkeypatch.setattr(cache_file, "_load_index", lambda: {})  # as on a fresh checkout: no cached kernel
    assert extract.compile_link_kernel_in_background()
    assert len(extract._BACKGROUND) == 1
    np.testing.assert_array_equal(extract_features(path), before)
    assert extract._BACKGROUND == []
