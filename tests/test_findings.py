"""Issue 22 items 4-8: the lab's findings beside its own numbers, label truth, seed spread, Q8/Q12/Q21, and a
report people can read (contents, rounded numbers, inline code, scrolling tables, stamped figures)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
from test_report import sample_results

from nidslab.study import findings as fd
from nidslab.study.numbers import fmt
from nidslab.study.questions import answer_questions
from nidslab.study.report import render

LAB_TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / "dnn-lab-2023.txt"


def _by_part(r):
    return {f["part"]: f for f in fd.findings(r)}


def test_every_finding_of_the_lab_is_checked_with_the_labs_number_beside_this_runs():
    found = _by_part(sample_results())
    assert set(found) == {"Part 10", "Part 12", "Part 14", "Part 15", "Parts 16-17", "Part 18", "Parts 20-21",
                          "Parts 10-19", "Part 1"}
    for f in found.values():
        assert f["verdict"] in ("holds", "partly", "does not hold") and f["lab"] and f["here"]
    assert "0.8404" in found["Part 10"]["lab"] and "0.9244" in found["Parts 16-17"]["lab"]
    assert "0.00079" in found["Parts 20-21"]["lab"] and "0.002295" in found["Parts 20-21"]["lab"]


def test_part_10_says_how_long_validation_accuracy_sat_at_the_majority_share():
    r = sample_results()
    e = r["experiments"]["sigmoid_2x20"]
    e["history"]["val_accuracy"] = [0.8408] * 5 + [0.86, 0.9]
    e["test"]["positive_rate"] = 0.93          # it left the majority class in the end
    f = _by_part(r)["Part 10"]
    assert f["verdict"] == "partly"
    assert "sat at 0.8408 (the majority share) for its first 5 of 7 epochs" in f["here"]
    e["history"]["val_accuracy"] = [0.3, 0.8408, 0.8409, 0.9]
    assert "in epochs 2-3 of 4" in _by_part(r)["Part 10"]["here"]
    e["history"]["val_accuracy"] = [0.8408] * 7
    e["test"]["positive_rate"] = 1.0
    assert _by_part(r)["Part 10"]["verdict"] == "holds"


def test_part_14_is_judged_by_the_validation_loss_against_a_coins():
    r = sample_results()
    r["experiments"]["deeper_4x20"]["history"]["val_loss"] = [0.70, 0.695, 0.6906]
    r["experiments"]["balanced_2x20"]["history"]["val_loss"] = [0.6, 0.5, 0.3776]
    assert _by_part(r)["Part 14"]["verdict"] == "holds"
    r["experiments"]["deeper_4x20"]["history"]["val_loss"] = [0.6, 0.4, 0.30]
    assert _by_part(r)["Part 14"]["verdict"] == "does not hold"
    r["experiments"]["deeper_4x20"]["history"]["val_loss"] = [0.70, 0.695, 0.6906]
    r["experiments"]["balanced_2x20"]["history"]["val_loss"] = [0.70, 0.695, 0.69]   # neither trained
    f = _by_part(r)["Part 14"]
    assert f["verdict"] == "partly" and "2 x 20" in f["text"]


def test_a_pair_with_seed_runs_is_judged_against_their_spread():
    r = sample_results()
    base, drop = r["experiments"]["balanced_2x20"], r["experiments"]["dropout_2x20"]
    # one seed each: +0.0048 over a CV noise of 0.0023 reads as a lift
    assert _by_part(r)["Part 18"]["verdict"] == "holds"
    assert "rests on one seed" in _by_part(r)["Part 18"]["text"]
    base["seed_runs"] = {"seeds": [0, 1, 2], "test_accuracy": [0.8798, 0.8750, 0.8850],
                         "test_balanced_accuracy": [0.85, 0.84, 0.86], "val_accuracy": [0.88, 0.87, 0.89]}
    drop["seed_runs"] = {"seeds": [0, 1, 2], "test_accuracy": [0.8846, 0.8790, 0.8760],
                         "test_balanced_accuracy": [0.86, 0.85, 0.85], "val_accuracy": [0.88, 0.87, 0.89]}
    f = _by_part(r)["Part 18"]
    assert f["verdict"] == "does not hold" and "within the noise" in f["text"]
    assert "over 3 seeds" in f["text"] and "judged on 3 seeds" in f["text"]
    mean = np.mean(drop["seed_runs"]["test_accuracy"])
    assert fmt(mean, "acc") in f["text"]
    paths = [ev["path"] for ev in f["evidence"]]
    assert ["experiments", "dropout_2x20", "seed_runs", "test_accuracy"] in paths
    # a lift far beyond the spread holds, on the seeds' means
    drop["seed_runs"]["test_accuracy"] = [0.95, 0.951, 0.949]
    assert _by_part(r)["Part 18"]["verdict"] == "holds"


def test_label_truth_is_measured_and_said_near_the_summary(tmp_path):
    from nidslab.study.parts.data import label_truth

    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1], np.uint8)     # the time cut
    truth = np.array([0, 0, 1, 0, 1, 0, 1, 1], np.uint8)      # two benign packets after the onset
    lt = label_truth(labels, truth, np.array([1, 2, 3, 4]))
    assert lt["benign_called_malicious"] == 2 and lt["malicious_called_benign"] == 0
    assert lt["ceiling_accuracy"] == pytest.approx(6 / 8)
    assert lt["test"]["benign_called_malicious"] == 1 and lt["test"]["ceiling_accuracy"] == pytest.approx(0.75)
    assert label_truth(labels, None, np.arange(3)) is None

    r = sample_results()
    r["data"]["label_truth"] = {**lt, "benign_called_malicious": 21631, "rows": 764137}
    render(r, tmp_path)
    md = (tmp_path / "report.md").read_text()
    summary = md[md.index("## Summary"):md.index("## The lab's findings")]
    assert "21,631" in summary and "0.7500" in summary and "benign background" in summary


def test_the_accuracy_level_is_read_against_the_packet_truth_ceiling():
    r = sample_results()
    r["data"]["label_truth"] = {"rows": 10, "benign_called_malicious": 1, "malicious_called_benign": 0,
                                "ceiling_accuracy": 0.9, "ceiling_balanced_accuracy": 0.95,
                                "test": {"rows": 5, "benign_called_malicious": 1, "malicious_called_benign": 0,
                                         "ceiling_accuracy": 0.92, "ceiling_balanced_accuracy": 0.95}}
    f = _by_part(r)["Parts 10-19"]
    assert "above the packet-truth ceiling for accuracy (0.9200)" in f["text"]     # Adam: 0.9244


@pytest.mark.skipif(not LAB_TEXT.is_file(), reason=f"the lab text {LAB_TEXT} is absent (a fresh clone has no ../shared)")
def test_the_labs_numbers_are_quoted_from_its_text():
    text = LAB_TEXT.read_text(encoding="utf-8")
    for name in dir(fd):
        if name.startswith("LAB_"):
            value = getattr(fd, name)
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, float):
                    assert (f"{v:.4f}" in text or repr(v) in text), (name, v)
    assert "RTX 3090" in text and "10 496" in text


def test_numbers_are_written_for_people():
    assert fmt(4.306e-05, "num") == "0.000043" and fmt(2.44e-08, "num") == "< 0.000001"
    assert fmt(0.006228926673600699, "num") == "0.006229"
    assert fmt(5.48e-06, "s") == "5.48 µs"
    assert fmt(12.34, "s") == "12.3 s"


def test_the_report_has_contents_inline_code_and_scrolling_tables(tmp_path):
    r = sample_results()
    render(r, tmp_path)
    page = (tmp_path / "report.html").read_text()
    ids = re.findall(r'<h2 id="([^"]+)"', page)
    links = re.findall(r'<li><a href="#([^"]+)"', page)
    assert links and set(links) <= set(ids) and len(links) == len(ids) - 1     # every section but "Contents"
    assert "<table" in page and page.count("<table") == page.count('<div class="scroll"><table')
    md = (tmp_path / "report.md").read_text()
    assert "## Contents" in md and "- [Summary](#summary)" in md
    from nidslab.study.report import _inline

    assert _inline("run `nidslab lab --quick` <now>") == "run <code>nidslab lab --quick</code> &lt;now&gt;"


def test_figures_carry_the_dataset_and_simulated():
    from nidslab.study.charts import png_bytes, stamped
    from nidslab.study.charts import plt as pyplot

    def draw():
        fig, ax = pyplot.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, 1])
        return fig

    plain = png_bytes(draw())
    with stamped("mirai-sim (simulated)"):
        marked = png_bytes(draw())
    assert marked != plain and marked[:8] == b"\x89PNG\r\n\x1a\n"
    from nidslab.study.report import figure_stamp

    assert figure_stamp({"dataset": "mirai-sim", "dataset_source": {"name": "mirai-sim", "simulated": True}}) == \
        "mirai-sim (simulated)"
    assert figure_stamp({"dataset": "kitsune-mirai", "dataset_source": {"simulated": False}}) == "kitsune-mirai"


def test_q1_q2_give_the_labs_gpu_and_this_machines():
    a = {q["id"]: q["answer"] for q in answer_questions(sample_results())}
    assert "RTX 3090" in a[1] and "10,496" in a[1] and "no CUDA GPU" in a[1]
    assert "24 GB" in a[2] and "24.0 GiB" in a[2]


def test_q8_measures_the_cpu_when_there_is_no_gpu_and_the_gpu_when_there_is():
    r = sample_results()
    row = r["batch_size_timing"]["rows"][0]
    row["usage"] = {"device": "cpu", "wall_seconds": 4.0, "cpu_seconds": 6.0, "cpu_busy_cores": 1.5}
    a = answer_questions(r)[7]["answer"]
    assert "the CPU was measured instead" in a and "1.5 cores busy" in a
    row["usage"] = {"device": "cuda", "wall_seconds": 1.0, "cpu_seconds": 1.0, "cpu_busy_cores": 1.0,
                    "gpu_utilization_mean_pct": 12.5, "gpu_utilization_max_pct": 31.0, "samples": 20,
                    "sampler": "nvidia-smi", "gpu_max_memory_allocated": 3 * 2**20, "gpu_max_memory_reserved": 20 * 2**20}
    a = answer_questions(r)[7]["answer"]
    assert "12.5% of the time" in a and "3.0 MiB" in a and "nvidia-smi" in a


def test_device_usage_on_the_cpu_counts_busy_cores():
    torch = pytest.importorskip("torch")
    from nidslab.memory import DeviceUsage

    with DeviceUsage() as usage:
        x = torch.randn(400, 400)
        for _ in range(20):
            x = torch.tanh(x @ x / 400)
    u = usage.result()
    if torch.cuda.is_available():  # pragma: no cover - the GPU machine
        assert u["device"] == "cuda" and u["gpu_max_memory_allocated"] >= 0
    else:
        assert u["device"] == "cpu" and u["cpu_busy_cores"] > 0 and "gpu_utilization_mean_pct" not in u


def test_q12_reads_the_learning_rate_and_batch_size_grid():
    from test_report import _experiment

    r = sample_results()
    for bs, lr, bal in ((1000, 0.01, 0.80), (1000, 0.1, 0.86), (1000, 1.0, 0.70),
                        (10000, 0.01, 0.60), (10000, 0.1, 0.80), (10000, 1.0, 0.87)):
        r["experiments"][f"grid_{bs}_{lr}"] = _experiment(f"grid {bs} {lr}", "Part 13", 0.9, bal, batch_size=bs, lr=lr,
                                                          epochs=5)
    a = answer_questions(r)[11]["answer"]
    assert "batch 1,000" in a and "batch 10,000" in a and "best lr 0.1" in a and "best lr 1" in a
    assert "grew with the batch size" in a
    r["experiments"]["grid_10000_1.0"]["test"]["balanced_accuracy"] = 0.5
    r["experiments"]["grid_10000_0.01"]["test"]["balanced_accuracy"] = 0.9
    assert "fell as the batch grew" in answer_questions(r)[11]["answer"]


def test_q21_explains_r2_by_the_tail_and_scores_a_clipped_target(tmp_path):
    from nidslab.study.parts.regression import r2_explained

    r = sample_results()
    g = copy.deepcopy(r["regression"])
    assert r2_explained(g) is None
    g["tail"] = {"median": 60.0, "p99": 1400.0, "max": 1514.0, "top1_share_of_squares": 0.41}
    g["clipped"] = {"quantile": 0.99, "clip_at": 1380.0, "test_share_clipped": 0.012,
                    "test": {"mae": 9.0, "rmse": 15.0, "r2": 0.97}, "mean_baseline": {"mae": 70.0, "rmse": 90.0, "r2": 0.0}}
    text = r2_explained(g)
    assert "heavy-tailed" in text and "41.0%" in text and "R^2 0.97" in text and "41.0x their share" in text
    r["regression"] = g
    r.pop("questions")
    render(r, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "clipped at 1380 bytes" in md and "heavy-tailed" in md


# ----------------------------------------------------------------------------- item 6: "would it work" in words


def test_each_malicious_packet_gets_one_phase_and_the_counts_add_up():
    from nidslab.study.parts.evaluation import packet_phases, recall_per_packet_phase

    ts = np.arange(20, dtype=np.float64)
    truth = np.array([0] * 5 + [1] * 15, np.uint8)
    # scanning goes on from 5 to the end; the flood from 12; a loader window inside the scan
    phases = [("benign", 0.0, 5.0, 0), ("scan", 5.0, 19.0, 5), ("loader", 8.0, 10.0, 8), ("flood", 12.0, 19.0, 12)]
    names, code = packet_phases(ts, truth, phases)
    assert (code[:5] == -1).all() and (code[5:] >= 0).all()
    assert [names[c] for c in code[5:]] == ["scan"] * 3 + ["loader"] * 3 + ["scan"] + ["flood"] * 8
    flagged = ts >= 10
    rows = {p["phase"]: p for p in recall_per_packet_phase(ts, flagged, truth, phases)}
    assert sum(p["malicious_packets"] for p in rows.values()) == int(truth.sum())
    assert rows["flood"]["recall"] == 1.0 and rows["loader"]["flagged"] == 1 and rows["scan"]["flagged"] == 1


def test_budget_verdicts_say_whether_and_by_how_much():
    from nidslab.study.parts.evaluation import budget_verdict

    assert budget_verdict(0.0005, 0.001) == "meets it"
    assert budget_verdict(0.004, 0.001) == "misses it: 4.00x the budget"
    assert "too few benign rows" in budget_verdict(0.0, 0.001, long=True, ci=[0.0, 0.005])
    assert "4.00x the budget" in budget_verdict(0.004, 0.001, long=True)
    assert budget_verdict(None, 0.001) == "not measured"


def test_an_experiment_with_seed_runs_shows_its_spread(tmp_path):
    r = sample_results()
    r["experiments"]["balanced_2x20"]["seed_runs"] = {"seeds": [0, 1, 2], "test_accuracy": [0.88, 0.87, 0.89],
                                                      "test_balanced_accuracy": [0.85, 0.84, 0.86],
                                                      "val_accuracy": [0.88, 0.87, 0.89]}
    render(r, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Retrained with 3 seeds (0, 1, 2): test accuracy 0.8800 +- 0.01" in md
