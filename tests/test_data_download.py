"""nidslab.data.downloader against a real HTTP server on 127.0.0.1 (Range, drops, 404, offline)."""

from __future__ import annotations

import gzip
import random
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nidslab.data.downloader import KITSUNE_ATTACKS, download, download_file, resolve_attack
from nidslab.errors import DataError


def _gz(seed: int, n: int = 200_000) -> bytes:
    # Random bytes barely compress, so the .gz stays about n bytes: several chunks of 16 KiB.
    return gzip.compress(random.Random(seed).randbytes(n))


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        rng = self.headers.get("Range")
        srv.requests.append((path, rng))
        data = srv.files.get(path)
        if data is None:
            self.send_error(404)
            return
        n_req = len(srv.requests)
        mode = srv.mode
        if mode == "html":  # a captive portal or error page, answered 200 with a correct length
            page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if mode == "no_length_cut" and not rng:  # no Content-Length, and the connection ends early
            self.send_response(200)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        if mode == "truncate":  # announce more than is ever sent, every time
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) + 1000))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
            return
        start = 0
        if rng and mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if mode == "drop_first" and n_req == 1:
            body = body[: len(body) // 3]  # then the connection closes early
            self.close_connection = True
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.requests, srv.mode = {}, [], "range"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download_mirai_features_and_labels(server, tmp_path):
    feats, labels = _gz(1), _gz(2, 20_000)
    server.files = {"/mirai/Mirai_dataset.csv.gz": feats, "/mirai/Mirai_labels.csv.gz": labels}
    calls = []
    out = download("Mirai", dest=tmp_path, base_url=server.base, timeout=2, chunk=1 << 14,
                   progress=lambda d, t, m: calls.append((d, t, m)))
    assert out == {"features": tmp_path / "Mirai_dataset.csv.gz",
                   "labels": tmp_path / "Mirai_labels.csv.gz"}
    assert out["features"].read_bytes() == feats
    assert out["labels"].read_bytes() == labels
    assert not list(tmp_path.glob("*.part"))
    assert [r for _, r in server.requests] == [None, None]
    assert calls[-1][:2] == (len(labels), len(labels))
    assert any(d == len(feats) and t == len(feats) for d, t, _ in calls)


def test_names_with_spaces_are_quoted_and_saved_without_spaces(server, tmp_path):
    data = _gz(3, 5_000)
    server.files = {"/os_scan/OS Scan_labels.csv.gz": data}
    out = download("os-scan", dest=tmp_path, parts=("labels",), base_url=server.base, timeout=2)
    assert out["labels"] == tmp_path / "OS_Scan_labels.csv.gz"
    assert out["labels"].read_bytes() == data


def test_resume_after_connection_drop(server, tmp_path):
    data = _gz(4)
    server.files = {"/f.gz": data}
    server.mode = "drop_first"
    path = download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2, chunk=1 << 14)
    assert path.read_bytes() == data
    assert len(server.requests) == 2
    assert server.requests[0][1] is None
    assert server.requests[1][1] == f"bytes={len(data) // 3}-"
    assert not (tmp_path / "f.gz.part").exists()


def test_resume_existing_part_with_range(server, tmp_path):
    data = _gz(5)
    server.files = {"/f.gz": data}
    (tmp_path / "f.gz.part").write_bytes(data[:12_345])
    path = download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2, chunk=1 << 14)
    assert path.read_bytes() == data
    assert server.requests == [("/f.gz", "bytes=12345-")]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = _gz(6)
    server.files = {"/f.gz": data}
    server.mode = "ignore_range"
    (tmp_path / "f.gz.part").write_bytes(b"x" * 5000)  # stale bytes that must not survive
    path = download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2, chunk=1 << 14)
    assert path.read_bytes() == data
    assert server.requests == [("/f.gz", "bytes=5000-")]


def test_always_truncated_raises_and_keeps_part(server, tmp_path):
    data = _gz(7, 30_000)
    server.files = {"/f.gz": data}
    server.mode = "truncate"
    with pytest.raises(DataError, match=r"f\.gz") as err:
        download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2, chunk=1 << 14)
    assert "resume" in str(err.value)
    assert not (tmp_path / "f.gz").exists()
    assert (tmp_path / "f.gz.part").read_bytes() == data
    assert len(server.requests) == 4  # first try + 3 resumes


def test_expected_size_mismatch_raises(server, tmp_path):
    data = _gz(8, 5_000)
    server.files = {"/f.gz": data}
    with pytest.raises(DataError, match="expected 1"):
        download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2, expected_size=1)
    assert not (tmp_path / "f.gz").exists()


def test_404_names_url(server, tmp_path):
    url = f"{server.base}/mirai/Mirai_dataset.csv.gz"
    with pytest.raises(DataError, match="404") as err:
        download("mirai", dest=tmp_path, base_url=server.base, timeout=2)
    assert url in str(err.value)
    assert not list(tmp_path.iterdir())


def test_connection_refused_is_offline_message(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as err:
        download("arp_mitm", dest=tmp_path, base_url=f"http://127.0.0.1:{port}", timeout=1)
    msg = str(err.value)
    assert "cannot reach 127.0.0.1" in msg
    assert "check your internet connection" in msg
    assert "nidslab data import FEATURES LABELS --name kitsune-arp_mitm" in msg
    assert "/arp_mitm/ARP%20MitM_dataset.csv.gz" in msg


def test_existing_complete_file_makes_no_request(server, tmp_path):
    new = gzip.compress(b"new")
    server.files = {"/mirai/Mirai_dataset.csv.gz": new, "/mirai/Mirai_labels.csv.gz": new}
    (tmp_path / "Mirai_dataset.csv.gz").write_bytes(gzip.compress(b"old features"))
    (tmp_path / "Mirai_labels.csv.gz").write_bytes(gzip.compress(b"old labels"))
    out = download("mirai", dest=tmp_path, base_url=server.base, timeout=2)
    assert gzip.decompress(out["features"].read_bytes()) == b"old features"
    assert server.requests == []
    # a wrong expected_size makes it fetch again
    download_file(f"{server.base}/mirai/Mirai_labels.csv.gz", tmp_path / "Mirai_labels.csv.gz",
                  timeout=2, expected_size=len(new))
    assert (tmp_path / "Mirai_labels.csv.gz").read_bytes() == new


def test_no_content_length_cut_short_is_resumed_not_accepted(server, tmp_path):
    data = _gz(9)
    server.files = {"/f.gz": data}
    server.mode = "no_length_cut"
    path = download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2, chunk=1 << 14)
    assert path.read_bytes() == data
    assert server.requests == [("/f.gz", None), ("/f.gz", f"bytes={len(data) // 2}-")]


def test_an_html_page_answered_200_is_refused_and_removed(server, tmp_path):
    server.files = {"/f.gz": _gz(10, 5_000)}
    server.mode = "html"
    with pytest.raises(DataError, match=r"f\.gz is not a usable archive.*not a gzip file.*HTML page"):
        download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2)
    assert list(tmp_path.iterdir()) == []
    # an HTML page saved under the final name by an older version is fetched again, not trusted
    (tmp_path / "f.gz").write_bytes(b"<html>old</html>")
    server.mode = "range"
    assert download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2).read_bytes() == server.files["/f.gz"]


def test_a_corrupt_gzip_of_the_announced_length_is_refused(server, tmp_path):
    data = bytearray(_gz(11, 50_000))
    data[len(data) // 2] ^= 0xFF
    server.files = {"/f.gz": bytes(data)}
    with pytest.raises(DataError, match="corrupt gzip data"):
        download_file(f"{server.base}/f.gz", tmp_path / "f.gz", timeout=2)
    assert not (tmp_path / "f.gz").exists() and not (tmp_path / "f.gz.part").exists()


def test_unknown_attack_and_aliases():
    with pytest.raises(DataError, match="arp_mitm.*mirai"):
        download("stuxnet")
    with pytest.raises(DataError, match="unknown download part"):
        download("mirai", parts=("pcap", "video"))
    assert resolve_attack("ARP_MitM") == resolve_attack("arp-mitm") == "arp_mitm"
    assert resolve_attack("SYN DoS") == "syn_dos"
    assert len(KITSUNE_ATTACKS) == 9
    m = KITSUNE_ATTACKS["mirai"]
    assert (m.folder, m.features, m.labels, m.pcap) == (
        "mirai", "Mirai_dataset.csv.gz", "Mirai_labels.csv.gz", "Mirai_pcap.pcap.gz")
