"""Download the Kitsune Network Attack Dataset (UCI dataset 516) with resumable HTTP transfers.

Files live at ``<base_url>/<folder>/<file>``, e.g. ``00516/mirai/Mirai_dataset.csv.gz``.
Only the standard library is used (urllib), so a download needs no extra packages.

A transfer writes to ``<name>.part`` and is renamed to ``<name>`` (``os.replace``) only once the
byte count matches the size the server announced and the archive itself is whole (a ``.gz`` file
decompresses to its end with good CRCs, a ``.zip`` passes ``testzip``), so a final file on disk is
always complete: a server that sends no Content-Length and stops early, or answers 200 with an HTML
page, is caught. Hence an existing final file is trusted without any network request once its first
bytes are those of its kind of archive (unless the caller passes ``expected_size`` and the size
differs); a ``.part`` file left by an interrupted run is resumed with an HTTP ``Range`` request.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nidslab.errors import DataError
from nidslab.progress import Progress

UCI_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases/00516"


#: Resumes allowed after the connection drops mid-file, before giving up.
RETRIES = 3

PARTS = ("features", "labels", "pcap")


@dataclass(frozen=True)
class KitsuneFiles:
    """Remote names of one Kitsune capture: the UCI folder and the three gzipped files in it."""

    folder: str
    features: str
    labels: str
    pcap: str

    def file(self, part: str) -> str:
        """Remote file name of ``part`` ("features", "labels" or "pcap")."""
        if part not in PARTS:
            raise DataError(f"unknown download part {part!r}: expected one of {', '.join(PARTS)}")
        return getattr(self, part)


def _files(folder: str, prefix: str, pcap_ext: str = "pcapng") -> KitsuneFiles:
    return KitsuneFiles(folder, f"{prefix}_dataset.csv.gz", f"{prefix}_labels.csv.gz",
                        f"{prefix}_pcap.{pcap_ext}.gz")


# UCI names the files after the capture's display name, spaces included
# ("OS Scan_dataset.csv.gz"). Confirmed from public download scripts:
# mirai/Mirai_{dataset,labels}.csv.gz, mirai/Mirai_pcap.pcap.gz,
# os_scan/OS Scan_{dataset,labels}.csv.gz, and the "<Display Name>_labels.csv.gz" of all nine.
# Unconfirmed: the "_dataset.csv.gz" names of the seven others (same pattern assumed) and the
# pcap extension of the eight non-Mirai captures (".pcapng.gz" assumed; it may be ".pcap.gz").
KITSUNE_ATTACKS: dict[str, KitsuneFiles] = {
    "active_wiretap": _files("active_wiretap", "Active Wiretap"),
    "arp_mitm": _files("arp_mitm", "ARP MitM"),
    "fuzzing": _files("fuzzing", "Fuzzing"),
    "mirai": _files("mirai", "Mirai", "pcap"),
    "os_scan": _files("os_scan", "OS Scan"),
    "ssdp_flood": _files("ssdp_flood", "SSDP Flood"),
    "ssl_renegotiation": _files("ssl_renegotiation", "SSL Renegotiation"),
    "syn_dos": _files("syn_dos", "SYN DoS"),
    "video_injection": _files("video_injection", "Video Injection"),
}

_ALIASES = {
    "mirai_botnet": "mirai", "botnet": "mirai", "mitm": "arp_mitm", "arp_spoofing": "arp_mitm",
    "wiretap": "active_wiretap", "syn_flood": "syn_dos", "ssdp": "ssdp_flood",
    "ssl_reneg": "ssl_renegotiation", "video": "video_injection", "osscan": "os_scan",
}


def resolve_attack(attack: str) -> str:
    """Canonical key of ``attack`` in :data:`KITSUNE_ATTACKS` ("ARP MitM" -> "arp_mitm")."""
    key = re.sub(r"[\s\-]+", "_", str(attack).strip().lower())
    key = _ALIASES.get(key, key)
    if key not in KITSUNE_ATTACKS:
        raise DataError(f"unknown Kitsune attack {attack!r}: expected one of "
                        f"{', '.join(sorted(KITSUNE_ATTACKS))}")
    return key


def _local_name(remote: str) -> str:
    # Spaces in file names are a nuisance on a command line; keep the rest of the name.
    return remote.replace(" ", "_")


def download(attack: str = "mirai", *, dest: Path | None = None,
             parts: Iterable[str] = ("features", "labels"), base_url: str = UCI_BASE,
             progress: Progress | None = None, timeout: float = 30.0,
             chunk: int = 1 << 20) -> dict[str, Path]:
    """Download the gzipped files of one Kitsune capture and return ``{part: local path}``.

    ``attack``: a key of :data:`KITSUNE_ATTACKS` or an alias, case-insensitive ("Mirai",
    "ARP_MitM", "arp-mitm"). ``dest`` defaults to ``datasets_dir()/"downloads"/<attack>``.
    ``parts``: any of "features", "labels", "pcap". ``timeout`` is in seconds per socket
    operation; ``chunk`` is the read size in bytes. Files already complete on disk are not
    downloaded again; interrupted ones are resumed. Local names have spaces turned into ``_``.
    Raises :class:`DataError` for an unknown attack or part, or when a file cannot be fetched.
    """
    key = resolve_attack(attack)
    files = KITSUNE_ATTACKS[key]
    parts = tuple(parts)
    for part in parts:
        files.file(part)  # validate before touching the network
    if dest is None:
        from nidslab.paths import datasets_dir
        dest = datasets_dir() / "downloads" / key
    dest = Path(dest)
    out: dict[str, Path] = {}
    for part in parts:
        remote = files.file(part)
        url = f"{base_url.rstrip('/')}/{files.folder}/{urllib.parse.quote(remote)}"
        out[part] = download_file(url, dest / _local_name(remote), progress=progress,
                                  timeout=timeout, chunk=chunk, dataset_name=f"kitsune-{key}")
    return out


class _Dropped(Exception):
    """The connection ended before the announced number of bytes arrived (retry with Range)."""


def _offline(url: str, reason: object, dataset_name: str) -> DataError:
    host = urllib.parse.urlsplit(url).hostname or url
    return DataError(
        f"cannot reach {host} ({reason}): check your internet connection; or download {url} "
        f"by hand and run `nidslab data import FEATURES LABELS --name {dataset_name}`")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/N`` or ``bytes */N`` header."""
    m = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _fetch_once(url: str, part: Path, *, progress: Progress | None, timeout: float, chunk: int,
                dataset_name: str) -> int | None:
    """One HTTP GET into ``part``, resuming from its size. Returns the file's total size if known.

    Raises _Dropped when the stream ends early or the server answers a range we cannot use.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "nidslab", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            # Our .part is at or past the end: complete if it matches the total, else start over.
            _, total = _content_range(e.headers.get("Content-Range"))
            e.close()
            if total == offset:
                return total
            part.unlink()
            raise _Dropped(f"server refused resuming at byte {offset}") from None
        e.close()
        if e.code == 404:
            raise DataError(f"{url} not found (HTTP 404): the file may have moved; "
                            "check the UCI page of dataset 516") from None
        raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise _offline(url, e.reason, dataset_name) from None
    except (TimeoutError, socket.timeout, http.client.HTTPException, OSError) as e:
        raise _offline(url, e, dataset_name) from None

    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Dropped(f"server resumed at byte {start}, not {offset}")
            mode, done = "ab", offset
        else:
            # 200: the server ignored Range (or there was none); the body is the whole file.
            total, mode, done = length, "wb", 0
        name = part.name[: -len(".part")]
        try:
            with open(part, mode) as fh:
                while True:
                    block = resp.read(chunk)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total, f"downloading {name}")
        except (http.client.IncompleteRead, TimeoutError, socket.timeout, ConnectionError) as e:
            raise _Dropped(f"connection dropped after {done} bytes ({type(e).__name__})") from None
        if total is not None and done != total:
            raise _Dropped(f"connection closed after {done} of {total} bytes")
        return total


def download_file(url: str, path: str | os.PathLike, *, progress: Progress | None = None,
                  timeout: float = 30.0, chunk: int = 1 << 20, expected_size: int | None = None,
                  dataset_name: str = "kitsune-mirai", retries: int = RETRIES) -> Path:
    """Download ``url`` to ``path`` via ``path.part``, resuming it when present; return ``path``.

    If ``path`` exists and starts like its kind of archive it is returned without any request (it
    can only have been written complete), unless ``expected_size`` (bytes) is given and differs, in
    which case it is fetched again. A dropped connection is resumed with ``Range: bytes=N-`` up to
    ``retries`` times; a server answering 200 instead of 206 restarts from byte 0. The final size
    must equal the server's Content-Length / Content-Range total (and ``expected_size`` when given),
    and the archive must be whole (:func:`check_archive`; a gzip stream that stops early counts as a
    dropped connection), else :class:`DataError` is raised: the ``.part`` is kept for a later
    resume when it is a prefix of the file, removed when it is something else (an HTML page).
    ``progress`` is called as ``progress(done_bytes, total_bytes or None, message)``; ``timeout``
    is in seconds per socket operation. ``dataset_name`` only fills the hint in the offline error.
    """
    path = Path(path)
    if path.exists() and (expected_size is None or path.stat().st_size == expected_size) and _looks_whole(path):
        if progress is not None:
            size = path.stat().st_size
            progress(size, size, f"{path.name} already downloaded")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    drops = 0
    while True:
        try:
            total = _fetch_once(url, part, progress=progress, timeout=timeout, chunk=chunk,
                                dataset_name=dataset_name)
            size = part.stat().st_size
            if total is None or size == total:
                _check_part(url, part, path.name, progress, resumable=total is None)
            break
        except _Dropped as e:
            drops += 1
            if drops > retries:
                have = part.stat().st_size if part.exists() else 0
                raise DataError(
                    f"download of {url} failed: {e}; gave up after {retries} resumes with "
                    f"{have} bytes in {part} (run again to resume)") from None
    bad_total = total is not None and size != total
    if bad_total or (expected_size is not None and size != expected_size):
        want = expected_size if expected_size is not None else total
        raise DataError(f"download of {url} has {size} bytes, expected {want}; "
                        f"kept {part} for a later resume")
    os.replace(part, path)
    return path


class _Cut(Exception):
    """The archive stops before its end: a prefix of a good file, which a Range request can resume."""


def check_archive(path: str | os.PathLike, name: str | None = None) -> None:
    """Raise :class:`DataError` unless the file is a whole archive of the kind its ``name`` says.

    ``.gz``: every gzip member decompressed to its end (CRC and length checked) in 1 MiB blocks, so
    memory stays flat (about 3 s per GB of content). ``.zip``: ``zipfile.testzip``. Other names are
    not checked. A gzip stream that is whole so far but stops early raises ``_Cut``.
    """
    path = Path(path)
    name = (name or path.name).lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a whole zip archive ({exc}); {_describe(path)}") from None
        if bad is not None:
            raise DataError(f"{path}: member {bad!r} of the zip archive is corrupt")
        return
    if not name.endswith(".gz"):
        return
    if not _looks_whole(path, name):
        raise DataError(f"{path}: not a gzip file; {_describe(path)}")
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except EOFError:
        raise _Cut(f"the gzip stream stops early after {path.stat().st_size} bytes") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: corrupt gzip data ({exc})") from None


def _looks_whole(path: Path, name: str | None = None) -> bool:
    """Cheap test of a finished file: a .gz/.zip starts with its magic bytes (a saved HTML page does not)."""
    name = (name or path.name).lower()
    magic = b"\x1f\x8b" if name.endswith(".gz") else b"PK" if name.endswith(".zip") else b""
    with open(path, "rb") as fh:
        return fh.read(len(magic)) == magic


def _describe(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(512)
    if b"<html" in head.lower() or b"<!doctype" in head.lower():
        return "the server sent an HTML page instead (an error or login page?)"
    return f"it starts with {head[:16]!r}"


def _check_part(url: str, part: Path, name: str, progress: Progress | None, *, resumable: bool) -> None:
    """check_archive on a finished transfer. A cut stream of unknown length is a drop (resumed);
    a cut one the server said was complete, or anything else, removes the .part."""
    if progress is not None:
        size = part.stat().st_size
        progress(size, size, f"checking {name}")
    try:
        try:
            check_archive(part, name)
        except _Cut as e:
            if resumable:
                raise _Dropped(str(e)) from None
            raise DataError(f"{part}: {e}, though the server called it complete") from None
    except DataError as e:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} is not a usable archive: {e}; removed the partial file. "
                        "The file may have moved: check the UCI page of dataset 516") from None
