"""The report's data part (nidslab.study.parts.data.render): the features used, per Kitsune group, from
nidslab.features.describe."""

from __future__ import annotations

from nidslab import schema
from nidslab.features.describe import group_summary
from nidslab.study.parts import data
from test_report import sample_results


def _group_table(result: dict) -> list[list[str]] | None:
    blocks, _ = data.render(result, {})  # type: ignore[arg-type]
    tables = [b for b in blocks if b[0] == "table" and b[1][0] == "group"]
    return tables[0][2] if tables else None


def test_the_data_part_lists_the_feature_groups_it_used():
    d = sample_results()["data"]
    assert d["features"] == "lab" and d["n_features"] == 92
    rows = _group_table(d)
    assert rows is not None
    expected = group_summary(schema.LAB_FEATURES)
    assert [r[0] for r in rows] == [g["group"] for g in expected]
    assert sum(int(r[1]) for r in rows) == 92
    hh = {r[0]: r for r in rows}["HH"]
    assert hh[2] == "IP pair" and "pcc" in hh[3] and "0.2 s" in hh[5]  # lambda 5: half-life 0.2 s (schema.half_life)
    every = _group_table({**d, "features": "all", "n_features": 115})
    assert every is not None and sum(int(r[1]) for r in every) == 115 and {r[0] for r in every} >= {"MI_dir", "H"}
    assert _group_table({**d, "features": "all", "n_features": 7}) is None  # not the Kitsune columns: no table
