"""nidslab.cluster: the local and Ray executors give the same results; on a two-node Ray cluster on this
machine (conftest's ``ray_cluster``), multi-capture extraction equals one-by-one extraction and a task whose
worker process is killed is run again; without Ray, ``--cluster ray`` says how to install it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import RAY_MISSING, _free_port
from typer.testing import CliRunner

from nidslab.cli import app
from nidslab.cluster import LocalExecutor, ProcessExecutor, import_ray, make_executor
from nidslab.errors import ConfigError
from nidslab.features import extract_features, write_pcap
from nidslab.features.many import extract_many

runner = CliRunner()


def _scaled(item: int, shared: np.ndarray) -> np.ndarray:
    return shared * item


def _scaled_and_writeable(item: int, shared: np.ndarray) -> tuple[float, bool]:
    return float(shared[item::5].sum()), bool(shared.flags.writeable)


def _slow_square(item: int, marker_dir: str) -> int:
    """Records each attempt (a file named by item, attempt id, pid); item 0's first attempt waits to be killed."""
    marker = Path(marker_dir)
    (marker / f"{item}-{uuid.uuid4().hex}-{os.getpid()}").touch()
    if item == 0 and len(list(marker.glob("0-*"))) == 1:
        time.sleep(120)
    return item * item


def _held_square(item: int, marker_dir: str) -> int:
    """Records each attempt, then waits (up to 2 minutes) for the test to create ``release``."""
    marker = Path(marker_dir)
    (marker / f"{item}-{uuid.uuid4().hex}-{os.getpid()}").touch()
    deadline = time.time() + 120
    while not (marker / "release").exists() and time.time() < deadline:
        time.sleep(0.1)
    return item * item


def _worker_node_raylet(temp_dir: str) -> int:
    """Pid of the raylet of the cluster's node that is not the head (its command line lacks --head)."""
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if args and args[0].endswith(b"/raylet") and any(temp_dir.encode() in a for a in args) and b"--head" not in args:
            return int(proc.name)
    raise AssertionError("no raylet of a worker node found")


@pytest.fixture(scope="module")
def ray_executor(ray_cluster):
    """One connection to the test cluster for this module's tests."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    with make_executor("ray", ray_cluster["address"]) as ex:
        yield ex


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Three small captures of different lengths and hosts."""
    from test_features import A, B, udp_frame

    folder = tmp_path_factory.mktemp("captures")
    paths = []
    for k, n in enumerate((30, 55, 80)):
        frames = [udp_frame(A, B, 4000 + (i + k) % 5, 53, 60 + 7 * i + k) for i in range(n)]
        path = folder / f"c{k}.pcap"
        write_pcap(path, 50 + k + 0.013 * np.arange(n), frames)
        paths.append(path)
    return paths


def test_local_executor_maps_in_order():
    ex = LocalExecutor()
    shared = ex.put(np.arange(4.0))
    seen = []
    out = ex.map(_scaled, [3, 1, 2], shared, progress=lambda d, t, m="": seen.append((d, t, m)))
    assert [o.tolist() for o in out] == [[0, 3, 6, 9], [0, 1, 2, 3], [0, 2, 4, 6]]
    assert seen == [(1, 3, "1/3 tasks"), (2, 3, "2/3 tasks"), (3, 3, "3/3 tasks")]


def test_process_executor_maps_in_order_and_memory_maps_big_arrays():
    big = np.random.default_rng(0).random(400_000)  # 3.2 MB: over the 1 MB above which arrays are memory-mapped
    seen = []
    with make_executor("processes", workers=2) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.describe() == {"kind": "processes", "workers": 2, "threads": 1}
        out = ex.map(_scaled, [3, 1, 2], ex.put(np.arange(4.0)), progress=lambda d, t, m="": seen.append((d, t, m)))
        mapped = ex.map(_scaled_and_writeable, range(5), big)
    assert [o.tolist() for o in out] == [[0, 3, 6, 9], [0, 1, 2, 3], [0, 2, 4, 6]]
    assert seen == [(1, 3, "1/3 tasks"), (2, 3, "2/3 tasks"), (3, 3, "3/3 tasks")]
    assert mapped == [(float(big[i::5].sum()), False) for i in range(5)]  # read-only in the workers, as on Ray
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        make_executor("processes", workers=0)


def test_without_ray_cluster_option_says_how_to_install(monkeypatch, tmp_path, captures):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[cluster\]'"):
        import_ray()
    result = runner.invoke(app, ["features", "extract", *map(str, captures), "-o", str(tmp_path / "out"),
                                 "--cluster", "ray"])
    assert result.exit_code == 2 and "pip install -e '.[cluster]'" in " ".join(result.output.split())
    result = runner.invoke(app, ["lab", "--quick", "--cluster", "ray", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "pip install -e '.[cluster]'" in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()  # it stopped before making a run folder


def test_unreachable_address_fails_in_seconds():
    pytest.importorskip("ray", reason=RAY_MISSING)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="cannot reach a Ray cluster at 127.0.0.1"):
        make_executor("ray", f"127.0.0.1:{_free_port()}")
    assert time.perf_counter() - start < 20  # import ray included; ray.init alone retries for minutes


@pytest.mark.cluster
def test_ray_executor_maps_in_order_with_shared_data_put_once(ray_executor):
    assert ray_executor.workers == 2
    shared = ray_executor.put(np.arange(4.0))
    out = ray_executor.map(_scaled, [3, 1, 2], shared)
    assert [o.tolist() for o in out] == [[0, 3, 6, 9], [0, 1, 2, 3], [0, 2, 4, 6]]


@pytest.mark.cluster
def test_extract_many_on_the_cluster_equals_one_by_one(ray_executor, captures):
    got = extract_many(captures, executor=ray_executor)
    assert [g.path for g in got] == [str(c) for c in captures]
    for g, c in zip(got, captures):
        np.testing.assert_array_equal(g.X, extract_features(c))
    local = extract_many(captures, layout="kitsune-py", limit=40)
    remote = extract_many(captures, layout="kitsune-py", limit=40, executor=ray_executor)
    for a, b in zip(local, remote):
        assert a.X.shape == (min(40, len(a.X)), 100)
        np.testing.assert_array_equal(a.X, b.X)


@pytest.mark.cluster
def test_features_extract_cli_on_the_cluster(ray_cluster, ray_executor, captures, tmp_path):
    out = tmp_path / "features"
    result = runner.invoke(app, ["features", "extract", *map(str, captures), "-o", str(out), "--format", "npy",
                                 "--cluster", "ray", "--address", ray_cluster["address"]])
    assert result.exit_code == 0, result.output
    for c in captures:
        np.testing.assert_array_equal(np.load(out / f"{c.stem}.npy"), extract_features(c))


@pytest.mark.cluster
def test_a_task_whose_worker_is_killed_runs_again(ray_executor, tmp_path):
    marker = tmp_path / "attempts"
    marker.mkdir()
    results: list = []
    thread = threading.Thread(target=lambda: results.append(ray_executor.map(_slow_square, range(4), str(marker))))
    thread.start()
    deadline = time.time() + 120
    while not list(marker.glob("0-*")) and time.time() < deadline:
        time.sleep(0.2)
    first = list(marker.glob("0-*"))
    assert first, "task 0 never started"
    os.kill(int(first[0].name.rsplit("-", 1)[1]), signal.SIGKILL)  # the worker process running task 0
    thread.join(timeout=180)
    assert not thread.is_alive() and results == [[0, 1, 4, 9]]
    assert len(list(marker.glob("0-*"))) == 2  # killed once, run again once


# --------------------------------------------------------------------------- the study on the cluster

#: keys whose values are timings, memory, or where and when the run happened (and the questions' answers,
#: text that quotes timings): they differ run to run
TIMING_KEYS = ("seconds", "wall_s", "finished_utc", "hardware", "cached", "parts", "executor", "peak_memory",
               "memory_kind", "slowdown", "questions", "usage")

STUDY = {
    "study": {"title": "cluster", "seed": 3},
    "defaults": {"epochs": 2, "batch_size": 500},
    "experiments": {"a": {"class_weight": "none", "seeds": 2}, "b": {"n_nodes": 12, "dropout": 0.2}},
    "batch_size_timing": {"experiment": "a", "batch_sizes": [100, 1000], "max_rows": 1000},
    "search": {"trials": 4, "trials_per_batch": 2, "timeout_s": 3600, "fraction": 0.5, "epochs": 1,
               "n_layers": [1, 3], "n_nodes": [4, 16], "batch_size": 500, "final_epochs": 2,
               "depth_timing": [1, 2], "depth_timing_nodes": 8},
    "mc_dropout": {"experiment": "best", "passes": 3},
    "cross_validation": {"experiment": "b", "folds": 3},
}


def differences(a, b, path: str = "") -> list[str]:
    """Paths where two results dicts differ, every number compared exactly, keys in TIMING_KEYS skipped."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only on one side" for k in set(a) ^ set(b)]
        for k in sorted(set(a) & set(b)):
            if not any(t in k for t in TIMING_KEYS):
                out += differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b or (a != a and b != b) else [f"{path}: {a!r} vs {b!r}"]


def test_differences_sees_a_changed_number_and_skips_timings():
    a = {"x": {"acc": [0.5, 0.25], "train_seconds": 1.0}, "meta": {"wall_s": 3}}
    b = {"x": {"acc": [0.5, 0.2500001], "train_seconds": 2.0}, "meta": {"wall_s": 4}}
    assert differences(a, b) == ["/x/acc[1]: 0.25 vs 0.2500001"]


@pytest.mark.cluster
def test_a_study_on_the_cluster_gives_the_local_numbers(ray_executor, tmp_path):
    from conftest import import_learnable_dataset

    from nidslab.study import run_study
    from nidslab.study.study_file import parse_study

    data = import_learnable_dataset("cluster-study", rows=3000, seed=1)
    study = parse_study(STUDY)
    local = run_study(study, data=data, out_dir=tmp_path / "local", cache_dir=tmp_path / "c1",
                      executor=LocalExecutor(threads=ray_executor.threads))
    remote = run_study(study, data=data, out_dir=tmp_path / "ray", cache_dir=tmp_path / "c2", executor=ray_executor)
    assert remote["meta"]["executor"]["kind"] == "ray" and local["meta"]["executor"]["kind"] == "local"
    assert remote["search"]["trials_run"] == 4 and len(remote["cross_validation"]["accuracy"]["per_fold"]) == 3
    assert differences(local, remote) == []


@pytest.mark.cluster
def test_tasks_of_a_stopped_worker_node_run_again_on_the_head(ray_cluster, ray_executor, tmp_path):
    """Last in this module: the worker node is gone afterwards."""
    marker = tmp_path / "attempts"
    marker.mkdir()
    results: list = []
    thread = threading.Thread(target=lambda: results.append(ray_executor.map(_held_square, [2, 3], str(marker))))
    thread.start()
    deadline = time.time() + 120
    while len(list(marker.glob("*-*"))) < 2 and time.time() < deadline:  # one task on each node's CPU
        time.sleep(0.2)
    assert len(list(marker.glob("*-*"))) == 2, "the two tasks did not both start"
    os.kill(_worker_node_raylet(ray_cluster["temp_dir"]), signal.SIGKILL)  # the node dies with its raylet
    time.sleep(1)
    (marker / "release").touch()
    thread.join(timeout=240)
    assert not thread.is_alive() and results == [[4, 9]]
    assert len(list(marker.glob("*-*"))) == 3  # the task of the stopped node ran again, on the head


@pytest.mark.cluster
def test_family_built_on_the_cluster_equals_the_local_one(ray_executor, tmp_path):
    from nidslab.data.family import build_family

    kw = {"benign_s": 10.0, "attack_scale": 0.05, "captures": False}
    here = build_family(2, name=str(tmp_path / "here"), **kw)
    there = build_family(2, name=str(tmp_path / "there"), executor=ray_executor, **kw)
    assert there.dataset.meta["extra"]["build"]["executor"]["kind"] == "ray"
    assert np.array_equal(np.asarray(here.dataset.X), np.asarray(there.dataset.X))
    for k in ("network", "phase", "host", "time"):
        assert np.array_equal(np.asarray(here.dataset.arrays[k]), np.asarray(there.dataset.arrays[k]))


def test_a_study_in_worker_processes_gives_the_local_numbers(tmp_path):
    from conftest import import_learnable_dataset

    from nidslab.study import run_study
    from nidslab.study.study_file import parse_study

    data = import_learnable_dataset("processes-study", rows=3000, seed=1)
    study = parse_study(STUDY)
    local = run_study(study, data=data, out_dir=tmp_path / "local", cache_dir=tmp_path / "c1",
                      executor=LocalExecutor(threads=1))
    with ProcessExecutor(2, threads=1) as ex:
        here = run_study(study, data=data, out_dir=tmp_path / "processes", cache_dir=tmp_path / "c2", executor=ex)
    assert here["meta"]["executor"] == {"kind": "processes", "workers": 2, "threads": 1}
    assert here["search"]["trials_run"] == 4 and len(here["cross_validation"]["accuracy"]["per_fold"]) == 3
    assert differences(local, here) == []
