"""nidslab.features.describe: every column of both layouts described, in agreement with the extractor."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from test_features import MAC_A, udp_frame

from nidslab import schema
from nidslab.errors import UnknownNameError
from nidslab.features import column_names, extract_features, write_pcap
from nidslab.features.describe import (
    LAYOUT_NAMES,
    describe_feature,
    describe_features,
    group_summary,
    markdown_table,
)

STREAMS = {"source MAC+IP", "source IP", "IP pair", "socket pair", "source socket"}
STATS = {"weight", "mean", "std", "variance", "magnitude", "radius", "covariance", "pcc"}
A, B = (10, 0, 0, 1), (10, 0, 0, 2)


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_every_column_of_both_layouts_is_described(layout):
    descs = describe_features(layout=layout)
    assert [d.name for d in descs] == list(column_names(layout))  # the extractor's columns, in its order
    assert [d.column for d in descs] == list(range(len(descs)))
    for d in descs:
        assert d.group in schema.GROUPS and d.stream in STREAMS and d.statistic in STATS
        assert d.lam in schema.LAMBDAS and d.half_life_s == pytest.approx(1 / d.lam)
        assert d.direction and d.meaning.endswith(".") and d.phrase
        assert d.unit or d.statistic == "pcc"
        assert json.loads(json.dumps(d.to_dict()))["lambda"] == d.lam
    assert {d.group for d in descs} == (set(schema.GROUPS) - ({"H"} if layout == "kitsune-py" else set()))


def test_the_reference_quirks_are_said():
    std = [d for d in describe_features(layout="kitsune-py") if "_std" in d.name]
    assert len(std) == 20 and all(d.statistic == "variance" and any("holds the variance" in q for q in d.quirks)
                                  for d in std)
    assert describe_feature("HH_5_weight_0").stream == "source IP"  # its 1D HH part is the source's stream
    assert describe_feature("HH_L5_weight").stream == "IP pair"
    assert describe_feature("HH_L5_pcc").direction == "both directions"
    assert any("repeat MI_dir" in q for q in describe_feature("H_L1_mean").quirks)
    assert describe_feature("HH_jit_L1_mean").unit == "s" and describe_feature("HH_L1_mean").unit == "bytes"


def test_selection_by_group_name_and_errors():
    assert [d.name for d in describe_features("HH_jit")] == list(schema.features_in("HH_jit"))
    assert len(describe_features("lab")) == 92 and len(describe_features("MI_dir,H_L5_weight")) == 16
    assert len(describe_features("HpHp", layout="kitsune-py")) == 35
    with pytest.raises(UnknownNameError, match="--layout kitsune-py"):
        describe_features("MI_dir_5_std")
    with pytest.raises(UnknownNameError, match="'nope'"):
        describe_features("nope", layout="kitsune-py")
    with pytest.raises(UnknownNameError, match="layout"):
        describe_features(layout="csv")


def test_lambdas_and_half_lives_agree_with_the_extractor(tmp_path):
    from nidslab.features import extract

    assert tuple(extract.LAMBDAS) == tuple(d.lam for d in describe_features("MI_dir_L5_weight,MI_dir_L3_weight,"
                                                                             "MI_dir_L1_weight,MI_dir_L0.1_weight,"
                                                                             "MI_dir_L0.01_weight"))
    # two packets one half-life apart: the first counts 1/2 when the second arrives, so the weight is 1.5
    for layout in LAYOUT_NAMES:
        for d in describe_features("MI_dir", layout=layout):
            if d.statistic != "weight":
                continue
            path = tmp_path / f"{layout}-{d.name}.pcap"
            write_pcap(path, [1000.0, 1000.0 + d.half_life_s], [udp_frame(A, B, 5000, 53, 100)] * 2)
            X = extract_features(path, layout=layout)
            assert X[1, d.column] == pytest.approx(1.5, rel=1e-6), d.name


def test_statistics_and_units_agree_with_the_extractor(tmp_path):
    """Sizes in bytes; kitsune-py's MI_dir 'std' holds the same number as the uci layout's variance."""
    path = tmp_path / "c.pcap"
    write_pcap(path, [1000.0] * 3, [udp_frame(A, B, 5000, 53, s, src_mac=MAC_A) for s in (100, 300, 500)])
    uci, ref = extract_features(path), extract_features(path, layout="kitsune-py")
    for d in describe_features("MI_dir", layout="kitsune-py"):
        twin = f"MI_dir_L{d.name.split('_')[2]}_{d.statistic}"  # same stream, lambda and statistic in uci
        assert describe_feature(twin).statistic == d.statistic
        np.testing.assert_allclose(ref[:, d.column], uci[:, schema.INDEX[twin]], rtol=1e-6)
    assert uci[2, schema.INDEX["MI_dir_L5_mean"]] == pytest.approx(300.0)  # bytes
    assert uci[2, schema.INDEX["MI_dir_L5_variance"]] == pytest.approx(80000 / 3, rel=1e-5)  # bytes²


def test_group_summary_and_markdown():
    groups = group_summary(schema.LAB_FEATURES)
    assert [g["group"] for g in groups] == ["H", "HH", "HH_jit", "HpHp"] and groups[0]["columns"] == 7
    assert groups[1]["half_lives_s"] == [0.2, 1 / 3, 1.0, 10.0, 100.0]
    md = markdown_table(by="group")
    assert md.count("\n") == 2 + 5 and "| MI_dir | 15 | source MAC+IP |" in md
    rows = markdown_table(describe_features(layout="kitsune-py")).splitlines()
    assert len(rows) == 102 and "holds the variance" in rows[4]


def test_describe_imports_no_numba_or_torch():
    code = ("import sys; from nidslab.features.describe import describe_features; describe_features(); "
            "print(sorted(m for m in ('numba', 'torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_describe_table_json_and_errors():
    from typer.testing import CliRunner

    from nidslab.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["features", "describe", "HH", "--layout", "kitsune-py", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 35 and rows[0]["name"] == "HH_5_weight_0" and rows[0]["half_life_s"] == 0.2
    res = runner.invoke(app, ["features", "describe", "H_L5_weight"], env={"COLUMNS": "160"})
    assert res.exit_code == 0 and "H_L5_weight" in res.stdout and "0.2 s" in res.stdout and "quirk" in res.stdout
    res = runner.invoke(app, ["features", "describe", "H_L5_weight", "--layout", "kitsune-py"])
    assert res.exit_code == 2 and "unknown feature or group 'H_L5_weight'" in res.output
