"""The incident page in a real browser: headless Chromium loads it, one timeline per alerting host
decodes, no script error (the probe of tests/test_report_browser.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nidslab.incident_page import incidents_html
from nidslab.incidents import group_incidents
from test_report_browser import _PROBE, CHROMIUM, _browse

# the report's probe, also saying what the reasons' list items show: their text, tooltip and rendered size
_REASONS_PROBE = _PROBE.replace(
    "out.textContent = JSON.stringify({images: imgs, errors: window.__errors, toc: toc, width: width, boxes: boxes});",
    "const reasons = Array.from(document.querySelectorAll('ul.reasons li')).map(li => ({text: li.innerText, "
    "title: li.title, w: li.getBoundingClientRect().width, h: li.getBoundingClientRect().height}));\n"
    "  out.textContent = JSON.stringify({images: imgs, errors: window.__errors, toc: toc, width: width, "
    "boxes: boxes, reasons: reasons});")
assert _REASONS_PROBE != _PROBE

pytestmark = pytest.mark.browser


def page(tmp_path, hosts_alerting=3):
    rng = np.random.default_rng(0)
    n = 5_000
    ts = 1.7e9 + np.sort(rng.uniform(0, 600, n))
    host = rng.integers(0, 6, n)
    score = rng.random(n) * 0.45
    hot = (host < hosts_alerting) & (rng.random(n) < 0.05)
    score[hot] = 0.9
    names = [f"192.168.1.{i + 10}" for i in range(6)]
    incs = group_incidents(ts, host, score, score >= 0.5, gap_s=30, host_names=names)
    for inc in incs:
        inc.reasons = [{"feature": "H_L5_weight", "text": "packets this host sent in the last ~0.2 s (H_L5_weight): "
                                                          "160, 40x its baseline (4)"}]
    path = tmp_path / "incidents.html"
    path.write_text(incidents_html(incs, times=ts, host=host, host_names=names, scores=score,
                                   alert=score >= 0.5, threshold=0.5, gap_s=30), encoding="utf-8")
    return path, {i.host for i in incs}


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_the_incident_page_renders_one_timeline_per_alerting_host(tmp_path):
    path, alerting = page(tmp_path)
    assert len(alerting) == 3
    probe, log = _browse(path, tmp_path)
    timelines = [i for i in probe["images"] if i["alt"].startswith("scores of")]
    assert len(timelines) == len(alerting) == len(probe["images"])
    assert all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in timelines)
    assert probe["errors"] == []
    assert not [line for line in log.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_the_reasons_are_visible_with_the_features_meaning_as_tooltip(tmp_path):
    path, alerting = page(tmp_path)
    probe, _ = _browse(path, tmp_path, probe=_REASONS_PROBE)
    reasons = probe["reasons"]
    assert len(reasons) >= len(alerting)  # one per incident
    for r in reasons:
        assert "(H_L5_weight): 160, 40x its baseline" in r["text"] and r["w"] > 0 and r["h"] > 0
        assert r["title"].startswith("H_L5_weight: Decayed count of the packets this host sent")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_the_probe_sees_a_broken_timeline(tmp_path):
    path, _ = page(tmp_path, hosts_alerting=2)
    text = path.read_text(encoding="utf-8")
    start = text.index("base64,") + len("base64,")
    path.write_text(text[:start] + "bm90IGEgcG5n" + text[text.index("'", start):], encoding="utf-8")
    probe, _ = _browse(path, tmp_path)
    assert sum(1 for i in probe["images"] if i["w"] == 0) == 1
