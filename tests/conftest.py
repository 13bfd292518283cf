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
