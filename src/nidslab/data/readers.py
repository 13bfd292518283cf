"""Readers for every form the Kitsune data comes in, validated at the boundary.

Features come back as float32 (rows, 115) in :data:`nidslab.schema.FEATURE_NAMES` order, labels as uint8
(rows,) with 0 benign and 1 malicious. Forms (by file suffix; ``.gz`` is decompressed on the fly):

* the UCI feature CSV (``Mirai_dataset.csv[.gz]``): 116 columns (the index column first, dropped) or 115,
  with or without a header; a header naming the N-BaIoT features selects columns by name, in any order;
* an N-BaIoT CSV: the 115 named features plus ``Normal`` (1 = benign), which :func:`read_table` turns into
  labels ``1 - Normal``;
* the UCI label CSV (``Mirai_labels.csv[.gz]``): one column, or R's ``"","x"`` (index + value), header or not;
  a ``label`` column in any CSV;
* the lab's NumPy pair (``Mirai_data.npy``: (rows, 116) with the index column, or (rows, 115);
  ``Mirai_labels.npy``);
* Parquet: the 115 named columns (others ignored), or 115/116 positional numeric columns; labels from a
  ``label`` (or ``Normal``) column, or a single-column file.

CSV is parsed by PyArrow (multithreaded); every error names the file, the line or row, the column and what
was expected.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nidslab import schema
from nidslab.errors import DataError
from nidslab.progress import Progress

NONFINITE_POLICIES = ("error", "zero", "keep")
_N = schema.N_FEATURES


# --------------------------------------------------------------------------------------------- public


def read_features(path: str | os.PathLike, *, nonfinite: str = "error", progress: Progress | None = None) -> np.ndarray:
    """Features of a file: float32 (rows, 115), C order, columns in the released order.

    ``nonfinite``: ``"error"`` (refuse NaN/inf, naming the first), ``"zero"`` (replace them with 0) or
    ``"keep"``. Empty CSV cells count as NaN.
    """
    return read_table(path, nonfinite=nonfinite, progress=progress)[0]


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Labels of a file: uint8 (rows,), 0 benign, 1 malicious (an N-BaIoT ``Normal`` column is inverted)."""
    path = _existing(path)
    kind = _kind(path)
    if kind == "npy":
        arr = _load_npy(path)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DataError(f"{path}: labels must be one value per row, got an array of shape {arr.shape}")
        return _labels(np.asarray(arr), path, "labels", offset=0)
    if kind == "parquet":
        names, cols = _parquet_columns(path)
        return _labels_from_named(path, names, cols, offset=0, positional_ok=True)
    names, cols, header = _read_csv(path)
    return _labels_from_named(path, names, cols, offset=int(header), positional_ok=True)


def read_table(path: str | os.PathLike, *, nonfinite: str = "error",
               progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (float32 (rows, 115)) and, when the same file holds them, labels (uint8 (rows,)) else None."""
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {', '.join(NONFINITE_POLICIES)}, got {nonfinite!r}")
    path = _existing(path)
    kind = _kind(path)
    if progress:
        progress(0, None, f"reading {path.name}")
    offset = 0
    y = None
    if kind == "npy":
        arr = _load_npy(path)
        if arr.ndim != 2:
            raise DataError(f"{path}: features must be a 2-D array (rows x columns), got shape {arr.shape}")
        X = _positional(path, arr.shape[1], lambda idx: np.asarray(arr[:, idx], dtype=np.float32),
                        lambda j: np.asarray(arr[:, j]), offset=0)
    else:
        if kind == "parquet":
            names, cols = _parquet_columns(path)
            header = True
        else:
            names, cols, header = _read_csv(path)
            offset = int(header)
        X, y = _features_from_named(path, names, cols, header, offset)
    X = _nonfinite(X, path, nonfinite, offset)
    if progress:
        progress(len(X), len(X), f"read {path.name}")
    return X, y


def check_same_rows(features_path: str | os.PathLike, n_features: int, labels_path: str | os.PathLike,
                    n_labels: int) -> None:
    """Raise :class:`DataError` when a feature file and a label file describe different numbers of rows."""
    if n_features != n_labels:
        raise DataError(f"{features_path} has {n_features:,} rows but {labels_path} has {n_labels:,}; "
                        "they must describe the same packets")


# --------------------------------------------------------------------------------------------- files


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    return path


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".gz")):
        return "csv"
    raise DataError(f"{path}: unknown file type; expected .csv, .csv.gz, .parquet or .npy")


def _load_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{path}: holds {arr.dtype} values; expected numbers")
    return arr


#: bytes of a text file read to sniff its first line; a Kitsune row is about 2 KB, a header about 3 KB
SNIFF_BYTES = 1 << 20
#: bytes a line may reach on the error path before the file is called "not a table of rows"
MAX_LINE_BYTES = 1 << 24
#: bytes read at a time when a parse error is looked for again
SCAN_BLOCK = 1 << 24


def _open_bytes(path: Path):
    """A binary file object of a (possibly gzipped) file."""
    return gzip.open(path, "rb") if _gz(path) else open(path, "rb")


def _first_line(path: Path) -> str:
    """The first line of a (possibly gzipped) text file, without a UTF-8 BOM or the line break.

    Reads at most :data:`SNIFF_BYTES`, so a file of the wrong kind fails fast: :class:`DataError` for a broken
    gzip, binary (non-UTF-8) bytes, a first line with no line break in that prefix, or a `;`/tab delimiter.
    """
    try:
        with _open_bytes(path) as fh:
            head = fh.read(SNIFF_BYTES)
            more = bool(head) and bool(fh.read(1))
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip file ({exc})") from None
    head = head.removeprefix(b"\xef\xbb\xbf")
    _check_text(path, head, complete=not more)
    end = head.find(b"\n")
    if end < 0 and more:
        raise DataError(f"{path}: no line break in the first {SNIFF_BYTES >> 20} MiB; expected a CSV table with one "
                        "row per line (a row of Kitsune features is about 2 KB). Is this a CSV file?")
    line = (head if end < 0 else head[:end]).decode("utf-8").rstrip("\r")
    if "," not in line:
        for sep, what in ((";", "semicolons"), ("\t", "tabs")):
            if line.count(sep) >= 2:
                raise DataError(f"{path}: line 1 has no commas but {line.count(sep)} {what}; nidslab reads "
                                "comma-separated files with '.' as the decimal point: save the file as CSV with "
                                "commas (e.g. pandas: read_csv(sep=';', decimal=','), then to_csv())")
    return line


def _check_text(path: Path, head: bytes, *, complete: bool) -> None:
    """DataError naming the line and column of the first byte of ``head`` that is not UTF-8 text."""
    bad = head.find(b"\x00")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the end of the prefix is fine
        if complete or exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            bad = exc.start if bad < 0 else min(bad, exc.start)
    if bad < 0:
        return
    line = head.count(b"\n", 0, bad) + 1
    column = head.count(b",", head.rfind(b"\n", 0, bad) + 1, bad) + 1
    raise DataError(f"{path}: line {line}, column {column}: byte 0x{head[bad]:02x} is not text (UTF-8); expected "
                    "a CSV of numbers. Is this a binary file, or a CSV in another encoding?")


def _is_number(cell: str) -> bool:
    try:
        float(cell.strip().strip('"'))
        return True
    except ValueError:
        return cell.strip().strip('"') == ""  # an empty cell is a missing value, not a header


_ARROW_CELL = re.compile(r"column #(\d+): (?:Row #\d+: )?CSV conversion error to \w+: invalid value '([^']*)'")


def _gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _explain_csv_error(path: Path, msg: str, names: list[str], header: bool) -> DataError:
    """Turn PyArrow's parse error into one naming the line and column (found again on the error path only).

    Memory stays bounded whatever the file: a bad cell is looked for in that one column (read as bytes), a
    ragged line by counting commas block by block.
    """
    m = _ARROW_CELL.search(msg)
    if m:
        col, value = int(m.group(1)), m.group(2)
        row = _find_cell(path, col, value, len(names), header)
        where = f"line {row + 1 + int(header)}, " if row is not None else ""
        shown = _cell_text(path, col, row, len(names), header) if row is not None and "\ufffd" in value else value
        return DataError(f"{path}: {where}column {col + 1} ({names[col]}): '{shown}' is not a number")
    if "columns" in msg or "straddling" in msg or "block" in msg:
        found = _find_ragged_line(path, len(names))
        if found is not None:
            line, width = found
            if width is None:
                return DataError(f"{path}: line {line} is longer than {MAX_LINE_BYTES >> 20} MiB without a line "
                                 "break; expected one row of numbers per line")
            return DataError(f"{path}: line {line} has {width} columns; the first line has {len(names)}")
    if _gz(path) or "compress" in msg.lower():
        return DataError(f"{path}: truncated or corrupt gzip file ({msg})")
    return DataError(f"{path}: not a readable CSV ({msg[:200]})")


def _column_bytes(path: Path, col: int, width: int, header: bool):
    """Column ``col`` of the CSV as a PyArrow binary array (no number or UTF-8 conversion)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(header),
                                                               block_size=1 << 24),
                          convert_options=pacsv.ConvertOptions(include_columns=[names[col]],
                                                               column_types={names[col]: pa.binary()}))[0]


def _find_cell(path: Path, col: int, value: str, width: int, header: bool) -> int | None:
    """Row (0-based, after the header) of the first cell of column ``col`` PyArrow could not convert."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        cells = _column_bytes(path, col, width, header).combine_chunks()
    except (pa.ArrowException, OSError, EOFError):
        return None
    if "\ufffd" in value:  # PyArrow shows bytes that are not UTF-8 as U+FFFD: find the first non-ASCII cell
        offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32)[cells.offset:cells.offset + len(cells) + 1]
        data = np.frombuffer(cells.buffers()[2], dtype=np.uint8) if cells.buffers()[2] else np.empty(0, np.uint8)
        high = np.flatnonzero(data[offsets[0]:offsets[-1]] >= 0x80)
        if high.size:
            return int(np.searchsorted(offsets, offsets[0] + high[0], side="right") - 1)
        return None
    hits = pc.equal(cells, pa.scalar(value.encode("utf-8"), pa.binary())).fill_null(False)
    hits = np.asarray(hits.to_numpy(zero_copy_only=False))
    return int(np.argmax(hits)) if hits.any() else None


def _cell_text(path: Path, col: int, row: int, width: int, header: bool) -> str:
    """The text of one cell (for messages), bytes that are not UTF-8 shown as escapes."""
    cell = _column_bytes(path, col, width, header)[row].as_py() or b""
    return cell.decode("utf-8", "backslashreplace")


def _find_ragged_line(path: Path, width: int) -> tuple[int, int | None] | None:
    """(line number, its column count) of the first non-empty line whose column count is not ``width``.

    Reads :data:`SCAN_BLOCK` bytes at a time and counts commas with NumPy. A line longer than :data:`MAX_LINE_BYTES`
    comes back as (line, None). None when every line has ``width`` columns.
    """
    line0, carry = 1, b""
    try:
        with _open_bytes(path) as fh:
            while True:
                chunk = fh.read(SCAN_BLOCK)
                data = carry + chunk
                if not chunk:
                    if not data:
                        return None
                    data += b"\n"
                buf = np.frombuffer(data, dtype=np.uint8)
                ends = np.flatnonzero(buf == 10)
                if ends.size == 0:
                    carry = data
                    if len(carry) > MAX_LINE_BYTES:
                        return line0, None
                    continue
                starts = np.r_[0, ends[:-1] + 1]
                commas = np.flatnonzero(buf[: ends[-1]] == 44)
                widths = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
                lengths = ends - starts
                blank = (lengths == 0) | ((lengths == 1) & (buf[np.minimum(starts, len(buf) - 1)] == 13))
                bad = np.flatnonzero((widths != width) & ~blank)
                if bad.size:
                    return line0 + int(bad[0]), int(widths[bad[0]])
                line0 += len(ends)
                carry = data[ends[-1] + 1:]
                if not chunk:
                    return None
                if len(carry) > MAX_LINE_BYTES:
                    return line0, None
    except (OSError, EOFError, zlib.error):
        return None


def _read_csv(path: Path) -> tuple[list[str], list[np.ndarray], bool]:
    """Column names and float64 columns of a CSV, and whether it had a header line."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    line = _first_line(path).rstrip("\r\n")
    if not line.strip():
        raise DataError(f"{path}: the first line is empty; expected comma-separated numbers or a header")
    first = line.split(",")
    header = not all(_is_number(c) for c in line.split(","))
    names = [c.strip().strip('"') for c in line.split(",")] if header else [f"column {i + 1}" for i in range(len(first))]
    if header:
        names = [n if n else f"column {i + 1}" for i, n in enumerate(names)]
    read = pacsv.ReadOptions(column_names=[f"c{i}" for i in range(len(names))], skip_rows=int(header),
                             block_size=1 << 24, use_threads=True)
    convert = pacsv.ConvertOptions(column_types={f"c{i}": pa.float64() for i in range(len(names))})
    try:
        table = pacsv.read_csv(path, read_options=read, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise _explain_csv_error(path, str(exc), names, header) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: truncated or corrupt {'gzip ' if _gz(path) else ''}file ({exc})") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: no data rows")
    cols = [np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64) for c in table.columns]
    return names, cols, header


def _parquet_columns(path: Path) -> tuple[list[str], list[np.ndarray]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: no data rows")
    names, cols = [], []
    for name, col in zip(table.column_names, table.columns):
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)):
            raise DataError(f"{path}: column {name!r} holds {col.type}; expected numbers")
        names.append(name)
        cols.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))
    return names, cols


# --------------------------------------------------------------------------------------------- shaping


_LABEL_NAMES = ("label", "labels", "x", "y", "class", "malicious", "truth")  # truth: nidslab simulate's labels file


def _features_from_named(path: Path, names: list[str], cols: list[np.ndarray], header: bool,
                         offset: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Select the 115 features by name when the header names them, else by position."""
    pos = {n: i for i, n in enumerate(names)}
    known = [n for n in names if n in schema.INDEX]
    if header and known:
        missing = [n for n in schema.FEATURE_NAMES if n not in pos]
        if missing:
            raise DataError(f"{path}: the header names {len(known)} of the 115 Kitsune features; missing "
                            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        X = _stack([cols[pos[n]] for n in schema.FEATURE_NAMES])
        y = None
        if "Normal" in pos:
            y = 1 - _labels(cols[pos["Normal"]], path, "column Normal", offset)
        else:
            for n in _LABEL_NAMES:
                if n in pos:
                    y = _labels(cols[pos[n]], path, f"column {n}", offset)
                    break
        return X, y
    labelled = [n for n in names if n.lower() in _LABEL_NAMES or n == "Normal"] if header else []
    feats = [c for n, c in zip(names, cols) if n not in labelled]
    X = _positional(path, len(feats), lambda idx: _stack([feats[i] for i in idx]), lambda j: feats[j], offset)
    y = None
    if labelled:
        n = labelled[0]
        y = _labels(cols[names.index(n)], path, f"column {n}", offset)
        if n == "Normal":
            y = 1 - y
    return X, y


def _positional(path: Path, width: int, take: Callable[[list[int]], np.ndarray],
                column: Callable[[int], np.ndarray], offset: int) -> np.ndarray:
    """The 115 features by position: all ``width`` columns, or all but the index column first (checked)."""
    if width == _N + 1:
        _check_index(path, column(0), column(_N), offset)
        return np.ascontiguousarray(take(list(range(1, _N + 1))))  # the index column first: drop it
    if width == _N:
        return np.ascontiguousarray(take(list(range(_N))))
    hint = " (that is the kitsune-py layout; nidslab reads the released 115)" if width == 100 else ""
    raise DataError(f"{path}: {width} columns{hint}; expected {_N} features, or {_N + 1} with the index column first")


def _check_index(path: Path, first: np.ndarray, last: np.ndarray, offset: int) -> None:
    """Refuse to drop column 1 of a 116-column table unless it is a row index.

    A row index holds distinct whole numbers >= 0 (the released table's 0, 1, 2, ..., or a subset of it, in
    any order). Anything else means the extra column is elsewhere, e.g. a label column last.
    """
    v = np.asarray(first, dtype=np.float64)
    whole = np.isfinite(v) & (v >= 0) & (v == np.floor(v))
    if whole.all():
        d = np.diff(v)
        if (d > 0).all() or np.unique(v).size == v.size:
            return
        i = int(np.flatnonzero(np.diff(np.sort(v)) == 0)[0])
        problem = f"the value {np.sort(v)[i]:g} appears more than once"
    else:
        i = int(np.argmin(whole))
        problem = f"{_where(i, offset)} holds {v[i]:.9g}"
    hint = ""
    if np.isin(np.asarray(last), (0, 1)).all():
        hint = (f" Column {_N + 1} holds only 0 and 1: if it is a label column, name it in a header line "
                "(`label`) or move it into a labels file.")
    raise DataError(f"{path}: {_N + 1} columns, so column 1 should be the row index (0, 1, 2, ...) and is "
                    f"dropped; but {problem}.{hint}")


def _stack(cols: list[np.ndarray]) -> np.ndarray:
    X = np.empty((len(cols[0]), len(cols)), dtype=np.float32)
    for j, c in enumerate(cols):
        X[:, j] = c
    return X


def _labels_from_named(path: Path, names: list[str], cols: list[np.ndarray], *, offset: int,
                       positional_ok: bool) -> np.ndarray:
    if "Normal" in names:
        return 1 - _labels(cols[names.index("Normal")], path, "column Normal", offset)
    for n in names:
        if n.lower() in _LABEL_NAMES:
            return _labels(cols[names.index(n)], path, f"column {n}", offset)
    if len(cols) == 1:
        return _labels(cols[0], path, "labels", offset)
    if len(cols) == 2 and positional_ok:
        return _labels(cols[1], path, "column 2", offset)  # R's write.csv: index, x
    raise DataError(f"{path}: {len(cols)} columns; expected one label column (or an index column and the "
                    "labels, or a column named label / x / Normal)")


def _labels(values: np.ndarray, path: Path, what: str, offset: int) -> np.ndarray:
    v = np.asarray(values)
    if v.dtype == np.uint8 and (v.size == 0 or v.max() <= 1):
        return np.ascontiguousarray(v)
    bad = ~np.isin(v, (0, 1))
    if bad.any():
        i = int(np.argmax(bad))
        value = v[i].item()
        shown = "an empty cell" if isinstance(value, float) and np.isnan(value) else repr(value)
        raise DataError(f"{path}: {what}, {_where(i, offset)}: {shown}; labels must be 0 (benign) or 1 (malicious)")
    return v.astype(np.uint8)


def _where(i: int, offset: int) -> str:
    return f"line {i + 1 + offset}" if offset else f"row {i + 1}"


def _nonfinite(X: np.ndarray, path: Path, policy: str, offset: int) -> np.ndarray:
    if policy == "keep":
        return X
    bad = ~np.isfinite(X)
    if not bad.any():
        return X
    if policy == "zero":
        X[bad] = 0.0
        return X
    r, c = (int(v) for v in np.argwhere(bad)[0])
    raise DataError(f"{path}: {int(bad.sum()):,} NaN/inf cells (or empty ones); the first at {_where(r, offset)}, "
                    f"feature {schema.FEATURE_NAMES[c]}. Clean the file, or read it with --nonfinite zero")
