"""The run report opened in a real browser (headless Chromium), as a reader sees it.

For the digits run and for a run with 30 classes with long names: every image has
loaded with a non-zero size, nothing is wider than a 1280-pixel window, and the
per-class table has one row per class. A full-page screenshot of each is kept in
``test-artifacts/`` (or ``$SOFTMAXKIT_TEST_ARTIFACTS``). Debian's ``chromium``
package provides the browser (``.ci/run`` installs it); without one the test is
skipped and says why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from softmaxkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1280

# Run in the page once it has loaded; the result is written into the page, and
# Chromium's --dump-dom prints the page as it then is.
PROBE = """
<script>
window.addEventListener("load", () => {
  const width = window.innerWidth;
  const images = [...document.images].map(img => ({
    alt: img.alt,
    complete: img.complete,
    natural: [img.naturalWidth, img.naturalHeight],
    shown: [img.getBoundingClientRect().width, img.getBoundingClientRect().height],
  }));
  // elements wider than the window, other than those inside a horizontally
  // scrolling box (whose overflow scrolls inside the page, not the page)
  const overflowing = [...document.body.querySelectorAll("*")]
    .filter(el => !el.closest(".scroll") || el.classList.contains("scroll"))
    .filter(el => el.getBoundingClientRect().right > width + 1)
    .map(el => el.tagName + (el.id ? "#" + el.id : "") + "." + el.className);
  const out = {
    width: width,
    scrollWidth: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
    images: images,
    overflowing: overflowing,
    perClassRows: document.querySelectorAll("#per-class tbody tr").length,
  };
  const pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = "PROBE" + JSON.stringify(out) + "PROBE";
  document.body.appendChild(pre);
});
</script>
"""


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


BROWSER = _browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no headless browser: install Debian's 'chromium' package (.ci/run does) to render "
    "the report",
)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    flags = [
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--force-device-scale-factor=1",
    ]
    return subprocess.run(
        [BROWSER, *flags, *args], capture_output=True, text=True, timeout=180, check=False
    )


def _artifacts() -> Path:
    folder = Path(os.environ.get("SOFTMAXKIT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _render(run: Path, name: str) -> dict:
    page = (run / "report.html").read_text(encoding="utf-8")
    probe = run / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _chromium(
        f"--window-size={WIDTH},900",
        "--virtual-time-budget=20000",
        "--dump-dom",
        probe.as_uri(),
    )
    found = re.search(r"PROBE(\{.*?\})PROBE", done.stdout, re.S)
    assert found, f"the probe did not run: {done.stderr[-2000:]}"
    result = json.loads(found.group(1))
    shot = _artifacts() / f"report-{name}.png"
    done = _chromium(
        f"--window-size={WIDTH},{min(int(result['height']) + 50, 30000)}",
        "--virtual-time-budget=20000",
        f"--screenshot={shot}",
        (run / "report.html").as_uri(),
    )
    assert shot.exists(), done.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    return result


def _check(result: dict, n_classes: int) -> None:
    assert result["width"] == WIDTH
    images = result["images"]
    assert len(images) >= 8
    for img in images:
        assert img["complete"], img["alt"]
        assert min(img["natural"]) > 0, img["alt"]
        assert min(img["shown"]) > 0, img["alt"]
        assert img["shown"][0] <= WIDTH, img["alt"]
    assert result["scrollWidth"] <= WIDTH, result["overflowing"][:10]
    assert result["overflowing"] == []
    assert result["perClassRows"] == n_classes


def test_digits_report_in_a_browser(tmp_path):
    run = tmp_path / "digits"
    assert main(["train", "--quiet", "--out", str(run)]) == 0
    result = _render(run, "digits")
    _check(result, 10)
    assert any(img["alt"] == "Coefficients per class as images" for img in result["images"])


def test_thirty_classes_with_long_names_in_a_browser(tmp_path):
    rng = np.random.default_rng(0)
    k, per_class = 30, 40
    names = [
        f"a rather long and descriptive class name, number {c:02d} of the catalogue"
        for c in range(k)
    ]
    label = np.repeat(np.arange(k), per_class)
    centers = rng.normal(size=(k, 6)) * 2.5
    X = centers[label] + rng.normal(size=(k * per_class, 6))
    frame = pd.DataFrame(X, columns=[f"measurement_{j}" for j in range(6)])
    frame["kind"] = np.array(["one", "two", "three"])[label % 3]
    frame["class"] = np.array(names)[label]
    data = tmp_path / "thirty.csv"
    frame.to_csv(data, index=False)
    run = tmp_path / "thirty"
    assert (
        main(["train", str(data), "--target", "class", "--calibrate", "--quiet", "--out", str(run)])
        == 0
    )
    result = _render(run, "thirty-classes")
    _check(result, k)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Most confused pairs" in html
    assert "strongest evidence for" in html  # not an image grid: top features per class
