"""Where nidslab keeps its files, and how it writes them without leaving anything half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def home() -> Path:
    """nidslab's data folder: ``$NIDSLAB_HOME`` if set, else ``~/.cache/nidslab``.

    Raises :class:`~nidslab.errors.ConfigError` when ``$NIDSLAB_HOME`` names something that is not a folder.
    """
    env = os.environ.get("NIDSLAB_HOME")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "nidslab"
    if path.exists() and not path.is_dir():
        from nidslab.errors import ConfigError

        where = f"NIDSLAB_HOME={env}" if env else str(path)
        raise ConfigError(f"{where}: is a file; nidslab keeps its datasets in a folder there. Point NIDSLAB_HOME "
                          "at a folder (it is made if missing)")
    return path


def datasets_dir() -> Path:
    """Folder holding one sub-folder per cached dataset."""
    return home() / "datasets"


def study_cache_dir() -> Path:
    """Folder of the study's per-part result cache (``nidslab lab``), shared by every run folder."""
    return home() / "study-cache"


def _umask() -> int:
    """This process's umask, read without changing it where Linux says it (/proc), else set and restored."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _final_mode(path: Path, default: int) -> int:
    """The mode a file written at ``path`` gets: an existing file keeps its own, a new one
    ``default`` less the umask (as ``open()`` or ``mkdir`` would give it; mkstemp would give 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return default & ~_umask()


def temp_dir(dest: str | os.PathLike) -> Path:
    """A fresh hidden temporary folder beside ``dest`` (``.NAME.XXXX.tmp``), with the mode ``mkdir`` would
    give ``dest`` under the umask; the caller fills it and renames it onto ``dest``."""
    dest = Path(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was, so a
    reader never sees a half-written file. The file gets the umask's mode (an existing file keeps its own).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a read-only or full folder: name the user's file, not our temporary one
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        os.fchmod(fd, _final_mode(path, 0o666))
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and (exc.filename is None or str(exc.filename) == tmp):
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        raise


def atomic_path(path: str | os.PathLike) -> Path:
    """A fresh temporary path beside ``path`` for writers that need a filename (np.save, pyarrow).

    The caller writes to it and then calls ``os.replace(tmp, path)``; see :func:`atomic_write`
    for the file-object form. The file has the umask's mode (an existing ``path``'s own mode).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the user's file, not our temporary one
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    os.fchmod(fd, _final_mode(path, 0o666))
    os.close(fd)
    return Path(tmp)


def write_bytes_atomic(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns ``path``.

    For writers that cannot report a full disk themselves (``torch.save`` to a file fails with a RuntimeError
    and leaves an empty file): serialise to memory, then write here. On failure nothing is left behind, and
    an :class:`OSError` (``ENOSPC``, ``EROFS``, ...) carries ``path`` as its filename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def refuse_output_is_input(output: str | os.PathLike, *inputs: str | os.PathLike | None,
                           option: str = "-o") -> None:
    """Raise :class:`~nidslab.errors.DataError` when ``output`` is one of ``inputs``: the same path, or the same
    file reached through a link or another spelling. Writing it would destroy the input before (or while) it
    is read. ``None`` inputs (stdin) are skipped."""
    from nidslab.errors import DataError

    out = Path(output)
    for given in inputs:
        if given is None:
            continue
        inp = Path(given)
        same = os.path.realpath(out) == os.path.realpath(inp)
        if not same and out.exists() and inp.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(out, inp)
        if same:
            shown = "" if str(inp) == str(out) else f" ({inp})"
            raise DataError(f"{out}: is also the input{shown}; writing {option} there would destroy it before it is "
                            f"read. Choose another {option} file")


def disk_error(exc: BaseException, path: str | os.PathLike) -> OSError | None:
    """``exc`` as an OSError that names ``path``, for the disk errors libraries report without the user's file:
    numpy's short write ("N requested and M written": the disk filled up), PyArrow's "[Errno 28] Error writing
    bytes" (no filename), or an error naming nidslab's hidden temporary file. None for anything else (raise it
    as it is)."""
    import re

    if not isinstance(exc, OSError):
        return None
    code, text = exc.errno, str(exc)
    if code is None:
        if found := re.search(r"\[errno (\d+)\]", text, re.IGNORECASE):
            code = int(found.group(1))
        elif re.search(r"\d+ requested and \d+ written", text):
            code = errno.ENOSPC  # fwrite wrote less than asked: the device is full (or over quota)
    if code is None:
        return None
    name = exc.filename
    if name is not None and not (Path(name).name.startswith(".") and str(name).endswith(".tmp")):
        return None  # it already names a file the user knows
    return OSError(code, os.strerror(code), str(path))
