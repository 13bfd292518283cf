"""nidslab.features.follow: a capture fed in arbitrary pieces parses exactly as the whole file."""

from __future__ import annotations

import os
import threading
import time

import dpkt
import numpy as np
import pytest

from nidslab.errors import DataError
from nidslab.features import Packets, read_packets, write_pcap
from nidslab.features.follow import StreamParser, iter_reads


def frames(n: int, seed: int) -> tuple[np.ndarray, list[bytes]]:
    """``n`` UDP/TCP/ARP frames of varied sizes between a few hosts, and their timestamps."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        src, dst = rng.integers(1, 6, 2)
        if i % 7 == 3:
            arp = dpkt.arp.ARP(spa=bytes([10, 0, 0, src]), tpa=bytes([10, 0, 0, dst]))
            out.append(bytes(dpkt.ethernet.Ethernet(src=bytes(5) + bytes([src]), dst=b"\xff" * 6, type=0x0806,
                                                    data=arp)))
            continue
        l4 = (dpkt.udp.UDP(sport=int(rng.integers(1, 65535)), dport=53, data=bytes(int(rng.integers(0, 900))))
              if i % 2 else dpkt.tcp.TCP(sport=int(rng.integers(1, 65535)), dport=23, data=b"x" * int(rng.integers(0, 90))))
        ip = dpkt.ip.IP(src=bytes([10, 0, 0, src]), dst=bytes([10, 0, 0, dst]), p=17 if i % 2 else 6, data=l4)
        out.append(bytes(dpkt.ethernet.Ethernet(src=bytes(5) + bytes([src]), dst=bytes(5) + bytes([dst]), data=ip)))
    return 1.7e9 + np.cumsum(rng.exponential(0.01, n)), out


def parse_in_pieces(data: bytes, cuts, chunk: int = 1 << 16) -> tuple[Packets, StreamParser]:
    p = StreamParser("test", chunk=chunk)
    got = []
    prev = 0
    for c in [*cuts, len(data)]:
        p.feed(data[prev:c])
        prev = c
        while (pk := p.packets()) is not None:
            got.append(pk)
    return Packets.concat(got), p


def assert_same_packets(a: Packets, b: Packets) -> None:
    assert len(a) == len(b)
    for name in Packets.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("big_endian, nanoseconds", [(False, False), (True, False), (False, True), (True, True)])
def test_pcap_in_random_pieces_equals_the_whole_file(tmp_path, big_endian, nanoseconds):
    ts, fr = frames(400, seed=1)
    path = tmp_path / "c.pcap"
    write_pcap(path, ts, fr, big_endian=big_endian, nanoseconds=nanoseconds)
    data = path.read_bytes()
    rng = np.random.default_rng(2)
    # Cuts inside the global header, inside record headers and inside frames; 1-byte pieces too.
    cuts = sorted({3, 10, 23, 24, 30, 31, 32, *rng.integers(25, len(data), 60).tolist()})
    got, p = parse_in_pieces(data, cuts, chunk=37)
    assert_same_packets(got, read_packets(path))
    assert p.buffered == 0 and p.close_message() is None and p.records == 400


def test_pcapng_in_pieces_equals_the_whole_file(tmp_path):
    ts, fr = frames(200, seed=3)
    path = tmp_path / "c.pcapng"
    with open(path, "wb") as fh:
        w = dpkt.pcapng.Writer(fh)
        for t, f in zip(ts, fr):
            w.writepkt(f, ts=t)
    data = path.read_bytes()
    cuts = list(range(1, len(data), 97))
    got, p = parse_in_pieces(data, cuts)
    assert_same_packets(got, read_packets(path))
    assert p.close_message() is None


def test_a_cut_record_waits_for_its_rest_and_is_reported_if_it_never_comes(tmp_path):
    ts, fr = frames(10, seed=4)
    path = tmp_path / "c.pcap"
    write_pcap(path, ts, fr)
    data = path.read_bytes()
    p = StreamParser("pipe")
    p.feed(data[:-5])
    assert len(p.packets()) == 9 and p.packets() is None  # the 10th is held back, not mis-parsed
    assert "ended inside a record after 9 complete packet(s)" in p.close_message()
    p.feed(data[-5:])
    pk = p.packets()
    assert len(pk) == 1 and pk.index.tolist() == [9] and pk.ts[0] == pytest.approx(ts[-1], abs=1e-6)
    assert p.close_message() is None


def test_bad_streams_are_refused_by_name():
    p = StreamParser("stdin")
    p.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(DataError, match="stdin is not a packet capture"):
        p.packets()
    p = StreamParser("stdin")
    header = (0xA1B2C3D4).to_bytes(4, "little") + bytes(16) + (101).to_bytes(4, "little")
    p.feed(header)
    with pytest.raises(DataError, match="unsupported link type 101"):
        p.packets()
    p = StreamParser("stdin")
    p.feed(header[:20] + (1).to_bytes(4, "little") + bytes(8) + (10**7).to_bytes(4, "little") * 2)
    with pytest.raises(DataError, match="corrupt record at byte 24 after 0 packet"):
        p.packets()


def test_iter_reads_follows_a_growing_file_until_idle(tmp_path):
    path = tmp_path / "grow.bin"
    path.write_bytes(b"ab")

    def writer():
        for piece in (b"cd", b"ef"):
            time.sleep(0.05)
            with open(path, "ab") as fh:
                fh.write(piece)

    t = threading.Thread(target=writer)
    t.start()
    reads = list(iter_reads(path, follow=True, idle_timeout=0.3, poll=0.01))
    t.join()
    assert b"".join(r.data for r in reads) == b"abcdef"
    assert reads[-1].ended == "idle timeout"
    assert [r.ended for r in iter_reads(path, follow=False)][-1] == "end of input"


def test_iter_reads_on_a_pipe_ends_when_the_writer_closes_or_stop_says_so():
    r, w = os.pipe()
    os.write(w, b"hello")
    os.close(w)
    reads = list(iter_reads(r, poll=0.01))
    os.close(r)
    assert b"".join(x.data for x in reads) == b"hello" and reads[-1].ended == "end of input"
    r, w = os.pipe()
    t0 = time.perf_counter()
    reads = list(iter_reads(r, poll=0.01, stop=lambda: time.perf_counter() - t0 > 0.1))
    os.close(r)
    os.close(w)
    assert reads[-1].ended == "stopped"
