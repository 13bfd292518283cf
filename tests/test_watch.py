"""nidslab.watch and `nidslab watch`: live scores equal batch scores, from a growing file or a pipe."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nidslab import schema
from nidslab.data.prep import Standardizer
from nidslab.errors import ConfigError
from nidslab.evaluate import predict_scores
from nidslab.features import extract_features
from nidslab.saved_model import load_model
from nidslab.scorers import DNNScorer
from nidslab.watch import Watcher, jsonl

from conftest import capture_and_tiny_model, record_ends

CLI = [sys.executable, "-c", "from nidslab.cli import main; main()"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A small simulated capture, a tiny DNN trained on it, and its batch scores."""
    d = tmp_path_factory.mktemp("watch")
    cap, _, X = capture_and_tiny_model(d, 20_000)
    cols = schema.indices(schema.LAB_FEATURES)
    saved = load_model(d / "model")
    batch = predict_scores(saved.model, Standardizer.from_dict(saved.standardizer).transform(X[:, cols]))
    return {"dir": d, "capture": cap, "model": d / "model", "batch": batch, "bytes": cap.read_bytes()}


def read_lines(path_or_bytes) -> list[dict]:
    text = path_or_bytes.read_text() if isinstance(path_or_bytes, Path) else path_or_bytes.decode()
    return [json.loads(line) for line in text.splitlines()]


def test_a_file_written_in_pieces_scores_as_the_whole_file(lab, tmp_path):
    data, path = lab["bytes"], tmp_path / "growing.pcap"
    ends = record_ends(data)
    # Cut points: inside the global header, between records, inside a record header and a frame.
    cuts = [10, 24, ends[99], ends[100] + 7, ends[500] - 3, ends[3000], ends[3001] + 20, ends[12_000] - 1]
    path.write_bytes(b"")
    done = threading.Event()

    def writer():
        prev = 0
        for c in [*cuts, len(data)]:
            with open(path, "ab") as fh:
                fh.write(data[prev:c])
            prev = c
            deadline = time.monotonic() + 60  # let the watcher read this piece on its own
            while w.parser.bytes_seen < c and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.02)
        done.set()

    w = Watcher(path, DNNScorer(load_model(lab["model"])), threshold=0.5, follow=True, idle_timeout=60, poll=0.01,
                stop=lambda: done.is_set() and w.stats.packets == len(lab["batch"]))
    t = threading.Thread(target=writer)
    t.start()
    chunks = list(w)
    t.join()
    # Scored as the pieces came: a chunk starts where each piece completed its first record.
    assert {0, 100, 101, 500, 3001, 3002, 12_000} <= {int(c.index[0]) for c in chunks}
    index = np.concatenate([c.index for c in chunks])
    scores = np.concatenate([c.score for c in chunks])
    np.testing.assert_array_equal(index, np.arange(len(lab["batch"])))
    # Same features; scores can differ in the last bit with the batch size of the forward pass.
    np.testing.assert_allclose(scores, lab["batch"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate([c.alert for c in chunks]), scores >= 0.5)
    assert w.stats.packets == len(scores) and w.stats.alerts == int((scores >= 0.5).sum())
    assert w.stats.ended == "stopped" and w.stats.truncated is None
    assert len(w.stats.latencies) == len(chunks) and set(w.stats.latency_percentiles()) == {"p50", "p90", "p99",
                                                                                            "p100"}


def test_jsonl_lines_are_json_with_every_field():
    from nidslab.watch import ScoredChunk

    c = ScoredChunk(np.array([7, 8]), np.array([1.7e9 + 0.25, 1.7e9 + 0.5]), np.array([0.25, np.nan], np.float32),
                    np.array([False, True]), 0.0)
    assert read_lines(jsonl(c)) == [{"time": 1.7e9 + 0.25, "index": 7, "score": 0.25, "alert": False},
                                    {"time": 1.7e9 + 0.5, "index": 8, "score": None, "alert": True}]


def test_target_fpr_reads_the_thresholds_the_model_folder_stores(lab, tmp_path):
    scorer = DNNScorer(load_model(lab["model"]))
    with pytest.raises(ConfigError, match="stores no thresholds.*--threshold"):
        scorer.threshold_for_fpr(1e-3)
    folder = tmp_path / "m"
    shutil.copytree(lab["model"], folder)
    doc = {"score": "logit", "points": [{"target_fpr": 0.001, "threshold": 2.0}, {"target_fpr": 0.01, "threshold": 0.0}]}
    (folder / "thresholds.json").write_text(json.dumps(doc))
    scorer = DNNScorer(load_model(folder))
    assert scorer.threshold_for_fpr(1e-3) == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-15)
    assert scorer.threshold_for_fpr(0.01) == 0.5
    with pytest.raises(ConfigError, match="0.001, 0.01, not 0.0001"):
        scorer.threshold_for_fpr(1e-4)


def run_cli(args, stdin_bytes: bytes, timeout=300):
    return subprocess.run([*CLI, "watch", *map(str, args), "--emit", "packets"], input=stdin_bytes, capture_output=True, env=ENV,
                          timeout=timeout)


def test_stdin_pipe_gives_the_batch_scores(lab, tmp_path):
    res = run_cli([lab["model"], "-", "--quiet"], lab["bytes"])
    assert res.returncode == 0, res.stderr.decode()
    lines = read_lines(res.stdout)
    assert [x["index"] for x in lines] == list(range(len(lab["batch"])))
    np.testing.assert_allclose([x["score"] for x in lines], lab["batch"], rtol=1e-5, atol=1e-6)
    err = res.stderr.decode()
    assert "end of input" in err and f"{len(lines):,} in" in err and "latency per chunk" in err


def test_a_stream_cut_inside_a_record_keeps_the_scores_so_far(lab, tmp_path):
    ends = record_ends(lab["bytes"])
    out = tmp_path / "scores.jsonl"
    res = run_cli([lab["model"], "-", "-o", out, "--quiet"], lab["bytes"][:ends[4999] + 30])
    assert res.returncode == 1
    err = " ".join(res.stderr.decode().split())
    assert "ended inside a record after 5,000 complete packet(s)" in err and "not scored" in err
    lines = read_lines(out)
    assert len(lines) == 5000
    np.testing.assert_allclose([x["score"] for x in lines], lab["batch"][:5000], rtol=1e-5, atol=1e-6)


def test_ctrl_c_stops_a_follow_cleanly_with_a_summary(lab, tmp_path):
    out = tmp_path / "scores.jsonl"
    n = 8000
    ends = record_ends(lab["bytes"])
    path = tmp_path / "live.pcap"
    path.write_bytes(lab["bytes"][:ends[n - 1] + 5])  # the next record is being written
    proc = subprocess.Popen([*CLI, "watch", str(lab["model"]), str(path), "--follow", "-o", str(out),
                             "--emit", "packets"],
                            stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < n):
        time.sleep(0.1)
    assert proc.poll() is None  # still following
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    err = " ".join(err.decode().split())
    assert "stopped" in err and f"{n:,} in" in err and "alerts" in err
    lines = read_lines(out)  # every line complete JSON
    assert [x["index"] for x in lines] == list(range(n))


def test_a_saved_kitnet_scores_live_as_in_batch(lab, tmp_path):
    from nidslab.detect import KitNET

    from nidslab.scorers import KitNETScorer

    X = extract_features(lab["capture"])
    kit = KitNET(max_ae=10, fm_grace=500, ad_grace=2000).fit(X[:3000])
    kit.threshold = float(np.quantile(kit.score(X[:3000]), 0.99))
    kit.save(tmp_path / "kit")
    batch = KitNET.load(tmp_path / "kit").score(X)
    w = Watcher(lab["capture"], KitNETScorer.load(tmp_path / "kit"), threshold=kit.threshold)
    scores = np.concatenate([c.score for c in w])
    np.testing.assert_allclose(scores, batch, rtol=1e-9)
    res = run_cli([tmp_path / "kit", lab["capture"], "--kitnet", "--no-follow", "--quiet"], b"")
    assert res.returncode == 0, res.stderr.decode()
    lines = read_lines(res.stdout)
    np.testing.assert_allclose([x["score"] for x in lines], batch, rtol=1e-6)
    assert [x["alert"] for x in lines] == (np.asarray([x["score"] for x in lines]) > kit.threshold).tolist()
    res = run_cli([tmp_path / "kit", lab["capture"], "--kitnet", "--target-fpr", "0.001", "--quiet"], b"")
    assert res.returncode == 2 and "keeps one threshold" in " ".join(res.stderr.decode().split())
