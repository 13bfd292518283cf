"""Feature files written chunk by chunk (nidslab.features.output): the rows equal extract_features' bit for
bit in every format, and a failed write leaves nothing behind."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from nidslab.errors import DataError
from nidslab.features import CaptureWarning, ReadReport, column_names, extract_features, write_pcap
from nidslab.features import output as fo


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """1,200 UDP packets among 12 hosts (many streams and links), 3 malformed frames among them."""
    from test_features import udp_frame

    rng = np.random.default_rng(5)
    hosts = [(10, 0, 0, i) for i in range(1, 13)]
    frames = []
    for _ in range(1200):
        a, b = rng.choice(len(hosts), 2, replace=False)
        frames.append(udp_frame(hosts[a], hosts[b], int(rng.integers(1024, 1040)), 53, int(rng.integers(60, 600))))
    for at in (5, 400, 1100):
        frames.insert(at, b"\x02\x00\x00")  # shorter than an Ethernet header
    path = tmp_path_factory.mktemp("output") / "mixed.pcap"
    write_pcap(path, 1000 + 0.003 * np.arange(len(frames)), frames)
    return path


def read_back(path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    return np.column_stack([table[c].to_numpy() for c in table.column_names]).astype(np.float32)


@pytest.mark.parametrize("layout", ["uci", "kitsune-py"])
@pytest.mark.parametrize("suffix", [".parquet", ".npy", ".csv"])
@pytest.mark.parametrize("limit", [None, 777])
def test_streamed_file_equals_extract_features(tmp_path, capture, layout, suffix, limit):
    malformed = "3 malformed" if limit is None else "2 malformed"
    with pytest.warns(CaptureWarning, match=malformed):
        expected = extract_features(capture, layout=layout, limit=limit)
    out = tmp_path / f"f{suffix}"
    calls, report = [], ReadReport(str(capture))
    with pytest.warns(CaptureWarning, match=malformed):
        rows = fo.extract_to_file(capture, out, layout=layout, limit=limit, chunk=256, report=report,
                                  progress=lambda d, t, m="": calls.append((d, t)))
    assert rows == len(expected) == (1200 if limit is None else 775)
    assert report.malformed == (3 if limit is None else 2)
    assert calls[-1] == (limit or 1203, limit or 1203) and len(calls) == -(-(limit or 1203) // 256)
    got = read_back(out)
    if suffix == ".csv":  # text: pyarrow writes the shortest repr that reads back to the same float32
        np.testing.assert_array_equal(got, expected)
    else:
        assert got.dtype == np.float32 and got.tobytes() == expected.tobytes()
    if suffix == ".parquet":
        meta = pq.ParquetFile(out).metadata
        assert meta.num_row_groups == -(-rows // 256)
        assert pq.read_schema(out).names == list(column_names(layout))
    if layout == "uci":  # the project's reader (data import, predict) takes the streamed file as it is
        from nidslab.data import read_features

        np.testing.assert_array_equal(read_features(out, nonfinite="keep"), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


def test_npy_and_csv_match_the_one_shot_writers(tmp_path):
    X = np.random.default_rng(0).standard_normal((1000, 4)).astype(np.float32)
    X[3, 2] = np.nan
    names = ["a", "b", "c", "d"]
    fo.write_features(tmp_path / "x.npy", X, names, chunk=300)
    ref = io.BytesIO()
    np.save(ref, X)
    assert (tmp_path / "x.npy").read_bytes() == ref.getvalue()
    fo.write_features(tmp_path / "x.csv", X, names, chunk=300)
    pacsv.write_csv(pa.table({n: X[:, i] for i, n in enumerate(names)}), tmp_path / "ref.csv")
    assert (tmp_path / "x.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    for suffix in (".npy", ".csv", ".parquet"):  # no rows: a file with the columns and none
        fo.write_features(tmp_path / f"empty{suffix}", X[:0], names)
        assert read_back(tmp_path / f"empty{suffix}").shape[0] == 0


def test_failure_mid_write_leaves_the_old_file(tmp_path, capture, monkeypatch):
    out = tmp_path / "f.parquet"
    out.write_bytes(b"previous")
    real = fo.FeatureFile.write
    seen = []

    def failing(self, X):
        seen.append(len(X))
        if len(seen) == 3:
            raise OSError(28, "No space left on device")
        real(self, X)

    monkeypatch.setattr(fo.FeatureFile, "write", failing)
    with pytest.raises(OSError, match="No space"):
        fo.extract_to_file(capture, out, chunk=128)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet"]


def test_bad_capture_or_suffix_writes_nothing(tmp_path, capture):
    text = tmp_path / "notes.txt"
    text.write_text("not a capture")
    with pytest.raises(DataError, match="not a packet capture"):
        fo.extract_to_file(text, tmp_path / "x.parquet")
    with pytest.raises(DataError, match="unknown format '.xlsx'"):
        fo.extract_to_file(capture, tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="expected \\(n, 3\\)"):
        fo.write_features(tmp_path / "y.npy", np.zeros((2, 2), np.float32), ["a", "b", "c"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
