"""`nidslab features extract`: writes .npy/.csv/.parquet, reports problems, exits 2 on bad input."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nidslab import schema
from nidslab.cli import app
from nidslab.features import column_names, extract_features, write_pcap

runner = CliRunner()


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    from test_features import A, B, udp_frame

    frames = [udp_frame(A, B, 4000 + i % 3, 53, 60 + 10 * i) for i in range(40)]
    frames.insert(7, b"\x00\x01")  # one malformed frame
    path = tmp_path_factory.mktemp("cli") / "small.pcap"
    write_pcap(path, 100 + 0.01 * np.arange(len(frames)), frames)
    return path


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_extract_writes_each_format(tmp_path, capture, suffix):
    out = tmp_path / f"features{suffix}"
    result = runner.invoke(app, ["features", "extract", str(capture), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "40 packets x 115 features" in said(result) and "skipped 1 malformed" in said(result)
    with pytest.warns(Warning):
        expected = extract_features(capture)
    if suffix == ".npy":
        got = np.load(out)
    else:
        table = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
        assert table.column_names == list(schema.FEATURE_NAMES)
        got = np.column_stack([table[c].to_numpy() for c in table.column_names])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_extract_layout_and_limit(tmp_path, capture):
    out = tmp_path / "k.parquet"
    result = runner.invoke(app, ["features", "extract", str(capture), "-o", str(out), "--layout", "kitsune-py", "--limit", "5"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 5 and table.column_names == list(column_names("kitsune-py"))


def test_extract_bad_input_exits_2(tmp_path, capture):
    text = tmp_path / "notes.txt"
    text.write_text("not a capture")
    result = runner.invoke(app, ["features", "extract", str(text), "-o", str(tmp_path / "x.npy")])
    assert result.exit_code == 2 and "not a packet capture" in said(result)
    result = runner.invoke(app, ["features", "extract", str(capture), "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2 and "unknown format" in said(result)
    result = runner.invoke(app, ["features", "extract", str(capture), "-o", str(tmp_path / "x.npy"), "--layout", "nope"])
    assert result.exit_code == 2 and "unknown layout" in said(result)
    assert not (tmp_path / "x.npy").exists() and not list(tmp_path.glob(".*.tmp"))  # no file, no temporary one
