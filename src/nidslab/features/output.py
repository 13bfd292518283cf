"""Feature rows to a file (.parquet, .csv or .npy), chunk by chunk, atomically.

:class:`FeatureFile` writes rows as they are extracted, so a capture's whole feature matrix
(351 MB for 764,137 packets x 115 float32) never has to exist: Parquet gets one row group per
chunk, CSV one batch, .npy its rows after a header rewritten with the final count at the end.
:func:`extract_to_file` runs a capture through a :class:`~nidslab.features.FeatureExtractor`
into one, writing each chunk on a second thread while the next one is extracted.

>>> from nidslab.features.output import extract_to_file
>>> rows = extract_to_file("capture.pcap", "features.parquet")   # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from nidslab.errors import DataError
from nidslab.progress import Progress

FORMATS = (".parquet", ".csv", ".npy")
#: Rows per chunk (and per Parquet row group): 30 MB of float32 x 115, small enough to stay out of the
#: page-fault path, large enough that per-chunk costs (thread hand-offs, row-group metadata) stay small.
WRITE_CHUNK = 1 << 16
_TILE = 4096  # rows transposed at a time: a tile (1.8 MB) stays in cache, a whole-chunk X.T does not


def output_format(path: str | os.PathLike) -> str:
    """``".parquet"``, ``".csv"`` or ``".npy"`` from ``path``'s suffix; DataError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"output {path}: unknown format {suffix!r}; use one of {', '.join(FORMATS)}")
    return suffix


class FeatureFile:
    """A feature file being written: ``write(X)`` appends float32 rows (n, len(columns)).

    Rows go to a temporary file beside ``path``, renamed onto it by :meth:`commit`; :meth:`abort`
    (or leaving the ``with`` block by an exception) removes it, leaving ``path`` as it was.
    Parquet: one row group per ``write``, no dictionary encoding (floats gain nothing from it and
    it triples the time), Snappy compression, column statistics kept. CSV: a header of names,
    then the rows as pyarrow writes them. .npy: float32, C order, as ``np.save`` writes it.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]):
        from nidslab.paths import atomic_path, disk_error

        self.path = Path(path)
        self.format = output_format(self.path)
        self.columns = tuple(columns)
        self.rows = 0
        self._tmp = atomic_path(self.path)
        self._t: np.ndarray | None = None  # transposed chunk (columns, rows), reused
        try:
            self._open()
        except BaseException as exc:
            self._tmp.unlink(missing_ok=True)
            if (named := disk_error(exc, self.path)) is not None:
                raise named from None
            raise

    def _open(self) -> None:
        if self.format == ".npy":
            self._fh = open(self._tmp, "wb")
            self._write_npy_header()
            self._header_len = self._fh.tell()
            return
        import pyarrow as pa

        self._schema = pa.schema([(c, pa.float32()) for c in self.columns])
        if self.format == ".parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._tmp, self._schema, use_dictionary=False)
        else:
            import pyarrow.csv as pacsv

            self._writer = pacsv.CSVWriter(self._tmp, self._schema)

    def _write_npy_header(self) -> None:
        # numpy pads the header so that the row count can grow to 21 digits in place: the final header
        # written by commit() has the same length as this one
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (self.rows, len(self.columns))}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def write(self, X: np.ndarray) -> None:
        """Append rows: ``X`` float32 (n, len(columns)), C order."""
        if X.ndim != 2 or X.shape[1] != len(self.columns):
            raise ValueError(f"{self.path}: rows of shape {X.shape}; expected (n, {len(self.columns)})")
        X = np.ascontiguousarray(X, np.float32)
        n = len(X)
        if n == 0:
            return
        if self.format == ".npy":
            self._fh.write(X.data.cast("B"))
            self.rows += n
            return
        import pyarrow as pa

        if self._t is None or self._t.shape[1] < n:
            self._t = np.empty((X.shape[1], n), np.float32)
        T = self._t[:, :n]
        for r in range(0, n, _TILE):  # columns for arrow, a cache-sized tile at a time
            np.copyto(T[:, r:r + _TILE], X[r:r + _TILE].T)
        # zero-copy views of T: safe to refill on the next call, as both writers encode the batch before returning
        batch = pa.RecordBatch.from_arrays([pa.array(T[i]) for i in range(len(T))], schema=self._schema)
        self._writer.write_batch(batch)
        self.rows += n

    def commit(self) -> Path:
        """Finish the file and rename it onto ``path``; returns ``path``."""
        try:
            if self.format == ".npy":
                self._fh.seek(0)
                self._write_npy_header()
                if self._fh.tell() != self._header_len:  # pragma: no cover - numpy pads it to stay put
                    raise RuntimeError(f"{self.path}: the .npy header changed length when the row count was set")
                self._fh.close()
            else:
                self._writer.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file; ``path`` is left as it was."""
        try:
            if self.format == ".npy":
                self._fh.close()
            elif hasattr(self, "_writer"):
                self._writer.close()
        except Exception:  # noqa: BLE001 - the write already failed; removing the file is what matters
            pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> FeatureFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        from nidslab.paths import disk_error

        if exc_type is None:
            try:
                self.commit()
            except OSError as err:
                if (named := disk_error(err, self.path)) is not None:  # PyArrow's "[Errno 28]" names no file
                    raise named from None
                raise
        else:
            self.abort()
            if (named := disk_error(exc, self.path)) is not None:
                raise named from None


def write_features(path: str | os.PathLike, X: np.ndarray, columns: Sequence[str], *,
                   chunk: int = WRITE_CHUNK) -> Path:
    """Write a whole feature matrix ``X`` float32 (n, len(columns)) to ``path``, atomically."""
    with FeatureFile(path, columns) as out:
        for r in range(0, max(len(X), 1), chunk):
            out.write(X[r:r + chunk])
    return Path(path)


def extract_to_file(
    capture: str | os.PathLike,
    path: str | os.PathLike,
    *,
    layout: str = "uci",
    limit: int | None = None,
    progress: Progress | None = None,
    chunk: int = WRITE_CHUNK,
    report=None,
) -> int:
    """Kitsune features of every packet of ``capture`` written to ``path``; returns the number of rows.

    The rows equal :func:`~nidslab.features.extract_features`'s for the same arguments (``layout``,
    ``limit``, malformed packets skipped, ``progress(done, total, message)`` after each chunk,
    problems in ``report`` and raised as :class:`~nidslab.features.CaptureWarning`), but only two
    chunks of ``chunk`` rows are held: one extracted while the other is written on a second thread.
    On any error ``path`` is left as it was. Raises what ``extract_features`` raises, and DataError
    for an output suffix other than .parquet, .csv or .npy.
    """
    from nidslab.features.extract import CaptureWarning, capture_extractor
    from nidslab.features.pcap import ReadReport, iter_packets

    output_format(path)
    report = report if report is not None else ReadReport(str(capture))
    fx, total = capture_extractor(capture, layout, limit)  # the capture's errors before any file exists
    buffers = [np.empty((chunk, fx.n_columns), np.float32) for _ in range(2)]
    done = 0
    with FeatureFile(path, fx.layout.columns) as out, ThreadPoolExecutor(1, "nidslab-write") as writer:
        pending = None
        for i, packets in enumerate(iter_packets(capture, chunk=chunk, limit=limit, report=report)):
            rows = fx.transform(packets, buffers[i % 2][: len(packets)])
            if pending is not None:
                pending.result()  # the other buffer's write: done before that buffer is filled again
            pending = writer.submit(out.write, rows)
            done += len(rows)
            if progress is not None:
                progress(report.packets, total, f"{done:,} packets")
        if pending is not None:
            pending.result()
    for message in report.messages():
        warnings.warn(message, CaptureWarning, stacklevel=2)
    return done
