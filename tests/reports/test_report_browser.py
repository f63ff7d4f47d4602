"""The HTML report in a real browser: Debian's headless Chromium driven by Playwright."""
import os
import shutil

import pytest

from benchmarks.synthcaps import main as synthcaps

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "synthcaps"
    assert synthcaps(["--ckpt", str(tiny_ckpt), "--out", str(out), "--n", "3", "--steps", "2", "--no-progress",
                      "--weights-dir", str(out / "none")]) == 0
    return out / "report.html"


def test_report_renders_with_plots_audio_and_no_console_errors(report):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: the README's test command installs it (apt-get install chromium)")
        pytest.skip("chromium not installed")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        assert page.title() == "sa-bench report"
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert len(widths) >= 2 and min(widths) > 0  # every plot decoded
        durations = page.evaluate("""async () => Promise.all([...document.querySelectorAll('audio')].map(a =>
            new Promise(ok => { a.addEventListener('loadedmetadata', () => ok(a.duration)); a.load(); })))""")
        assert durations and min(durations) > 0  # every player loads its audio
        assert "timing" in page.inner_text("table")
        browser.close()
    assert errors == []
