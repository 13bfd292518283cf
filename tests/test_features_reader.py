"""The capture reader: fields equal dpkt's, all libpcap variants and pcapng, and bad input."""

from __future__ import annotations

import struct
import warnings

import dpkt
import numpy as np
import pytest
from conftest import shared_file

from nidslab.errors import DataError
from nidslab.features import CaptureWarning, ReadReport, extract_features, read_packets, write_pcap

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def eth(payload: bytes, ethertype: int, src=MAC_A, dst=MAC_B) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def ipv4(proto: int, payload: bytes, src=(10, 0, 0, 1), dst=(10, 0, 0, 2), frag=0, ihl=5) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(payload), 0, frag, 64, proto, 0, bytes(src), bytes(dst))
    return head + payload


def udp(sport, dport, n=8) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + n, 0) + bytes(n)


def tcp(sport, dport, flags=0x10) -> bytes:
    return struct.pack("!HHIIHHHH", sport, dport, 0, 0, 0x5000 | flags, 1024, 0, 0)


def pcap_records(path):
    """(global header, [(sec, frac, caplen, wirelen, data)]) of a little-endian microsecond file."""
    raw = path.read_bytes()
    head, pos, out = raw[:24], 24, []
    while pos < len(raw):
        sec, frac, incl, orig = struct.unpack("<IIII", raw[pos : pos + 16])
        out.append((sec, frac, incl, orig, raw[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return head, out


def test_fields_equal_dpkt_on_the_reference_capture():
    path = shared_file("kitsune-mirai", "mirai2000.pcap")
    p = read_packets(path)
    assert len(p) == 2000 and not p.report.messages()
    with open(path, "rb") as fh:
        for i, (ts, buf) in enumerate(dpkt.pcap.Reader(fh)):
            e = dpkt.ethernet.Ethernet(buf)
            assert ts == p.ts[i] and len(buf) == p.cap_len[i]
            assert (e.src.hex(), e.dst.hex()) == (f"{p.eth_src[i]:012x}", f"{p.eth_dst[i]:012x}")
            ip = e.data
            if isinstance(ip, dpkt.ip.IP):
                assert p.l3[i] == 1 and (ip.src, ip.dst) == (bytes(p.ip_src[i, :4]), bytes(p.ip_dst[i, :4]))
                l4 = ip.data
                if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                    assert (l4.sport, l4.dport) == (p.sport[i], p.dport[i])
                    assert p.l4[i] == (1 if isinstance(l4, dpkt.tcp.TCP) else 2)
                    assert p.tcp_flags[i] == (l4.flags & 0xFF if isinstance(l4, dpkt.tcp.TCP) else 0)
                else:
                    assert p.l4[i] == (3 if isinstance(l4, dpkt.icmp.ICMP) else 0)
            elif isinstance(ip, dpkt.ip6.IP6):
                assert p.l3[i] == 2 and (ip.src, ip.dst) == (bytes(p.ip_src[i]), bytes(p.ip_dst[i]))
            elif isinstance(ip, dpkt.arp.ARP):
                assert p.l3[i] == 3 and (ip.spa, ip.tpa) == (bytes(p.ip_src[i, :4]), bytes(p.ip_dst[i, :4]))
            else:
                assert p.l3[i] == 0
    truncated = p.cap_len < p.wire_len
    assert truncated.sum() == 8 and (p.cap_len[truncated] == 200).all()


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanoseconds", [False, True])
def test_every_libpcap_variant_gives_the_same_features(tmp_path, big_endian, nanoseconds):
    src = shared_file("kitsune-mirai", "mirai2000.pcap")
    head, records = pcap_records(src)
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = [struct.pack(e + "I", magic) + b"".join(
        struct.pack(e + f, v) for f, v in zip("HHiIII", struct.unpack("<HHiIII", head[4:])))]
    for sec, frac, incl, orig, data in records[:600]:
        out.append(struct.pack(e + "IIII", sec, frac * 1000 if nanoseconds else frac, incl, orig) + data)
    path = tmp_path / "variant.pcap"
    path.write_bytes(b"".join(out))
    expected = extract_features(src, layout="kitsune-py", limit=600)
    np.testing.assert_array_equal(extract_features(path, layout="kitsune-py"), expected)


def test_pcapng_fields_equal_dpkt(tmp_path):
    src = shared_file("kitsune-mirai", "mirai2000.pcap")
    path = tmp_path / "capture.pcapng"
    with open(src, "rb") as fin, open(path, "wb") as fout:
        writer = dpkt.pcapng.Writer(fout)
        for (ts, buf), _ in zip(dpkt.pcap.Reader(fin), range(500)):
            writer.writepkt(buf, ts=ts)
    p = read_packets(path)
    assert len(p) == 500 and not p.report.messages()
    with open(path, "rb") as fh:
        ts, frames = zip(*dpkt.pcapng.Reader(fh))
    np.testing.assert_array_equal(p.ts, ts)
    np.testing.assert_array_equal(p.cap_len, [len(f) for f in frames])
    # Same packets as the libpcap original (timestamps went through integer microseconds).
    X = extract_features(path, layout="kitsune-py")
    np.testing.assert_allclose(X, extract_features(src, layout="kitsune-py", limit=500), rtol=1e-4, atol=1e-6)
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(path.read_bytes()[:-50])
    with pytest.warns(CaptureWarning, match="truncated.*after 499 complete"):
        assert extract_features(cut).shape == (499, 115)


def test_pcapng_unsupported_link_type(tmp_path):
    path = tmp_path / "raw.pcapng"
    with open(path, "wb") as fout:
        dpkt.pcapng.Writer(fout, linktype=101).writepkt(ipv4(17, udp(1, 2)), ts=1.0)
    with pytest.raises(DataError, match="unsupported link type 101"):
        extract_features(path)


def test_frame_types(tmp_path):
    v6 = bytes(15) + b"\x01"
    ipv6 = struct.pack("!IHBB", 0x60000000, 16, 17, 64) + bytes.fromhex("fe80" + "00" * 13 + "01") + v6 + udp(546, 547, 8)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, bytes((10, 0, 0, 1)), bytes(6), bytes((10, 0, 0, 9)))
    frames = [
        eth(ipv4(6, tcp(40000, 23, flags=0x12)), 0x0800),  # SYN-ACK
        eth(b"\x00\x05\x08\x00" + ipv4(17, udp(5353, 53)), 0x8100),  # 802.1Q tag
        eth(ipv4(1, b"\x08\x00" + bytes(6)), 0x0800),  # ICMP echo
        eth(ipv4(17, udp(1, 2), frag=100), 0x0800),  # later fragment: no transport header
        eth(ipv6, 0x86DD),
        eth(arp, 0x0806),
        eth(bytes(46), 0x9000),  # loopback: no IP
    ]
    path = tmp_path / "types.pcap"
    write_pcap(path, np.arange(len(frames), dtype=float), frames)
    p = read_packets(path)
    assert p.l3.tolist() == [1, 1, 1, 1, 2, 3, 0]
    assert p.l4.tolist() == [1, 2, 3, 0, 2, 0, 0]
    assert p.sport.tolist() == [40000, 5353, 0, 0, 546, 0, 0]
    assert p.dport.tolist() == [23, 53, 0, 0, 547, 0, 0]
    assert p.tcp_flags.tolist() == [0x12, 0, 0, 0, 0, 0, 0]
    assert bytes(p.ip_dst[5, :4]) == bytes((10, 0, 0, 9))
    assert bytes(p.ip_src[4]) == bytes.fromhex("fe80" + "00" * 13 + "01")
    for layout in ("uci", "kitsune-py"):
        assert np.isfinite(extract_features(path, layout=layout)).all()


def test_not_a_capture(tmp_path):
    path = tmp_path / "notes.pcap"
    path.write_text("hello, this is text\n")
    with pytest.raises(DataError, match=r"notes\.pcap is not a packet capture.*68656c6c"):
        extract_features(path)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        extract_features(empty)
    with pytest.raises(FileNotFoundError, match="missing.pcap"):
        extract_features(tmp_path / "missing.pcap")


def test_unsupported_link_type(tmp_path):
    path = tmp_path / "raw.pcap"
    write_pcap(path, [0.0], [ipv4(17, udp(1, 2))], linktype=101)
    with pytest.raises(DataError, match=r"unsupported link type 101.*Ethernet"):
        extract_features(path)


@pytest.mark.parametrize("cut", [8, 100])  # inside a record header / inside packet data
def test_truncated_file_keeps_what_was_read(tmp_path, cut):
    src = shared_file("kitsune-mirai", "mirai2000.pcap")
    raw = src.read_bytes()
    _, records = pcap_records(src)
    end_of_1000 = 24 + sum(16 + r[2] for r in records[:1000])
    path = tmp_path / "cut.pcap"
    path.write_bytes(raw[: end_of_1000 + cut])
    report = ReadReport(str(path))
    with pytest.warns(CaptureWarning, match=r"truncated.*after 1000 complete packet"):
        X = extract_features(path, layout="kitsune-py", report=report)
    assert report.packets == 1000 and report.truncated
    np.testing.assert_array_equal(X, extract_features(src, layout="kitsune-py", limit=1000))


def test_malformed_packets_are_skipped_counted_and_reported(tmp_path):
    good = eth(ipv4(17, udp(1000, 53)), 0x0800)
    frames = [
        good,
        b"\x01\x02\x03",  # shorter than an Ethernet header
        good,
        eth(ipv4(17, udp(1000, 53), ihl=3), 0x0800),  # IPv4 header length 12 bytes
        eth(ipv4(6, b"\x00\x50"), 0x0800),  # TCP header cut after 2 bytes
        good,
    ]
    path = tmp_path / "bad.pcap"
    write_pcap(path, np.arange(6, dtype=float), frames)
    report = ReadReport(str(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = extract_features(path, report=report)
    assert X.shape == (3, 115)
    assert report.malformed == 3 and report.malformed_index == [1, 3, 4]
    (message,) = [str(w.message) for w in caught if w.category is CaptureWarning]
    assert "skipped 3 malformed packet(s)" in message and "1, 3, 4" in message and "bad.pcap" in message
    assert read_packets(path).index.tolist() == [0, 2, 5]  # rows map back to capture positions


def test_key_text_matches_the_references_address_strings():
    # The kitsune-py layout hashes the reference's key strings, so they must be byte-exact.
    import socket

    from nidslab.features import streams

    buf = np.zeros(64, np.uint8)
    rng = np.random.default_rng(0)
    addrs = ["::", "::1", "fe80::1", "2001:db8::ff00:42:8329", "::ffff:192.0.2.1", "1:0:0:1:0:0:0:1",
             "2001:db8:0:0:1:0:0:1", "1::", "::2:0:0:0:0:0:3"]
    addrs += [socket.inet_ntop(socket.AF_INET6, bytes(rng.integers(0, 3, 16, dtype=np.uint8))) for _ in range(50)]
    for text in addrs:
        raw = np.frombuffer(socket.inet_pton(socket.AF_INET6, text), np.uint8)
        n = streams._put_ip6(buf, 0, raw)
        assert bytes(buf[:n]).decode() == socket.inet_ntop(socket.AF_INET6, raw.tobytes()), text
    n = streams._put_mac(buf, 0, np.uint64(0x0A1B2C3D4E5F))
    assert bytes(buf[:n]).decode() == "0a:1b:2c:3d:4e:5f"
    n = streams._put_ip4(buf, 0, np.array([192, 168, 2, 0], np.uint8))
    n = streams._put_port_text(buf, n, 65535)
    assert bytes(buf[:n]).decode() == "192.168.2.065535"
