"""Shared fixtures: an isolated nidslab home per test session, and the path to ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _nidslab_home(tmp_path_factory):
    """Point NIDSLAB_HOME (dataset cache, runs) at a temporary folder for the whole session."""
    home = tmp_path_factory.mktemp("nidslab-home")
    old = os.environ.get("NIDSLAB_HOME")
    os.environ["NIDSLAB_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("NIDSLAB_HOME", None)
    else:
        os.environ["NIDSLAB_HOME"] = old


def shared_file(*parts: str) -> Path:
    """Path of a file under ../shared/data, or skip the test with the reason it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (a fresh clone has no ../shared)")
    return path


def import_learnable_dataset(name: str, rows: int, seed: int) -> str:
    """Cache a small Kitsune-schema dataset (16 % benign first) whose columns 30-59 carry the class; returns name."""
    import numpy as np

    from nidslab.data import import_dataset

    rng = np.random.default_rng(seed)
    y = np.ones(rows, dtype=np.uint8)
    y[: int(0.16 * rows)] = 0
    X = rng.lognormal(mean=3.0, sigma=1.0, size=(rows, 115)).astype(np.float32)
    X[:, 30:60] *= (1.0 + 0.8 * y)[:, None]
    import_dataset(X, y, name)
    return name


# --------------------------------------------------------------------------- CI: no skip for a missing install

#: The only reason a test may skip in CI: the reference data in ../shared is really absent there.
ALLOWED_CI_SKIP = "reference data"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true`` a skip for any other reason than absent ../shared data is a failure.

    ``.ci/run`` installs what the tests need (Chromium, the cluster extra); a test that skips there
    because something is not installed would hide a hole, so it fails and says what was missing.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if ALLOWED_CI_SKIP not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where .ci/run must install what tests need: {reason}"


# --------------------------------------------------------------------------- a local Ray cluster


RAY_MISSING = "Ray is not installed: pip install -e .[cluster]"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    """A Ray cluster on this machine for the cluster tests: a head node and one worker node, one CPU each,
    on 127.0.0.1, in a temporary folder of its own; yields ``{"address", "temp_dir", "ray"}``.

    Stopped afterwards (``ray stop``, which stops both: they are processes of this machine), even when
    starting it or a test failed. Skips only when Ray is not installed. Ray's token authentication is
    off for it, explicitly (``RAY_AUTH_MODE=disabled`` for the nodes and this process): otherwise a
    ``~/.ray/auth_token`` left by an earlier local ``ray.init()`` turns it on for the head node alone.
    """
    import shutil
    import subprocess
    import sys
    import tempfile

    pytest.importorskip("ray", reason=RAY_MISSING)
    ray_cli = str(Path(sys.executable).with_name("ray"))
    # short: Ray puts unix sockets under it, and their paths are limited to 107 bytes
    temp_dir = tempfile.mkdtemp(prefix="nray")
    port = _free_port()
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=200000000",
              f"--temp-dir={temp_dir}", "--disable-usage-stats"]

    def start(*args: str) -> None:
        run = subprocess.run([ray_cli, "start", *args, *common], env=env, capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")

    try:
        start("--head", f"--port={port}", "--include-dashboard=false")
        start(f"--address=127.0.0.1:{port}")
        yield {"address": f"127.0.0.1:{port}", "temp_dir": temp_dir, "ray": ray_cli}
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def capture_and_tiny_model(d: Path, packets: int, seed: int = 5):
    """A simulated capture of ``packets`` packets in folder ``d`` and a tiny 2 x 10 network trained on its
    features (3 epochs, balanced) saved as ``d / "model"``. Returns (capture path, Simulation, features (n, 115))."""
    import torch

    from nidslab import schema
    from nidslab.data.prep import Standardizer
    from nidslab.features import extract_features
    from nidslab.model import ModelSpec, build_model
    from nidslab.saved_model import save_model
    from nidslab.simulate import simulate_capture
    from nidslab.train import fit

    cap = d / "capture.pcap"
    sim = simulate_capture(cap, packets=packets, seed=seed)
    X = extract_features(cap)
    cols = schema.indices(schema.LAB_FEATURES)
    std = Standardizer().fit(X[:, cols])
    torch.manual_seed(0)
    spec = ModelSpec(n_layers=2, n_nodes=10)
    model = build_model(spec, len(cols))
    fit(model, (std.transform(X[:, cols]), sim.labels_truth), epochs=3, batch_size=500, class_weight="balanced")
    save_model(d / "model", model, spec, standardizer=std, feature_names=schema.LAB_FEATURES)
    return cap, sim, X


def record_ends(data: bytes) -> list[int]:
    """Byte offset where each libpcap record ends (little-endian microsecond file)."""
    ends, pos = [], 24
    while pos < len(data):
        pos += 16 + int.from_bytes(data[pos + 8:pos + 12], "little")
        ends.append(pos)
    return ends
