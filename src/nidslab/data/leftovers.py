"""Temporary folders of the dataset cache, and the leftovers of writers that were killed.

A writer makes its folder with :func:`make_temp_dir`, which records the owner (pid and host) in it. A
``kill -9`` (or a power cut) during ``data build`` / ``data import`` leaves that folder behind; the next
writer calls :func:`clean_stale`, which removes every leftover whose owner is no longer running. Leftovers
are ``.<name>.*.tmp`` folders, ``.<name>.old-<pid>`` folders (a dataset moved aside while being replaced) and
``.build/<name>.<pid>.pcap`` captures.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import time
from pathlib import Path

OWNER_FILE = ".owner"
#: a leftover without a readable owner and younger than this is left alone (it may be being made right now:
#: its owner file is written just after the folder)
MIN_AGE_S = 60.0
#: a leftover with no readable owner (an older nidslab made it, or another host) is stale after this long
NO_OWNER_AGE_S = 24 * 3600.0

_OLD = re.compile(r"^\..+\.old-(\d+)$")
_PCAP = re.compile(r"^.+\.(\d+)\.pcap$")


@dataclasses.dataclass(frozen=True)
class Leftover:
    """A temporary file or folder under the cache: ``path``, ``bytes`` on disk, ``age_s``, owner ``pid``
    (None when unknown) and whether that owner is still running (``live``)."""

    path: Path
    bytes: int
    age_s: float
    pid: int | None
    live: bool

    @property
    def stale(self) -> bool:
        """True when removing it cannot hurt a running writer."""
        if self.live:
            return False
        if self.pid is not None:  # its writer recorded itself and is gone: nothing can still be making it
            return True
        return self.age_s > max(MIN_AGE_S, NO_OWNER_AGE_S)


def make_temp_dir(parent: Path, name: str) -> Path:
    """A fresh ``parent/.<name>.XXXX.tmp`` folder with this process recorded as its owner."""
    from nidslab.paths import temp_dir

    parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(parent / name)  # the umask's mode, as the folder it becomes
    (tmp / OWNER_FILE).write_text(f"{os.getpid()} {socket.gethostname()}\n")
    return tmp


def find_leftovers(root: Path) -> list[Leftover]:
    """Every temporary folder or capture under the datasets folder ``root``, stale or not."""
    found: list[Leftover] = []
    candidates = [p for p in root.iterdir() if p.name.startswith(".") and p.name != ".build"] if root.is_dir() else []
    build = root / ".build"
    if build.is_dir():
        candidates += [p for p in build.iterdir() if _PCAP.match(p.name)]
    now = time.time()
    for p in candidates:
        if p.name.endswith(".tmp") and p.is_dir():
            pid, live = _owner(p / OWNER_FILE)
        elif (m := _OLD.match(p.name) or _PCAP.match(p.name)) is not None:
            pid = int(m.group(1))
            live = _alive(pid)
        else:
            continue
        try:
            age = now - p.stat().st_mtime
        except FileNotFoundError:  # its owner finished meanwhile
            continue
        found.append(Leftover(p, _size(p), age, pid, live))
    return found


def clean_stale(root: Path) -> list[Leftover]:
    """Remove the stale leftovers under ``root`` (see :attr:`Leftover.stale`); returns what was removed."""
    removed = []
    for left in find_leftovers(root):
        if left.stale:
            if left.path.is_dir():
                shutil.rmtree(left.path, ignore_errors=True)
            else:
                left.path.unlink(missing_ok=True)
            removed.append(left)
    return removed


def _owner(path: Path) -> tuple[int | None, bool]:
    try:
        pid_text, host = path.read_text().split()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return None, False
    if host != socket.gethostname():
        return None, False  # another machine's writer: only age can tell
    return pid, _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total
