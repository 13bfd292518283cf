"""Under CI=true, a test that skips for a missing install fails; a skip for absent ../shared data does not."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text(encoding="utf-8")

SKIPPING = '''
import pytest

def test_needs_a_browser():
    pytest.skip("headless Chromium is not installed")

def test_needs_shared_data():
    pytest.skip("reference data ../shared/data/x is absent (a fresh clone has no ../shared)")

@pytest.mark.skipif(True, reason="ray is not installed")
def test_needs_ray():
    pass
'''


def test_ci_turns_a_missing_install_skip_into_a_failure(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_skips=SKIPPING)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    # a skip in the call phase is reported failed, one in setup (skipif) as an error: both fail the run
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 2, outcomes
    assert outcomes.get("skipped") == 1, outcomes
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped in CI*Chromium*"])


def test_outside_ci_skips_stay_skips(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_skips=SKIPPING)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=3)
