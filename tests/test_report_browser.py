"""report.html in a real browser: headless Chromium loads it, every figure decodes, no script error.

A copy of the report gets a small probe script that, once the page has loaded, writes what it found
(figures, their natural size, errors raised on the page) into the DOM; ``chromium --dump-dom``
prints that DOM and the test reads the probe's verdict back. Skips when Chromium is not installed
(Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from nidslab.study.report import render

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

# Installed first thing in <head>, so it sees errors raised by anything after it.
_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.target && e.target.src || e)), true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}));
  const out = document.createElement('pre');
  out.id = 'nidslab-probe';
  const toc = Array.from(document.querySelectorAll('nav a')).map(a => {
    const id = a.getAttribute('href').slice(1);
    return {id: id, found: document.getElementById(id) !== null};
  });
  const width = {inner: window.innerWidth, page: document.documentElement.scrollWidth};
  const boxes = Array.from(document.querySelectorAll('div.scroll')).map(d => {
    const r = d.getBoundingClientRect();
    return {client: d.clientWidth, scroll: d.scrollWidth, right: r.right};
  });
  out.textContent = JSON.stringify({images: imgs, errors: window.__errors, toc: toc, width: width, boxes: boxes});
  document.body.appendChild(out);
});
</script>"""


def _browse(page, tmp_path, width: int | None = None, probe: str = _PROBE) -> tuple[dict, str]:
    probed = tmp_path / "probed.html"
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>" + probe, 1), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", *([f"--window-size={width},2000"] if width else []), "--dump-dom",
           probed.as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="nidslab-probe">(.*?)</pre>', run.stdout, re.S)
    assert found, f"the probe did not run; chromium said:\n{run.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(found.group(1))), run.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_chromium_with_every_figure(tmp_path):
    from test_report import sample_results

    written = render(sample_results(), tmp_path / "run")
    probe, log = _browse(written["html"], tmp_path)
    n_png = len(list((tmp_path / "run" / "figures").glob("*.png")))
    assert len(probe["images"]) == n_png >= 10
    broken = [i for i in probe["images"] if not (i["complete"] and i["w"] > 0 and i["h"] > 0)]
    assert not broken, broken
    assert probe["errors"] == []
    console_errors = [line for line in log.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert not console_errors, console_errors


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_the_probe_sees_a_broken_figure(tmp_path):
    """The check can fail: a figure whose data is not a PNG is reported as not loaded."""
    from test_report import sample_results

    written = render(sample_results(), tmp_path / "run")
    page = written["html"]
    page.write_text(re.sub(r"base64,[^\"]+", "base64,bm90IGEgcG5n", page.read_text(encoding="utf-8"), count=1),
                    encoding="utf-8")
    probe, _ = _browse(page, tmp_path)
    assert sum(1 for i in probe["images"] if i["w"] == 0) == 1


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_contents_link_every_section_and_a_narrow_window_scrolls_tables_not_the_page(tmp_path):
    from test_report import sample_results

    written = render(sample_results(), tmp_path / "run")
    probe, _ = _browse(written["html"], tmp_path, width=400)
    sections = re.findall(r'<h2 id="([^"]+)"', written["html"].read_text(encoding="utf-8"))
    assert [t["id"] for t in probe["toc"]] == [s for s in sections if s != "contents"]
    assert all(t["found"] for t in probe["toc"]), probe["toc"]
    w = probe["width"]
    assert w["inner"] <= 520, w    # narrow: headless Chromium widens a 400 px window to its minimum, 500
    assert w["page"] <= w["inner"], w                          # no sideways scrolling of the page itself
    assert probe["boxes"] and all(b["right"] <= w["inner"] + 1 for b in probe["boxes"]), probe["boxes"]
    assert any(b["scroll"] > b["client"] for b in probe["boxes"])   # wide tables scroll inside their box
