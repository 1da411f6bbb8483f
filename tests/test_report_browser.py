"""The demo's reports in a real browser: headless Chromium, on a machine without Chinese fonts.

Each report of ``campaign demo`` is copied with a probe script appended (the report itself has
no script), opened with ``chromium --headless --dump-dom``, and the probe writes what the
browser saw into the DOM: the font faces and their status once ``document.fonts.ready``
settles, ``document.fonts.check`` for the embedded family with Chinese text, the body's
computed font list, and the A/B section's comparisons and verdicts. ``check`` alone proves
nothing (it is true when no face of the family exists at all), so the face must also be there
and ``loaded``: loaded by the page's own text, since the probe never asks for it.

Without Chromium the tests skip, saying how to install it; ``.ci/run`` installs it and sets
``CAMPAIGN_REQUIRE_BROWSER=1``, under which a missing Chromium fails instead of skipping.
No CJK system font is installed for this: the page must carry its own.
"""

from __future__ import annotations

import html as html_module
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from campaign import demo
from campaign.report import FONT_FAMILY
from campaign.stats import compare

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"
REPORTS = [*demo.VARIANTS, demo.VIP[0], demo.VOICE[0]]
CHINESE = "移动广东空号"  # in every demo report: carriers, provinces, the carrier note

PROBE = """<script>
window.addEventListener("load", function () {
  document.fonts.ready.then(function () {
    var faces = [];
    document.fonts.forEach(function (f) { faces.push([f.family.replace(/"/g, ""), f.status]); });
    var out = document.createElement("pre");
    out.id = "browser-probe";
    out.textContent = JSON.stringify({
      faces: faces,
      check: document.fonts.check('16px "%(family)s"', "%(chinese)s"),
      body: getComputedStyle(document.body).fontFamily,
      ab: document.getElementById("ab") === null ? null : {
        compared: Array.from(document.querySelectorAll("#ab h3"), function (h) {
          return h.textContent; }),
        verdicts: Array.from(document.querySelectorAll("#ab ul.verdicts li"), function (li) {
          return li.textContent; })
      }
    });
    document.body.appendChild(out);
  });
});
</script>"""


@pytest.fixture(scope="session")  # session, as demo_run: so a skip comes before the demo
def chromium():
    if CHROMIUM is None:
        message = (
            "no chromium on PATH: the reports are checked in a real browser; install it with "
            f"`{INSTALL}` (.ci/run does)"
        )
        if os.environ.get("CAMPAIGN_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; CAMPAIGN_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(message)
    return CHROMIUM


def open_in_chromium(chromium: str, report: Path, folder: Path) -> tuple[dict, str]:
    """What Chromium saw of ``report``: the probe's findings and the whole DOM after scripts."""
    probed = folder / f"probed-{report.name}"
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html  # the report runs nothing; the probe is only in this copy
    probe = PROBE % {"family": FONT_FAMILY, "chinese": CHINESE}
    probed.write_text(html.replace("</body>", probe + "\n</body>"), encoding="utf-8")
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={folder / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r'<pre id="browser-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium exited {done.returncode}, no probe in the DOM: {done.stderr[-2000:]}"
    return json.loads(html_module.unescape(found[1])), done.stdout


@pytest.fixture(scope="module")
def demo_reports(demo_run) -> Path:
    result, folder = demo_run
    assert result.exit_code == 0, result.output
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_the_report_shows_its_chinese_in_its_own_font(chromium, demo_reports, name, tmp_path):
    probe, _ = open_in_chromium(chromium, demo_reports / f"{name}.html", tmp_path)
    assert [FONT_FAMILY, "loaded"] in probe["faces"], probe  # decoded and used by the page
    assert probe["check"] is True, probe
    assert probe["body"].startswith(f'"{FONT_FAMILY}"'), probe["body"]


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_the_ab_campaigns_show_their_comparison(chromium, demo_reports, name, tmp_path):
    probe, _ = open_in_chromium(chromium, demo_reports / f"{name}.html", tmp_path)
    if name not in demo.VARIANTS:  # vip-jzyyun, voice-notice: no sibling variant
        assert probe["ab"] is None
        return
    (other,) = set(demo.VARIANTS) - {name}
    assert probe["ab"]["compared"] == [f"{name} vs {other}"]
    db = demo_reports / "campaign.db"
    for metric in ("delivery_rate", "reply_rate", "opt_out_rate"):
        assert compare(db, name, other, metric=metric).loc[0, "verdict"] in probe["ab"]["verdicts"]
