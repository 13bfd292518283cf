"""The study's evaluation part: where the reference data is looked for, and what the report says without it."""

from __future__ import annotations

import numpy as np

from nidslab.study.parts import evaluation as evaluation_part
from nidslab.study.parts.evaluation import Config as Evaluation


def test_reference_data_is_a_setting_the_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv(evaluation_part.REFERENCE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert evaluation_part.reference_root(Evaluation(reference_data="ref")) == tmp_path / "ref"
    monkeypatch.setenv(evaluation_part.REFERENCE_ENV, str(tmp_path / "elsewhere"))
    assert evaluation_part.reference_root(Evaluation(reference_data="ref")) == tmp_path / "elsewhere"


def test_absent_reference_data_is_reported_as_not_measured_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv(evaluation_part.REFERENCE_ENV, str(tmp_path / "none"))
    unseen = {"truth": np.zeros(10, np.uint8)}
    out = evaluation_part._transfer(Evaluation(), [], {}, unseen, "lab", None, {})
    assert [s["available"] for s in out["sets"]] == [True, False, False]
    ev = {"transfer": out, "split_gap": [], "target_fprs": [1e-3]}
    text = " ".join(b[1] for b in evaluation_part._transfer_blocks(ev) if b[0] == "p")
    assert "real benign shard (Kitsune Mirai, first 2,000 packets): not measured" in text
    assert str(tmp_path / "none" / "n-baiot" / "danmini_doorbell_3300rows.csv") + " is not there" in text
