"""Issue 16: nothing a user owns is lost, no silent wrong result, and every mistake gets one clear line.

Each test here failed on the code before the fix it guards (see the commit messages).
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from nidslab.data.readers import read_features, read_labels, read_table
from nidslab.errors import DataError


@pytest.fixture()
def X():
    return np.random.default_rng(0).lognormal(2, 2, (60, 115))


def _csv(path, table, delimiter=","):
    np.savetxt(path, table, delimiter=delimiter, fmt="%.9g")
    return path


# --------------------------------------------------------------------------- 2: index column that is not one


def test_headerless_116_columns_with_a_label_last_is_refused_not_misread(tmp_path, X):
    y = np.arange(len(X)) % 2
    path = _csv(tmp_path / "with_label.csv", np.c_[X, y])
    with pytest.raises(DataError, match=r"with_label.csv: 116 columns, so column 1 should be the row index.*"
                                        r"row 1 holds .*Column 116 holds only 0 and 1"):
        read_features(path)
    np.save(tmp_path / "with_label.npy", np.c_[X, y])
    with pytest.raises(DataError, match="column 1 should be the row index"):
        read_features(tmp_path / "with_label.npy")


def test_a_real_index_column_is_still_dropped_in_any_order(tmp_path, X):
    index = np.random.default_rng(1).permutation(1000)[: len(X)]  # a shuffled subset of the released index
    got = read_features(_csv(tmp_path / "indexed.csv", np.c_[index, X]))
    np.testing.assert_allclose(got, X, rtol=1e-6)
    index[3] = index[4]
    with pytest.raises(DataError, match="appears more than once"):
        read_features(_csv(tmp_path / "dup.csv", np.c_[index, X]))


# --------------------------------------------------------------------------- 8: bounded reads, clear errors


def test_a_big_file_without_line_breaks_fails_fast_with_a_message(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"1.5," * (50_000_000 // 4))  # 50 MB, no newline
    start = time.perf_counter()
    with pytest.raises(DataError, match="one_line.csv: no line break in the first 1 MiB"):
        read_features(path)
    assert time.perf_counter() - start < 5
    gz = tmp_path / "one_line.csv.gz"
    gz.write_bytes(gzip.compress(b"1.5," * (5_000_000 // 4), compresslevel=1))
    with pytest.raises(DataError, match="no line break"):
        read_labels(gz)


def test_random_bytes_are_called_not_text(tmp_path):
    path = tmp_path / "random.csv"
    path.write_bytes(np.random.default_rng(2).bytes(300_000))
    with pytest.raises(DataError, match=r"random.csv: line \d+, column \d+: byte 0x[0-9a-f]{2} is not text"):
        read_features(path)


def test_a_0xff_byte_in_a_cell_is_named_near_and_far_from_the_start(tmp_path):
    X = np.random.default_rng(3).lognormal(2, 2, (3_000, 115))  # about 3.8 MB: line 2501 is past the sniffed prefix
    lines = _csv(tmp_path / "x.csv", X).read_bytes().split(b"\n")
    for row, name in ((2, "near.csv"), (2_500, "far.csv")):
        bad = list(lines)
        cells = bad[row].split(b",")
        cells[7] = b"1\xff2"
        bad[row] = b",".join(cells)
        (tmp_path / name).write_bytes(b"\n".join(bad))
    with pytest.raises(DataError, match=r"near.csv: line 3, column 8: byte 0xff is not text"):
        read_features(tmp_path / "near.csv")
    with pytest.raises(DataError, match=r"far.csv: line 2501, column 8 \(column 8\): '1\\xff2' is not a number"):
        read_features(tmp_path / "far.csv")


def test_a_line_longer_than_the_limit_deep_in_the_file(tmp_path, monkeypatch):
    from nidslab.data import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1 << 20)  # the 16 MiB limits, scaled down with the file
    monkeypatch.setattr(readers, "SCAN_BLOCK", 1 << 20)
    X = np.random.default_rng(4).lognormal(2, 2, (2_000, 115))
    lines = _csv(tmp_path / "x.csv", X).read_bytes().split(b"\n")
    ragged = list(lines)
    ragged[1_500] += b",1"
    (tmp_path / "ragged.csv").write_bytes(b"\n".join(ragged))
    with pytest.raises(DataError, match=r"ragged.csv: line 1501 has 116 columns; the first line has 115"):
        read_features(tmp_path / "ragged.csv")
    lines[1_500] += b",1" * 1_500_000  # 3 MB without a line break
    (tmp_path / "long.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(DataError, match=r"long.csv: line 1501 is longer than 1 MiB"):
        read_features(tmp_path / "long.csv")


def test_a_utf8_bom_does_not_eat_the_first_row(tmp_path, X):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(tmp_path / "plain.csv", X).read_bytes())
    got, _ = read_table(path)
    assert got.shape == (len(X), 115)
    np.testing.assert_allclose(got, X, rtol=1e-6)


@pytest.mark.parametrize("delimiter,word", [(";", "semicolons"), ("\t", "tabs")])
def test_a_semicolon_or_tab_delimiter_is_named(tmp_path, X, delimiter, word):
    path = _csv(tmp_path / "european.csv", X, delimiter)
    with pytest.raises(DataError, match=f"european.csv: line 1 has no commas but 114 {word}"):
        read_features(path)
