"""Readers: every form the data comes in, and a clear error for every kind of bad input."""

import gzip
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import shared_file

from nidslab import schema
from nidslab.data.readers import check_same_rows, read_features, read_labels, read_table
from nidslab.errors import DataError


@pytest.fixture()
def X():
    return np.random.default_rng(0).lognormal(2, 2, (40, 115)).astype(np.float32)


def write_csv(path, table, header=None):
    np.savetxt(path, table, delimiter=",", fmt="%.9g", header=header or "", comments="")
    if header is None:  # savetxt writes an empty first line for header=""
        path.write_text(path.read_text().lstrip("\n"))


def gz(path):
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


@pytest.mark.parametrize("index", [True, False])
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("compressed", [True, False])
def test_uci_feature_csv_in_every_shape(tmp_path, X, index, header, compressed):
    table = np.c_[np.arange(len(X)), X] if index else X
    names = (["idx"] if index else []) + [f"f{i}" for i in range(115)]
    path = tmp_path / "Mirai_dataset.csv"
    write_csv(path, table, ",".join(names) if header else None)
    if compressed:
        path = gz(path)
    got = read_features(path)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (40, 115)
    np.testing.assert_allclose(got, X, rtol=1e-6)


def test_a_header_of_feature_names_selects_by_name_in_any_order(tmp_path, X):
    order = np.random.default_rng(1).permutation(115)
    path = tmp_path / "shuffled.csv"
    write_csv(path, X[:, order], ",".join(schema.FEATURE_NAMES[i] for i in order))
    np.testing.assert_allclose(read_features(path), X, rtol=1e-6)


def test_a_header_missing_a_feature_name_is_named(tmp_path, X):
    path = tmp_path / "missing.csv"
    write_csv(path, X[:, :114], ",".join(schema.FEATURE_NAMES[:114]))
    with pytest.raises(DataError, match="HpHp_L0.01_pcc"):
        read_features(path)


def test_nbaiot_csv_features_by_name_and_normal_inverted():
    X, y = read_table(shared_file("n-baiot", "danmini_doorbell_3300rows.csv"))
    assert X.shape == (3_300, 115) and y.dtype == np.uint8
    assert y[:3_050].sum() == 0 and y[3_050:].min() == 1  # Normal = 1 for the first 3,050 rows (benign)
    assert np.array_equal(read_labels(shared_file("n-baiot", "danmini_doorbell_3300rows.csv")), y)


def test_the_real_mirai_label_file():
    y = read_labels(shared_file("kitsune-mirai", "mirai_labels.csv.gz"))
    assert y.shape == (764_137,) and y.dtype == np.uint8
    assert y[:121_621].max() == 0 and y[121_621:].min() == 1


def test_the_real_released_rows_parse_as_115_features():
    X = read_features(shared_file("kitsune-mirai", "released-features-100rows.csv"))
    assert X.shape == (100, 115)
    np.testing.assert_array_equal(X[:, 15:30], X[:, 0:15])  # H_ equals MI_dir_ in the released table


@pytest.mark.parametrize("form", ["plain", "r", "r-noheader", "header", "gz"])
def test_label_csv_forms(tmp_path, form):
    y = (np.arange(30) % 3 == 0).astype(np.uint8)
    path = tmp_path / "labels.csv"
    if form in ("plain", "gz"):
        path.write_text("".join(f"{v}\n" for v in y))
    elif form == "r":
        path.write_text('"","x"\n' + "".join(f'"{i + 1}",{v}\n' for i, v in enumerate(y)))
    elif form == "r-noheader":
        path.write_text("".join(f"{i + 1},{v}\n" for i, v in enumerate(y)))
    else:
        path.write_text("label\n" + "".join(f"{v}\n" for v in y))
    if form == "gz":
        path = gz(path)
    assert np.array_equal(read_labels(path), y)


def test_the_labs_numpy_pair(tmp_path, X):
    np.save(tmp_path / "Mirai_data.npy", np.c_[np.arange(len(X)), X].astype(np.float64))
    np.save(tmp_path / "Mirai_labels.npy", np.arange(len(X)) % 2)
    np.testing.assert_allclose(read_features(tmp_path / "Mirai_data.npy"), X, rtol=1e-6)
    assert read_labels(tmp_path / "Mirai_labels.npy").tolist() == [i % 2 for i in range(len(X))]
    np.save(tmp_path / "three.npy", np.zeros((3, 3, 3)))
    with pytest.raises(DataError, match="2-D"):
        read_features(tmp_path / "three.npy")


def test_parquet_named_positional_and_labels(tmp_path, X):
    y = (np.arange(len(X)) % 2).astype(np.uint8)
    order = list(reversed(range(115)))
    named = {schema.FEATURE_NAMES[i]: X[:, i] for i in order} | {"label": y}
    pq.write_table(pa.table(named), tmp_path / "named.parquet")
    got, labels = read_table(tmp_path / "named.parquet")
    np.testing.assert_array_equal(got, X)
    assert np.array_equal(labels, y) and np.array_equal(read_labels(tmp_path / "named.parquet"), y)
    pq.write_table(pa.table({f"c{i}": X[:, i] for i in range(115)}), tmp_path / "positional.parquet")
    np.testing.assert_array_equal(read_features(tmp_path / "positional.parquet"), X)
    pq.write_table(pa.table({"a": ["x"] * 3}), tmp_path / "text.parquet")
    with pytest.raises(DataError, match="column 'a' holds string"):
        read_features(tmp_path / "text.parquet")


@pytest.mark.parametrize("header", [False, True])
def test_a_non_numeric_cell_names_file_line_and_column(tmp_path, X, header):
    path = tmp_path / "bad.csv"
    write_csv(path, X, ",".join(schema.FEATURE_NAMES) if header else None)
    lines = path.read_text().splitlines()
    cells = lines[12].split(",")
    cells[33] = "oops"
    lines[12] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    where = f"line 13, column 34 ({schema.FEATURE_NAMES[33] if header else 'column 34'})"
    with pytest.raises(DataError, match=rf"bad.csv: {re.escape(where)}: 'oops' is not a number"):
        read_features(path)


def test_wrong_column_counts(tmp_path, X):
    write_csv(tmp_path / "narrow.csv", X[:, :100])
    with pytest.raises(DataError, match="100 columns .*kitsune-py.*expected 115"):
        read_features(tmp_path / "narrow.csv")
    path = tmp_path / "ragged.csv"
    write_csv(path, X)
    lines = path.read_text().splitlines()
    lines[20] += ",1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 21 has 116 columns; the first line has 115"):
        read_features(path)


def test_nonfinite_cells_refused_by_default_or_replaced(tmp_path, X):
    X = X.copy()
    X[5, 40] = np.inf
    X[9, 2] = np.nan
    write_csv(tmp_path / "nan.csv", X)
    with pytest.raises(DataError, match=f"2 NaN/inf cells.*row 6, feature {schema.FEATURE_NAMES[40]}.*--nonfinite zero"):
        read_features(tmp_path / "nan.csv")
    got = read_features(tmp_path / "nan.csv", nonfinite="zero")
    assert got[5, 40] == 0 and got[9, 2] == 0 and np.isfinite(got).all()
    assert np.isnan(read_features(tmp_path / "nan.csv", nonfinite="keep")[9, 2])


def test_labels_outside_0_1_name_the_row(tmp_path):
    (tmp_path / "y.csv").write_text("0\n1\n1\n2\n")
    with pytest.raises(DataError, match="y.csv: labels, row 4: 2.0; labels must be 0"):
        read_labels(tmp_path / "y.csv")
    np.save(tmp_path / "y.npy", np.array([0, 1, -1]))
    with pytest.raises(DataError, match="row 3: -1"):
        read_labels(tmp_path / "y.npy")


def test_empty_and_truncated_gzip(tmp_path, X):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_features(tmp_path / "empty.csv")
    (tmp_path / "empty.csv.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(DataError, match="empty"):
        read_features(tmp_path / "empty.csv.gz")
    write_csv(tmp_path / "whole.csv", X)
    data = gz(tmp_path / "whole.csv").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.csv.gz: truncated or corrupt gzip"):
        read_features(tmp_path / "cut.csv.gz")


def test_missing_file_unknown_type_and_row_mismatch(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_features(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown file type"):
        read_features(tmp_path / "x.xlsx")
    with pytest.raises(DataError, match="a.csv has 10 rows but b.csv has 9"):
        check_same_rows("a.csv", 10, "b.csv", 9)
