"""Where nidslab keeps its files, and how it writes them without leaving anything half-written."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was, so a
    reader never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_path(path: str | os.PathLike) -> Path:
    """A fresh temporary path beside ``path`` for writers that need a filename (np.save, pyarrow).

    The caller writes to it and then calls ``os.replace(tmp, path)``; see :func:`atomic_write`
    for the file-object form.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
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
