"""The HTML report: one file, opens offline, holds the numbers, masks phones, escapes replies."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import matplotlib
import pytest
from stats_fixtures import StoreBuilder, double11

from campaign.errors import InputError
from campaign.report import mask_phone, report

matplotlib.use("Agg")


class Page(HTMLParser):
    """Collects what a browser would fetch or run, the images, and the visible text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                (self.images if value.startswith("data:image/png;base64,") else
                 self.sources).append(value)  # fmt: skip

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return double11(tmp_path_factory.mktemp("report") / "campaign.db")


@pytest.fixture(scope="module")
def page(store, tmp_path_factory):
    path = report(store, campaign="double11", path=tmp_path_factory.mktemp("out") / "r.html")
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


def test_mask_phone():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("8613800138000") == "861******8000"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) == ""


def test_report_is_one_self_contained_file(page):
    html, parsed = page
    assert parsed.tags[0] == "html"
    assert "script" not in parsed.tags
    assert "link" not in parsed.tags
    assert parsed.sources == []  # nothing fetched from anywhere
    assert "http://" not in html
    assert "https://" not in html
    assert len(parsed.images) >= 5
    for src in parsed.images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_holds_the_headline_numbers_and_tables(page):
    html, parsed = page
    text = " ".join(parsed.text)
    headline = html[html.index('id="headline"') : html.index("</div>\n<p")]
    cards = re.findall(r'class="label">([^<]+)</div><div class="value">([^<]+)<', headline)
    values = dict(cards)
    assert values["submitted"] == "12"
    assert values["delivered"] == "5"
    assert values["failed"] == "3"
    assert values["pending"] == "3"
    assert values["repliers"] == "3"
    assert values["opt-outs"] == "2"
    assert values["latency p50"] == "45 s"
    assert "41.7% (95% CI" in headline  # 5 / 12
    for word in ("Delivery by carrier", "移动", "联通", "广东", "空号", "停机", "DB:0141 (1)",
                 "Failure reasons", "Replies and opt-outs"):  # fmt: skip
        assert word in text, word


def test_phones_are_masked_by_default(page, store, tmp_path):
    html, _ = page
    assert "13800000001" not in html
    assert "138****0001" in html
    assert "139****0007" in html
    plain = report(store, campaign="double11", path=tmp_path / "plain.html", mask_phones=False)
    assert "13800000001" in plain.read_text(encoding="utf-8")


def test_voice_report_has_talk_time(store, tmp_path):
    html = report(store, campaign="voice1", path=tmp_path / "v.html").read_text(encoding="utf-8")
    assert "answered" in html
    assert "talk time p50" in html
    assert "Talk time of answered calls" in html
    assert "Voice calls by carrier" in html


def test_reply_text_is_escaped(tmp_path):
    s = StoreBuilder(tmp_path / "x.db")
    s.campaign("x").batch("x", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    s.receipt("x", "13800000001", "delivered", "2024-11-11T10:00:05+08:00")
    s.reply("x", "13800000001", "<script>alert(1)</script>", "2024-11-11T10:01:00+08:00")
    html = report(tmp_path / "x.db", campaign="x", path=tmp_path / "x.html").read_text("utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_a_campaign_without_receipts_still_reports(tmp_path):
    s = StoreBuilder(tmp_path / "q.db")
    s.campaign("quiet").batch("quiet", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    html = report(tmp_path / "q.db", campaign="quiet", path=tmp_path / "q.html").read_text("utf-8")
    assert re.search(r'class="label">pending</div><div class="value">1<', html)
    assert "None yet." in html  # no failure reasons, no latency
    Page(html)


def test_report_arguments(store, tmp_path):
    with pytest.raises(InputError, match="no campaign"):
        report(store, campaign="nope", path=tmp_path / "n.html")
    with pytest.raises(InputError):
        report(store, campaign="", path=tmp_path / "n.html")
    nested = report(store, campaign="double11", path=tmp_path / "a" / "b" / "r.html")
    assert nested.exists()
