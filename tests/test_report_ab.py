"""The report's A/B section: the campaign beside its sibling variant, or the one named.

Sibling variants are campaigns named alike up to the last ``-`` (``d11-A``, ``d11-B``) on the
same channel; ``compare_with=`` names others. Each row holds both rates with their intervals,
the difference with its interval, the p-value and :func:`campaign.stats.compare`'s verdict.
"""

from __future__ import annotations

import re
import warnings

import matplotlib
import pytest
from stats_fixtures import StoreBuilder, two_variants

from campaign.errors import InputError
from campaign.report import report
from campaign.stats import compare

matplotlib.use("Agg")

T = "2024-11-11T10:01:00+08:00"


def variants(db, sides: dict, *, vendor="veesing-sms", channel="sms"):
    """Campaigns of one batch each: ``sides`` maps name -> (delivered, numbers, repliers).
    Voice: the delivered numbers answered (talk 20 s)."""
    s = StoreBuilder(db)
    for n, (name, (delivered, total, repliers)) in enumerate(sides.items()):
        phones = [f"13{n}{i:08d}" for i in range(total)]
        s.campaign(name, vendor=vendor, channel=channel)
        s.batch(name, 1, recipients=[(p, "移动", "广东", "广州", {}) for p in phones])
        for i, phone in enumerate(phones):
            status = "delivered" if i < delivered else "failed"
            talk = (20 if status == "delivered" else 0) if channel == "voice" else None
            s.receipt(name, phone, status, T, talk_seconds=talk)
        for phone in phones[:repliers]:
            s.reply(name, phone, "好", T)
    s.close()
    return db


def ab(html: str) -> str:
    """The A/B section's HTML ('' when there is none)."""
    if '<section id="ab">' not in html:
        return ""
    start = html.index('<section id="ab">')
    return html[start : html.index("</section>", start)]


def rows(section: str) -> dict[str, list[str]]:
    """metric -> the texts of its cells."""
    found = {}
    for row in re.findall(r"<tr><td>(.*?)</tr>", section, re.S):
        cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.split(r"</td>\s*<td[^>]*>", row)]
        found[" ".join(cells[0])] = [" ".join(c) for c in cells[1:]]
    return found


def verdicts(section: str) -> list[str]:
    return re.findall(r"<li[^>]*>([^<]+)</li>", section)


@pytest.fixture
def d11(store_url):
    return variants(store_url, {"d11-A": (18, 20, 6), "d11-B": (10, 20, 1)})


def test_the_sibling_variant_is_found_and_compared(d11, tmp_path):
    html = report(d11, campaign="d11-A", path=tmp_path / "a.html").read_text("utf-8")
    section = ab(html)
    assert "<h3>d11-A vs d11-B</h3>" in section
    table = rows(section)
    assert list(table) == ["delivery rate", "reply rate", "opt out rate"]
    a, b, difference, p = table["delivery rate"]
    assert a == "90.0% 95% CI 69.9%–97.2% 18 / 20"  # statsmodels' Wilson: 0.699-0.972
    assert b == "50.0% 95% CI 29.9%–70.1% 10 / 20"  # 0.299-0.701
    expected = compare(d11, "d11-A", "d11-B").iloc[0]
    low, high = expected["diff_ci_low"] * 100, expected["diff_ci_high"] * 100
    assert difference == f"+40.0 points (95% CI {low:+.1f} to {high:+.1f})"
    assert p == f"{expected['p_value']:.3g}"
    assert expected["verdict"] in verdicts(section)
    assert "d11-A is really higher" in expected["verdict"]
    assert 'class="significant">delivery rate' in section  # the real difference stands out
    assert html.index('<section id="ab">') < html.index(
        "<h2>Charts"
    )  # up front, after the headline


def test_the_other_variants_report_compares_the_other_way(d11, tmp_path):
    section = ab(report(d11, campaign="d11-B", path=tmp_path / "b.html").read_text("utf-8"))
    assert "<h3>d11-B vs d11-A</h3>" in section
    assert rows(section)["delivery rate"][2].startswith("-40.0 points")
    assert compare(d11, "d11-B", "d11-A").loc[0, "verdict"] in verdicts(section)


def test_a_campaign_without_siblings_has_no_ab_section(store_url, tmp_path):
    two_variants(store_url)  # campaigns 'A' and 'B': no common stem, so not siblings
    html = report(store_url, campaign="A", path=tmp_path / "a.html").read_text("utf-8")
    assert ab(html) == ""
    named = report(store_url, campaign="A", path=tmp_path / "n.html", compare_with="B")
    section = ab(named.read_text("utf-8"))
    assert "<h3>A vs B</h3>" in section
    assert rows(section)["delivery rate"][:2] == [
        "93.0% 95% CI 91.2%–94.4% 930 / 1,000",  # statsmodels: 0.9125-0.9442
        "90.0% 95% CI 88.0%–91.7% 900 / 1,000",
    ]
    assert compare(store_url, "A", "B").loc[0, "verdict"] in verdicts(section)
    assert "named in compare_with" in section


def test_compare_with_an_empty_list_leaves_the_section_out(d11, tmp_path):
    html = report(d11, campaign="d11-A", path=tmp_path / "a.html", compare_with=[])
    assert ab(html.read_text("utf-8")) == ""


def test_compare_with_names_what_exists(d11, tmp_path):
    with pytest.raises(InputError) as error:
        report(d11, campaign="d11-A", path=tmp_path / "x.html", compare_with="d11-C")
    assert str(error.value) == (
        "compare_with='d11-C': no campaign 'd11-C' in this store; the others are: d11-B"
    )
    with pytest.raises(InputError, match="compare_with='d11-A' is the report's own campaign"):
        report(d11, campaign="d11-A", path=tmp_path / "x.html", compare_with="d11-A")
    with pytest.raises(InputError, match="compare_with must be a campaign name or a list"):
        report(d11, campaign="d11-A", path=tmp_path / "x.html", compare_with=7)
    with pytest.raises(InputError, match="compare_with must be"):
        report(d11, campaign="d11-A", path=tmp_path / "x.html", compare_with=["d11-B", ""])
    assert not (tmp_path / "x.html").exists()  # checked before anything is written


def test_several_siblings_each_get_a_comparison(store_url, tmp_path):
    variants(store_url, {"x-A": (9, 10, 1), "x-B": (5, 10, 1), "x-C": (7, 10, 0)})
    section = ab(report(store_url, campaign="x-B", path=tmp_path / "b.html").read_text("utf-8"))
    assert re.findall(r"<h3>([^<]+)</h3>", section) == ["x-B vs x-A", "x-B vs x-C"]


def test_a_sibling_on_another_channel_is_not_a_variant(store_url, tmp_path):
    variants(store_url, {"d11-A": (9, 10, 1)})
    variants(store_url, {"d11-voice": (5, 10, 0)}, vendor="veesing-voice", channel="voice")
    html = report(store_url, campaign="d11-A", path=tmp_path / "a.html").read_text("utf-8")
    assert ab(html) == ""
    named = report(store_url, campaign="d11-A", path=tmp_path / "n.html", compare_with="d11-voice")
    assert list(rows(ab(named.read_text("utf-8")))) == ["delivery rate"]  # all they share


def test_voice_variants_compare_answer_rates(store_url, tmp_path):
    variants(
        store_url,
        {"call-A": (8, 10, 0), "call-B": (4, 10, 0)},
        vendor="veesing-voice",
        channel="voice",
    )
    section = ab(report(store_url, campaign="call-A", path=tmp_path / "a.html").read_text("utf-8"))
    table = rows(section)
    assert list(table) == ["answer rate", "delivery rate"]
    assert table["answer rate"][0].startswith("80.0%")
    assert compare(store_url, "call-A", "call-B", metric="answer_rate").loc[0, "verdict"] in (
        verdicts(section)
    )


def test_a_sibling_with_nothing_delivered_yet_says_why_it_cannot_compare(store_url, tmp_path):
    variants(store_url, {"d11-A": (9, 10, 2)})
    with StoreBuilder(store_url) as s:  # B: sent, no receipt yet
        s.campaign("d11-B").batch(
            "d11-B", 1, recipients=[("13900000001", "移动", "广东", "广州", {})]
        )
    section = ab(report(store_url, campaign="d11-A", path=tmp_path / "a.html").read_text("utf-8"))
    table = rows(section)
    assert table["delivery rate"][0].startswith("90.0%")  # B has 0 of 1 delivered: comparable
    assert table["reply rate"] == [
        "not comparable yet: reply_rate: one side has no delivered yet, nothing to compare"
    ]


def test_a_vendor_without_delivery_data_has_nothing_to_compare(store_url, tmp_path):
    with StoreBuilder(store_url) as s:
        for name in ("otp-A", "otp-B"):
            s.campaign(name, vendor="ihuyi-voice", channel="voice", content="1234")
            s.batch(name, 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    section = ab(report(store_url, campaign="otp-A", path=tmp_path / "a.html").read_text("utf-8"))
    assert "<h3>otp-A vs otp-B</h3>" in section
    assert "otp-A and otp-B: the vendor reports no delivery data" in section
    assert rows(section) == {}
    assert "0.0%" not in section


def test_a_skewed_split_is_said_once_in_the_section_not_warned_per_metric(store_url, tmp_path):
    db = variants(store_url, {"d11-A": (900, 1000, 30), "d11-B": (700, 800, 20)})
    # d11-B planned 1,000 like d11-A: its last 200 numbers sat in a batch the vendor refused
    refused = [(f"139{i:08d}", "移动", "广东", "广州", {}) for i in range(200)]
    with StoreBuilder(db) as s:
        s.batch("d11-B", 2, state="rejected", recipients=refused)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = report(db, campaign="d11-A", path=tmp_path / "a.html").read_text("utf-8")
    section = ab(html)
    assert section.count("sample ratio mismatch") == 1
    assert "d11-A 55.6% (planned 50.0%), d11-B 44.4% (planned 50.0%)" in section
    even = variants(tmp_path / "even.db", {"d11-A": (9, 10, 1), "d11-B": (8, 10, 1)})
    page = report(even, campaign="d11-A", path=tmp_path / "b.html").read_text("utf-8")
    assert ab(page)
    assert "sample ratio mismatch" not in ab(page)
