"""The HTML report: one file, opens offline, holds the numbers, masks phones, escapes replies.

The stores are built on both engines (a SQLite file, a PostgreSQL database): the report of the
same data must say the same.
"""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import matplotlib
import pytest
from stats_fixtures import StoreBuilder, double11, postgres_database, replies_before_receipts

from campaign import stats
from campaign.errors import InputError
from campaign.report import FONT_FAMILY, mask_phone, mask_phones_in_text, report

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
        if data.strip() and self.tags[-1:] != ["style"]:
            self.text.append(data.strip())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request, tmp_path_factory):
    """double11 on each engine: a SQLite path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield double11(tmp_path_factory.mktemp("report") / "campaign.db")
        return
    with postgres_database(request.getfixturevalue("postgres_server")) as url:
        yield double11(url)


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
    assert re.findall(r"url\(\"?([a-z]+):", html) == ["data"]  # the font, inside the file
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


def test_the_province_chart_is_not_called_the_20_largest_of_two(page):
    # double11 has two provinces: the chart is titled for what it shows
    html, parsed = page
    assert "Delivery rate by province" in parsed.text
    assert "20 largest" not in html


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


def test_reply_text_is_escaped(store_url, tmp_path):
    s = StoreBuilder(store_url)
    s.campaign("x").batch("x", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    s.receipt("x", "13800000001", "delivered", "2024-11-11T10:00:05+08:00")
    s.reply("x", "13800000001", "<script>alert(1)</script>", "2024-11-11T10:01:00+08:00")
    s.close()
    html = report(store_url, campaign="x", path=tmp_path / "x.html").read_text("utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "2024-11-11 10:01<" in html  # times as people read them, not ISO-8601
    assert "T10:0" not in html
    assert "sent 2024-11-11 10:00 – 2024-11-11 10:00" in html


def test_a_campaign_without_receipts_still_reports(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("quiet").batch(
            "quiet", 1, recipients=[("13800000001", "移动", "广东", "广州", {})]
        )
    html = report(store_url, campaign="quiet", path=tmp_path / "q.html").read_text("utf-8")
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


# --------------------------------------------------------------------------- review fixes


def cards(html: str) -> dict[str, tuple[str, str]]:
    headline = html[html.index('id="headline"') : html.index("</div>\n<p")]
    found = re.findall(
        r'class="label">([^<]+)</div><div class="value">([^<]+)</div>\s*'
        r'<div class="note">([^<]*)</div>',
        headline,
    )
    return {label: (value, note) for label, value, note in found}


def test_replies_before_receipts_never_read_500_percent(store_url, tmp_path):
    path = replies_before_receipts(store_url)
    html = report(path, campaign="early", path=tmp_path / "e.html").read_text("utf-8")
    value, note = cards(html)["repliers"]
    assert value == "5"
    assert note.startswith("100.0% (95% CI")
    assert "500" not in note
    assert "4 repliers have no delivery receipt yet" in note
    assert "capped at 100%" in note


def test_a_vendor_without_delivery_data_says_so(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("otp", vendor="ihuyi-voice", channel="voice", content="1234")
        s.batch("otp", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
        s.batch("otp", 2, recipients=[("13800000002", "联通", "北京", "北京", {})])
    html = report(store_url, campaign="otp", path=tmp_path / "o.html").read_text("utf-8")
    c = cards(html)
    assert c["submitted"][0] == "2"
    assert c["delivery"][1] == "this vendor reports no delivery data"
    for label in ("delivered", "pending", "rate among reported", "answered"):
        assert label not in c, label
    assert "0.0%" not in html
    assert "this vendor reports no delivery data" in " ".join(Page(html).text)


def test_voice_answered_among_all_calls_and_among_reported(store, tmp_path):
    html = report(store, campaign="voice1", path=tmp_path / "v.html").read_text("utf-8")
    value, note = cards(html)["answered"]
    assert value == "2"
    assert "40.0% (95% CI" in note
    assert "of all 5 calls" in note
    assert "50.0% of the 4 calls with a receipt" in note
    assert "reported answer rate" in html  # the table by carrier


def test_unlinked_receipts_of_the_vendor_are_named(store_url, tmp_path):
    s = StoreBuilder(store_url)
    s.campaign("x").batch("x", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    path = store_url
    assert 'id="unlinked"' not in report(path, campaign="x", path=tmp_path / "0.html").read_text(
        "utf-8"
    )
    s.unlinked_receipt("veesing-sms", "T-lost", "13800000002")
    s.unlinked_receipt("veesing-sms", "T-lost", "13800000003")
    s.unlinked_receipt("jzyyun-sms", "J-1", "13800000004")  # another vendor: not this report
    s.close()
    html = report(path, campaign="x", path=tmp_path / "1.html").read_text("utf-8")
    note = html[html.index('id="unlinked"') :].split("</p>")[0]
    assert "2 receipts of this vendor are not linked to any batch (task ids T-lost)" in note
    assert "cp.link_receipts" in note
    assert "J-1" not in note


def test_the_vendors_own_accepted_count_shows_when_it_differs(store_url, tmp_path):
    s = StoreBuilder(store_url)
    recipients = [(f"1380000000{i}", "移动", "广东", "广州", {}) for i in range(3)]
    s.campaign("a").batch("a", 1, recipients=recipients, accepted=2)
    html = report(store_url, campaign="a", path=tmp_path / "a.html").read_text("utf-8")
    assert cards(html)["submitted"] == (
        "3",
        "numbers the vendor accepted; the vendor itself counted 2 accepted",
    )
    with s.store.transaction():
        s.store.execute("UPDATE batches SET accepted = 3")
    s.close()
    same = report(store_url, campaign="a", path=tmp_path / "b.html").read_text("utf-8")
    assert cards(same)["submitted"][1] == "numbers the vendor accepted"


def test_phones_typed_inside_replies_are_masked(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("m").batch("m", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
        text = "打我电话13912345678或 139-1234-5679,+86 13712345670;订单号 2024111113800138000"
        s.reply("m", "13800000001", text, "2024-11-11T10:01:00+08:00")
    html = report(store_url, campaign="m", path=tmp_path / "m.html").read_text("utf-8")
    for phone in ("13912345678", "139-1234-5679", "13712345670"):
        assert phone not in html
    for masked in ("139****5678", "139****5679", "137****5670"):
        assert masked in html
    assert "2024111113800138000" in html  # a longer run of digits is not a phone
    plain = report(store_url, campaign="m", path=tmp_path / "p.html", mask_phones=False)
    assert "13912345678" in plain.read_text("utf-8")


def test_mask_phones_in_text():
    assert mask_phones_in_text("138 0013 8000 / 8613900139000") == "138****8000 / 139****9000"
    assert mask_phones_in_text("12345678901") == "12345678901"  # not a mobile prefix
    assert mask_phones_in_text(None) == ""


def test_the_report_says_what_a_carrier_means(page):
    """Carriers come from number ranges: a number moved to another carrier (携号转网) still
    shows its original one, unless the contact list brought its own carrier column."""
    html, _ = page
    note = html[html.index('id="carrier-note"') :]
    note = note[: note.index("</p>")]
    assert "携号转网" in note
    assert "original carrier" in note
    assert "own carrier column" in note


# --------------------------------------------------------------------------- the embedded font


def embedded_font(html: str):
    """The family, the fontTools font and the WOFF2 bytes of the page's ``@font-face``."""
    from fontTools.ttLib import TTFont

    face = re.search(
        r'@font-face \{ font-family: "([^"]+)";[^}]*src: url\("data:font/woff2;base64,'
        r'([A-Za-z0-9+/=]+)"\) format\("woff2"\); \}',
        html,
    )
    assert face is not None, "no @font-face with a WOFF2 data: URL in the page"
    data = base64.b64decode(face[2])
    return face[1], TTFont(io.BytesIO(data)), data


def cjk(text: str) -> set[str]:
    return {c for c in text if ord(c) >= 0x2E80}


def test_the_page_carries_its_chinese_font(page):
    """On a machine without Chinese fonts the tables would show boxes: the page brings a subset
    of the charts' Noto Sans CJK SC with exactly the characters it shows."""
    html, parsed = page
    family, font, _ = embedded_font(html)
    assert family == FONT_FAMILY
    assert font.flavor == "woff2"
    assert "Noto Sans CJK SC" in font["name"].getBestFamilyName()
    body = re.search(r"body \{ font-family: ([^;]+);", html)[1]
    assert body.startswith(f'"{FONT_FAMILY}", ')  # first: Chinese text uses it everywhere
    shown = cjk(" ".join(parsed.text))
    assert {"移", "动", "广", "东", "空", "号", "。"} <= shown
    covered = {chr(code) for code in font.getBestCmap()}
    assert shown <= covered  # every Chinese character of the page has its glyph
    assert covered <= cjk(html)  # and nothing else: no Latin, no unused glyphs
    assert len(font.getGlyphOrder()) <= len(shown) + 1  # .notdef


def test_the_font_follows_what_the_page_shows(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("x").batch("x", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
        s.receipt("x", "13800000001", "delivered", "2024-11-11T10:00:05+08:00")
        s.reply("x", "13800000001", "饕餮盛宴几点开始？😀", "2024-11-11T10:01:00+08:00")
    html = report(store_url, campaign="x", path=tmp_path / "x.html").read_text("utf-8")
    _, font, data = embedded_font(html)
    covered = {chr(code) for code in font.getBestCmap()}
    assert set("饕餮盛宴几点开始？") <= covered  # a stranger's reply: its characters too
    assert "😀" not in covered  # not in Noto Sans CJK SC: left to the system's emoji font
    assert len(data) < 25_000  # some 80 glyphs: a few KB, not the 16 MB font


# --------------------------------------------------------------------------- what a marketer sees


def failure_section(html: str) -> tuple[str, str]:
    """The "Why numbers failed" figure and the "Failure reasons" table section."""
    figure = html[html.index("<figcaption>Why numbers failed") :]
    figure = figure[: figure.index("</figure>")]
    table = html[html.index("<h3>Failure reasons</h3>") :]
    table = table[: table.index("<h3>", 5)]
    return figure, table


def test_a_vendor_that_gives_no_failure_reason_says_so(store_url, tmp_path):
    """jzyyun-sms reports status 0 (failed) and nothing else: one bar 其他 100% says nothing."""
    phones = [f"1380000000{i}" for i in range(5)]
    with StoreBuilder(store_url) as s:
        s.campaign("vip", vendor="jzyyun-sms")
        s.batch("vip", 1, recipients=[(p, "移动", "广东", "广州", {}) for p in phones])
        s.receipt("vip", phones[0], "delivered", "2024-11-11T10:00:05+08:00", code="1")
        for p in phones[1:4]:  # as ingest stores them: code = the raw status, reason 其他
            s.receipt("vip", p, "failed", "2024-11-11T10:00:05+08:00", code="0", reason="其他")
    html = report(store_url, campaign="vip", path=tmp_path / "v.html").read_text("utf-8")
    figure, table = failure_section(html)
    said = (
        "jzyyun-sms gives no failure reason: its receipts say only that a number failed (all 3 "
        "failed numbers carry the status code 0 and nothing else), not why."
    )
    assert said in figure
    assert "<img" not in figure  # no chart of one bar
    assert said in table
    assert "<table>" not in table  # no table of one row 其他 100%
    assert cards(html)["failed"][0] == "3"  # the count itself stays


def test_unmapped_gateway_codes_keep_their_chart(store_url, tmp_path):
    """Codes that map to 其他 but are codes (MN:0001, MN:0054): the table shows them."""
    phones = [f"1380000000{i}" for i in range(3)]
    with StoreBuilder(store_url) as s:
        s.campaign("x").batch("x", 1, recipients=[(p, "移动", "广东", "广州", {}) for p in phones])
        for p, code in zip(phones, ["MN:0001", "MN:0054", "MN:0001"], strict=True):
            s.receipt("x", p, "failed", "2024-11-11T10:00:05+08:00", code=code, reason="其他")
    html = report(store_url, campaign="x", path=tmp_path / "x.html").read_text("utf-8")
    figure, table = failure_section(html)
    assert "<img" in figure
    assert "MN:0001 (2), MN:0054 (1)" in table
    assert "gives no failure reason" not in html


def test_a_voice_report_shows_what_a_call_has_and_nothing_it_cannot(store, tmp_path):
    """Calls are answered and talked through; nobody replies to a call by SMS."""
    html = report(store, campaign="voice1", path=tmp_path / "v.html").read_text("utf-8")
    c = cards(html)
    assert c["answered"][0] == "2"
    assert c["talk time p50"][0] == "12 s"  # 12 s and 30 s answered
    for label in ("repliers", "opt-outs"):
        assert label not in c, label  # not "0 (0.0%)": a call cannot have them
    text = " ".join(Page(html).text)
    assert "Replies and opt-outs" not in text
    assert "Replies by carrier" not in text
    assert "repl" not in text.lower()  # no reply figure anywhere
    for shown in ("Voice calls by carrier", "Talk time of answered calls", "Delivery by carrier"):
        assert shown in text, shown


def test_an_sms_report_keeps_its_replies_section_without_replies(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("x").batch("x", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
        s.receipt("x", "13800000001", "delivered", "2024-11-11T10:00:05+08:00")
    html = report(store_url, campaign="x", path=tmp_path / "x.html").read_text("utf-8")
    assert cards(html)["repliers"][0] == "0"  # an SMS could have had replies: 0 is news
    assert "<h2>Replies and opt-outs</h2>" in html


def test_the_replies_by_hour_chart_says_opt_outs_are_among_the_replies(page, store):
    html, _ = page
    figure = html[html.index("<figcaption>Replies by hour of day") :]
    figure = figure[: figure.index("</figure>")]
    assert "<figcaption>Replies by hour of day, opt-outs included</figcaption>" in figure
    assert "the red top part of a bar is the opt-outs" in figure
    assert "messages, not numbers" in figure
    assert "<img" in figure
    # what the caption says is what the chart draws: bars of every reply, opt-outs stacked in
    hours = stats.replies_by_hour(store, campaign="double11")
    assert (
        int(hours["replies"].sum())
        == stats.reply_stats(store, campaign="double11").loc[0, "replies"]
    )
    assert (hours["opt_outs"] <= hours["replies"]).all()


# --------------------------------------------------------------------------- nothing sent


def nothing_shown(html: str) -> None:
    """No empty cards, charts or tables: the page says why instead."""
    assert 'id="headline"' not in html
    assert "<img" not in html
    for heading in ("<h2>Charts</h2>", "<h2>Tables</h2>", "<h2>Replies and opt-outs</h2>"):
        assert heading not in html
    assert "None yet." not in html
    assert "No receipts yet." not in html


def empty_note(html: str) -> str:
    note = html[html.index('<div id="empty">') :]
    return " ".join(Page(note[: note.index("</div>")]).text)


def test_a_campaign_without_batches_says_to_send_it(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("d11-A")
    html = report(store_url, campaign="d11-A", path=tmp_path / "e.html").read_text("utf-8")
    nothing_shown(html)
    note = empty_note(html)
    assert "Nothing was sent: d11-A has no batches yet." in note
    assert 'cp.send(plan, client, db=..., campaign="d11-A")' in note
    assert "campaign send" in note


def test_planned_batches_never_submitted_say_to_resume_the_send(store_url, tmp_path):
    recipients = [(f"1380000000{i}", "移动", "广东", "广州", {}) for i in range(3)]
    with StoreBuilder(store_url) as s:
        s.campaign("p").batch("p", 1, state="planned", submitted_at=None, recipients=recipients)
        s.batch("p", 2, state="planned", submitted_at=None, recipients=[])
    html = report(store_url, campaign="p", path=tmp_path / "p.html").read_text("utf-8")
    nothing_shown(html)
    note = empty_note(html)
    assert "Nothing was sent yet:" in note
    assert "2 batches (3 numbers) are planned but never submitted" in note
    assert "it resumes where it stopped" in note
    assert 'cp.send(plan, client, db=..., campaign="p")' in note


def test_batches_the_vendor_rejected_say_what_it_said(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("r").batch(
            "r", 1, state="rejected", recipients=[("13800000001", "移动", "广东", "广州", {})]
        )
        s.batch("r", 2, state="rejected", recipients=[("13800000002", "移动", "广东", "广州", {})])
        with s.store.transaction():
            s.store.execute("UPDATE batches SET code = '4085', message = '余额不足'")
    html = report(store_url, campaign="r", path=tmp_path / "r.html").read_text("utf-8")
    nothing_shown(html)
    note = empty_note(html)
    assert "The vendor rejected 2 batches (2 numbers)" in note
    assert "4085 余额不足 (2 batches)" in note
    assert "resend_rejected=True" in note
    assert "--resend-rejected" in note


def test_batches_of_unknown_outcome_say_how_to_find_out(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("u").batch(
            "u", 1, state="unknown", recipients=[("13800000001", "移动", "广东", "广州", {})]
        )
    html = report(store_url, campaign="u", path=tmp_path / "u.html").read_text("utf-8")
    nothing_shown(html)
    note = empty_note(html)
    assert "The outcome of 1 batch (1 number) is unknown" in note
    assert "check the vendor's console" in note
    assert "resend_unknown=True" in note


def test_an_empty_variant_has_no_ab_section(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        s.campaign("d11-A").batch(
            "d11-A", 1, recipients=[("13800000001", "移动", "广东", "广州", {})]
        )
        s.receipt("d11-A", "13800000001", "delivered", "2024-11-11T10:00:05+08:00")
        s.campaign("d11-B")
    html = report(store_url, campaign="d11-B", path=tmp_path / "b.html").read_text("utf-8")
    assert '<section id="ab">' not in html
    assert "Nothing was sent: d11-B has no batches yet." in empty_note(html)
