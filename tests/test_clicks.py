"""Clicks (issue 17): the receiver's GET /c/<code>, ingest_clicks, and clicks in the funnel
and the cost. Real sockets on 127.0.0.1, both engines wherever the store is touched."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pandas as pd
import pytest
import requests
import urllib3
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from stats_fixtures import StoreBuilder, _r
from statsmodels.stats.proportion import proportion_confint

import campaign as cp
import campaign.clock
from campaign.agents import AGENTS, agent_class
from campaign.cli import main
from campaign.errors import InputError
from campaign.receiver import serve
from campaign.store import connect, links
from campaign.store.copy import TABLES

T = "2024-11-10T10:00:00+08:00"
CREATED = "2024-11-10T09:00:00+08:00"
TARGET = "https://shop.example.com/d11?from=sms"
PHONES = ["13800000001", "13800000002", "13800000003", "13800000004"]
CODES = ["AbCdEfG", "HjKmNpQ", "RsTuVwX", "YzAbCdE"]  # one per number of 'own'
SHARED = "ShArEd7"  # the one code of 'shared'

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML,"
          " like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI")  # fmt: skip
ANDROID = ("Mozilla/5.0 (Linux; Android 14; SM-S9180 Build/UP1A) AppleWebKit/537.36 (KHTML, like"
           " Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36")  # fmt: skip
WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
           " Chrome/120.0.0.0 Safari/537.36")  # fmt: skip
MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
       " Version/17.1 Safari/605.1.15")  # fmt: skip
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def write_links(db, rows) -> None:
    """(code, campaign, phone or None, target) rows, as plan_batches stores them."""
    with connect(db) as store, store.transaction():
        links.write_links(store, [(code, campaign, phone, target,
                                   f"https://t.example.com/c/{code}", CREATED)
                                  for code, campaign, phone, target in rows])  # fmt: skip


def write_clicks(db, rows) -> None:
    """(code, clicked_at, agent) rows, as the receiver stores them."""
    with connect(db) as store, store.transaction():
        links.write_clicks(store, [(*row, "test", CREATED) for row in rows])


def write_csv(path, header: list[str], lines: list[list], *, encoding: str = "utf-8") -> None:
    """An export as a shortener writes one (fields with commas quoted)."""
    pd.DataFrame(lines, columns=header).to_csv(path, index=False, encoding=encoding)


def rows(db, sql: str, params=()) -> list[tuple]:
    with connect(db) as store:
        return [tuple(row) for row in store.rows(sql, list(params))]


def count(db, sql: str) -> int:
    return rows(db, sql)[0][0]


@pytest.fixture
def db(store_url):
    """'own': 4 numbers (2 移动, 2 联通) each with its own code, 3 delivered; 'shared': 3
    numbers and one code; 'plain': 2 numbers and no link."""
    with StoreBuilder(store_url) as s:
        s.campaign("own")
        carriers = ["移动", "移动", "联通", "联通"]
        s.batch("own", 1, submitted_at=T, recipients=[
            _r(p, c, "广东", "广州") for p, c in zip(PHONES, carriers, strict=True)])  # fmt: skip
        for i, phone in enumerate(PHONES):
            s.receipt("own", phone, "delivered" if i < 3 else "failed", T)
        s.campaign("shared")
        shared = [f"1390000000{i}" for i in range(3)]
        s.batch("shared", 1, submitted_at=T, recipients=[
            _r(p, "移动" if i else "电信", "北京", "北京")
            for i, p in enumerate(shared)])  # fmt: skip
        for phone in shared:
            s.receipt("shared", phone, "delivered", T)
        s.campaign("plain")
        s.batch(
            "plain",
            1,
            submitted_at=T,
            recipients=[_r(f"1370000000{i}", "移动", "上海", "上海") for i in range(2)],
        )
    own = [(c, "own", p, TARGET) for c, p in zip(CODES, PHONES, strict=True)]
    write_links(store_url, [*own, (SHARED, "shared", None, "https://shop.example.com/卡券?a=1 b")])
    return store_url


@pytest.fixture
def receiver(db):
    with serve(db, port=0) as r:
        yield r


def get(url: str, ua: str | None = IPHONE, method: str = "GET") -> requests.Response:
    """``url`` as a browser with user agent ``ua`` asks for it (None: with no User-Agent
    header at all: requests and urllib3 would send their own)."""
    headers = {"User-Agent": ua if ua is not None else urllib3.util.SKIP_HEADER}
    return requests.request(method, url, headers=headers, allow_redirects=False, timeout=10)


def samples(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def every_value(db) -> list[str]:
    """Every value of every table of the store, as text."""
    out = []
    for table, columns in TABLES:
        names = ", ".join(c for c in columns if c is not None)
        out += [str(v) for row in rows(db, f"SELECT {names} FROM {table}") for v in row]
    return out


# --------------------------------------------------------------------------- the receiver


def test_a_click_redirects_to_the_target_once_stored_with_its_class(receiver, db, monkeypatch):
    moment = dt.datetime(2024, 11, 11, 20, 1, 2, 345678, tzinfo=campaign.clock.SHANGHAI)
    monkeypatch.setattr(campaign.clock, "current", lambda: moment)
    answer = get(f"{receiver.url}/c/{CODES[0]}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == TARGET
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    # the 302 came after the commit: the click is there the moment the answer is
    assert rows(db, "SELECT code, clicked_at, agent, source FROM clicks") == [
        (CODES[0], "2024-11-11T20:01:02.345678+08:00", "mobile", "receiver")
    ]


def test_each_agent_class_is_stored_and_counted(receiver, db):
    for ua in (IPHONE, ANDROID, WINDOWS, "Slackbot-LinkExpanding 1.0", "curl/8.4.0", None):
        assert get(f"{receiver.url}/c/{CODES[1]}", ua).status_code == 302
    stored = sorted(a for (a,) in rows(db, "SELECT agent FROM clicks"))
    assert stored == ["bot", "bot", "desktop", "mobile", "mobile", "other"]
    times = [t for (t,) in rows(db, "SELECT clicked_at FROM clicks")]
    assert len(set(times)) == 6
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+08:00", t) for t in times)
    got = samples(receiver.url)
    clicks = {dict(k[1])["agent"]: v for k, v in got.items()
              if k[0] == "campaign_receiver_clicks_total"}  # fmt: skip
    assert clicks == {"mobile": 2, "desktop": 1, "bot": 2, "other": 1}


def test_nothing_of_the_client_is_stored_or_logged(receiver, db, caplog):
    marker = "Mozilla/5.0 (Linux; Android 13; PRIVATE-MARKER-42) Mobile Safari/537.36"
    with caplog.at_level(logging.DEBUG):
        assert get(f"{receiver.url}/c/{CODES[2]}", marker).status_code == 302
        assert get(f"{receiver.url}/c/NoSuch99", marker).status_code == 404
    assert rows(db, "SELECT agent FROM clicks") == [("mobile",)]
    values = every_value(db)
    assert not [v for v in values if "127.0.0.1" in v or "PRIVATE-MARKER" in v]
    assert count(db, "SELECT COUNT(*) FROM rejected") == 0  # a bad code is not "input"
    assert "PRIVATE-MARKER" not in caplog.text


@pytest.mark.parametrize(
    "path",
    ["/c/NoSuch99", "/c/abcdefg", "/c/", "/c/a%20b", "/c/AbC/dEf",
     "/c/" + "A" * 65, "/c/%E4%B8%AD", "/c/AbCdEfG%00"],
)  # fmt: skip
def test_unknown_and_malformed_codes_are_404_counted_and_not_stored(receiver, db, path):
    answer = get(f"{receiver.url}{path}")
    assert answer.status_code == 404
    assert answer.text == "not found"  # says nothing about codes, campaigns or numbers
    assert "Location" not in answer.headers
    assert count(db, "SELECT COUNT(*) FROM clicks") == 0
    misses = {dict(k[1])["reason"]: v for k, v in samples(receiver.url).items()
              if k[0] == "campaign_receiver_link_misses_total"}  # fmt: skip
    unknown = path in ("/c/NoSuch99", "/c/abcdefg")  # well-formed, but no such link
    assert misses == {"unknown": 1.0 if unknown else 0.0, "malformed": 0.0 if unknown else 1.0}


def test_head_answers_the_redirect_and_stores_nothing(receiver, db):
    answer = get(f"{receiver.url}/c/{CODES[0]}", "WhatsApp/2.23.20.0 A", method="HEAD")
    assert answer.status_code == 302
    assert answer.headers["Location"] == TARGET
    assert get(f"{receiver.url}/c/NoSuch99", method="HEAD").status_code == 404
    assert count(db, "SELECT COUNT(*) FROM clicks") == 0
    got = samples(receiver.url)
    assert sum(v for k, v in got.items() if k[0] == "campaign_receiver_clicks_total") == 0


def test_other_methods_on_a_link_are_refused_and_store_nothing(receiver, db):
    answer = requests.post(f"{receiver.url}/c/{CODES[0]}", data=b"x=1", timeout=10,
                           allow_redirects=False)  # fmt: skip
    assert answer.status_code == 405
    assert count(db, "SELECT COUNT(*) FROM clicks") == 0


def test_a_per_recipient_code_never_reveals_its_number(receiver, db):
    for method in ("GET", "HEAD"):
        for i, code in enumerate(CODES):
            answer = get(f"{receiver.url}/c/{code}", method=method)
            assert answer.status_code == 302
            seen = " ".join(f"{k}: {v}" for k, v in answer.headers.items()) + answer.text
            assert not [p for p in PHONES if p in seen or p[-4:] in seen], (i, seen)
    assert count(db, "SELECT COUNT(*) FROM clicks") == len(CODES)  # the GETs only


def test_a_target_is_sent_as_ascii_and_punctuation_after_a_code_is_not_part_of_it(receiver, db):
    answer = get(f"{receiver.url}/c/{SHARED}%E3%80%82")  # ShArEd7。 as a phone linkified it
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://shop.example.com/%E5%8D%A1%E5%88%B8?a=1%20b"
    assert rows(db, "SELECT code FROM clicks") == [(SHARED,)]


# --------------------------------------------------------------------------- the classifier


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (IPHONE, "mobile"), (ANDROID, "mobile"), (WINDOWS, "desktop"), (MAC, "desktop"),
        (LINUX, "desktop"),
        ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
         "mobile"),
        ("Mozilla/5.0 (Linux; Android 12; CUBOT X50) AppleWebKit/537.36 Mobile Safari/537.36",
         "mobile"),  # a phone whose name ends in BOT is no crawler
        ("Mozilla/5.0 (Linux; U; Android 13; zh-CN; 22081212C) UCBrowser/16.0 Mobile", "mobile"),
        ("Mozilla/5.0 (Phone; OpenHarmony 4.0) ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0",
         "mobile"),
        ("Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 Chrome/81.0 NetType/WIFI"
         " MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090819)", "desktop"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/120.0", "desktop"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
         "bot"),
        ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari"
         "/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", "bot"),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot"),
        ("TelegramBot (like TwitterBot)", "bot"), ("WhatsApp/2.23.20.0 A", "bot"),
        ("Twitterbot/1.0", "bot"), ("Discordbot/2.0; +https://discordapp.com", "bot"),
        ("curl/8.4.0", "bot"), ("Wget/1.21.4", "bot"), ("python-requests/2.31.0", "bot"),
        ("Go-http-client/1.1", "bot"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
         "bot"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
         " Edg/120.0 BingPreview/1.0b", "bot"),
        ("", "other"), ("   ", "other"), (None, "other"), ("Mozilla/5.0", "other"),
        ("Nokia6230i/2.0 (03.80) Profile/MIDP-2.0", "other"),
    ],
)  # fmt: skip
def test_user_agent_classes(ua, expected):
    assert agent_class(ua) == expected


@settings(max_examples=300)
@given(st.one_of(st.text(), st.binary(), st.none(), st.text(min_size=2000, max_size=5000)))
def test_any_user_agent_gets_one_of_the_four_classes(ua):
    assert agent_class(ua) in AGENTS
    assert AGENTS == ("mobile", "desktop", "bot", "other")


# --------------------------------------------------------------------------- ingest_clicks


def test_ingest_clicks_from_a_csv_of_short_urls(db, tmp_path):
    path = tmp_path / "clicks.csv"
    write_csv(path, ["short_url", "clicked_at", "user_agent", "ip"], [
        [f"https://t.example.com/c/{CODES[0]}", "2024-11-11 20:01:02", IPHONE, "10.1.2.3"],
        [f"https://t.example.com/c/{CODES[0]}/?utm=x", "2024-11-11T12:05:00Z", WINDOWS,
         "10.1.2.3"],
        [f"t.example.com/c/{CODES[1]}", "1731326400", "Googlebot/2.1", "10.1.2.4"],
        [f"https://t.example.com/c/{SHARED}", "1731326400123", None, None],
    ])  # fmt: skip
    got = cp.ingest_clicks(db, path)
    assert got == cp.ClicksResult(inserted=4, duplicates=0, rejected=0)
    assert repr(got) == "ClicksResult(inserted=4, duplicates=0, rejected=0)"
    assert sorted(rows(db, "SELECT code, clicked_at, agent FROM clicks")) == sorted([
        (CODES[0], "2024-11-11T20:01:02.000000+08:00", "mobile"),
        (CODES[0], "2024-11-11T20:05:00.000000+08:00", "desktop"),  # 12:05 UTC
        (CODES[1], "2024-11-11T20:00:00.000000+08:00", "bot"),  # Unix seconds
        (SHARED, "2024-11-11T20:00:00.123000+08:00", "other"),  # Unix milliseconds, no agent
    ])  # fmt: skip
    assert rows(db, "SELECT DISTINCT source FROM clicks") == [(f"file:{path}",)]
    values = every_value(db)
    assert not [v for v in values if "10.1.2" in v or "Mozilla" in v or "Googlebot" in v]


def test_ingest_clicks_with_chinese_headers_gbk_and_reimport_unchanged(db, tmp_path):
    path = tmp_path / "点击.csv"
    write_csv(path, ["短码", "点击时间", "设备"], [
        [CODES[0], "2024-11-11 20:01", "手机"],
        [CODES[1], "2024年11月11日 20时05分", "电脑"],
        [CODES[2], "2024/11/11 21:00:00", ANDROID],
    ], encoding="gbk")  # fmt: skip
    first = cp.ingest_clicks(db, path)
    assert first == cp.ClicksResult(inserted=3, duplicates=0, rejected=0)
    before = sorted(rows(db, "SELECT code, clicked_at, agent FROM clicks"))
    assert before == [(CODES[0], "2024-11-11T20:01:00.000000+08:00", "mobile"),
                      (CODES[1], "2024-11-11T20:05:00.000000+08:00", "desktop"),
                      (CODES[2], "2024-11-11T21:00:00.000000+08:00", "mobile")]  # fmt: skip
    again = cp.ingest_clicks(db, path)
    assert again == cp.ClicksResult(inserted=0, duplicates=3, rejected=0)
    assert sorted(rows(db, "SELECT code, clicked_at, agent FROM clicks")) == before


def test_bad_rows_are_kept_once_with_their_row_and_reason(db, tmp_path):
    path = tmp_path / "clicks.csv"
    write_csv(path, ["链接", "访问时间", "UA"], [
        [f"https://t.example.com/c/{CODES[0]}", "2024-11-11 20:01", IPHONE],  # row 2: good
        ["https://t.example.com/c/ZZZZZZZ", "2024-11-11 20:02", IPHONE],  # row 3: unknown code
        [CODES[1], "soon", IPHONE],  # row 4: not a time
        [None, "2024-11-11 20:03", IPHONE],  # row 5: no code
        [CODES[2], None, IPHONE],  # row 6: no time
        [CODES[3], "now", IPHONE],  # row 7: not a date, though pandas would read it
    ])  # fmt: skip
    assert cp.ingest_clicks(db, path) == cp.ClicksResult(inserted=1, duplicates=0, rejected=5)
    assert cp.ingest_clicks(db, path) == cp.ClicksResult(inserted=0, duplicates=1, rejected=5)
    errors = sorted(e for (e,) in rows(db, "SELECT error FROM rejected"))
    assert len(errors) == 5  # once, however often the export is imported
    assert errors[0].startswith("row 3: code 'ZZZZZZZ' is not a link in this store")
    assert errors[1].startswith("row 4: 访问时间 'soon' is not a date and time")
    assert errors[2].startswith("row 5: no code in 链接")
    assert errors[3].startswith("row 6: 访问时间 empty is not a date and time")
    assert errors[4].startswith("row 7: 访问时间 'now' is not a date and time")
    assert rows(db, "SELECT DISTINCT source FROM rejected") == [(f"file:{path}",)]
    bodies = [b if isinstance(b, str) else bytes(b).decode() for (b,) in
              rows(db, "SELECT body FROM rejected")]  # fmt: skip
    assert all("Mozilla" not in b and '"agent": "mobile"' in b for b in bodies)
    assert count(db, "SELECT COUNT(*) FROM clicks") == 1


def test_ingest_clicks_from_excel_and_a_dataframe_with_named_columns(db, tmp_path):
    frame = pd.DataFrame({"链接码": [CODES[0], CODES[1], "nope"],
                          "when": ["2024-11-11 20:01", "2024-11-11 20:02", "2024-11-11 20:03"],
                          "终端类型": ["PC", "iPhone", "PC"]}, index=["a", "b", "c"])  # fmt: skip
    with pytest.raises(InputError, match="no code or short-link column found among 链接码"):
        cp.ingest_clicks(db, frame)
    with pytest.raises(InputError, match=r"time='clicked': no such column; the export has"):
        cp.ingest_clicks(db, frame, code="链接码", time="clicked")
    got = cp.ingest_clicks(db, frame, code="链接码", time="when", agent="终端类型")
    assert got == cp.ClicksResult(inserted=2, duplicates=0, rejected=1)
    assert rows(db, "SELECT error FROM rejected")[0][0].startswith("row 'c': code 'nope'")
    assert sorted(rows(db, "SELECT code, agent FROM clicks")) == [(CODES[0], "desktop"),
                                                                  (CODES[1], "mobile")]  # fmt: skip
    excel = tmp_path / "clicks.xlsx"
    pd.DataFrame({"Short URL": [f"https://t.example.com/c/{CODES[3]}"],
                  "Timestamp": ["2024-11-12 08:00:00"], "Device": ["Android"]}).to_excel(
        excel, index=False)  # fmt: skip
    assert cp.ingest_clicks(db, excel, progress=True) == cp.ClicksResult(1, 0, 0)
    assert rows(db, "SELECT agent, clicked_at FROM clicks WHERE code = ?", [CODES[3]]) == [
        ("mobile", "2024-11-12T08:00:00.000000+08:00")
    ]


def test_the_clicks_import_command(db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(f"code,time,agent\n{CODES[0]},2024-11-11 20:01,mobile\nXXXXXXX,"
                    "2024-11-11 20:01,mobile\n", encoding="utf-8")  # fmt: skip
    args = ["clicks", "import", str(path), "--db", str(db)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("1 new clicks, 0 already stored, 1 rows kept in rejected")
    again = CliRunner().invoke(main, args)
    assert again.output.startswith("0 new clicks, 1 already stored, 1 rows kept in rejected")
    bad = CliRunner().invoke(main, [*args, "--time", "nope"])
    assert bad.exit_code == 1
    assert "time='nope': no such column; the export has: code, time, agent" in bad.output


# --------------------------------------------------------------------------- the funnel


def test_the_funnel_counts_clicks_by_hand_and_the_shared_code_na_rules(db):
    write_clicks(db, [
        (CODES[0], "2024-11-11T20:00:00.000001+08:00", "mobile"),
        (CODES[0], "2024-11-11T20:00:00.000002+08:00", "desktop"),  # one number, twice
        (CODES[0], "2024-11-11T20:00:00.000003+08:00", "bot"),  # a preview: not counted
        (CODES[2], "2024-11-11T20:00:00.000004+08:00", "other"),
        (CODES[3], "2024-11-11T20:00:00.000005+08:00", "bot"),  # only a bot: not clicked
        (SHARED, "2024-11-11T20:00:00.000006+08:00", "mobile"),
        (SHARED, "2024-11-11T20:00:00.000007+08:00", "mobile"),
        (SHARED, "2024-11-11T20:00:00.000008+08:00", "bot"),
    ])  # fmt: skip
    got = cp.funnel_stats(db).set_index("campaign")
    own = got.loc["own"]
    assert (own.delivered, own.clicks, own.clicked) == (3, 3, 2)
    assert own.click_rate == pytest.approx(2 / 3)
    low, high = proportion_confint(2, 3, method="wilson")
    assert (own.click_ci_low, own.click_ci_high) == pytest.approx((low, high))
    shared = got.loc["shared"]
    assert shared.clicks == 2  # known for the whole campaign...
    assert pd.isna(shared.clicked)  # ...but not by whom
    assert pd.isna(shared.click_rate)
    assert pd.isna(shared.click_ci_low)
    plain = got.loc["plain"]  # no link: nothing to count
    assert plain[["clicks", "clicked", "click_rate"]].isna().all()
    assert got[["clicks", "clicked"]].dtypes.astype(str).tolist() == ["Int64", "Int64"]
    columns = list(got.reset_index().columns)
    assert columns[columns.index("delivery_ci_high") + 1 : columns.index("converted")] == [
        "clicks", "clicked", "click_rate", "click_ci_low", "click_ci_high"]  # fmt: skip
    # by="campaign" is the same table; a split by carrier knows the per-number codes only
    same = cp.funnel_stats(db, by="campaign").set_index("campaign")
    pd.testing.assert_frame_equal(same, got)
    split = cp.funnel_stats(db, by="carrier").set_index(["campaign", "carrier"])
    assert split.loc[("own", "移动"), ["clicks", "clicked"]].tolist() == [2, 1]
    assert split.loc[("own", "联通"), ["clicks", "clicked"]].tolist() == [1, 1]
    assert split.loc[("own", "联通"), "click_rate"] == 1.0  # 1 of its 1 delivered
    for carrier in ("电信", "移动"):
        row = split.loc[("shared", carrier)]
        assert row[["clicks", "clicked", "click_rate"]].isna().all()


def test_clicks_change_no_other_funnel_number(db):
    before = cp.funnel_stats(db, by="carrier")
    write_clicks(db, [(CODES[0], "2024-11-11T20:00:00.000001+08:00", "mobile"),
                      (SHARED, "2024-11-11T20:00:00.000001+08:00", "mobile")])  # fmt: skip
    after = cp.funnel_stats(db, by="carrier")
    clicky = ["clicks", "clicked", "click_rate", "click_ci_low", "click_ci_high"]
    pd.testing.assert_frame_equal(before.drop(columns=clicky), after.drop(columns=clicky))
    assert after["clicks"].sum() == 1


AGENT = st.sampled_from(AGENTS)
PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(["移动", "联通", None]),  # carrier
        st.sampled_from(["accepted", "rejected", "held_out"]),  # its batch
        st.sampled_from([None, "delivered", "failed"]),  # latest receipt
        st.lists(AGENT, max_size=4),  # clicks on the number's own code
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=PEOPLE, stray=st.lists(AGENT, max_size=3))
def test_clicked_and_clicks_are_a_naive_recount(tmp_path_factory, people, stray):
    """Per-number codes (none for the holdout); ``stray``: clicks on the code of a number
    that was never submitted (a rejected batch's), which the funnel must not count."""
    db = tmp_path_factory.mktemp("clicks") / "campaign.db"
    mine = [(f"138{i:08d}", *person) for i, person in enumerate(people)]
    with StoreBuilder(db) as s:
        s.campaign("a")
        for number, state in enumerate(("accepted", "rejected", "held_out"), start=1):
            these = [m for m in mine if m[2] == state]
            if these:
                numbers = [_r(p, carrier, "广东", "广州") for p, carrier, *_ in these]
                s.batch("a", number, state=state, recipients=numbers,
                        submitted_at=None if state == "held_out" else T)  # fmt: skip
            for phone, _, _, receipt, _ in these:
                if receipt and state == "accepted":
                    s.receipt("a", phone, receipt, T)
    coded = [m for m in mine if m[2] != "held_out"]
    write_links(db, [(f"c{i:06d}", "a", m[0], TARGET) for i, m in enumerate(coded)])
    tick = iter(range(10**6))
    clicks = [(f"c{i:06d}", f"2024-11-11T20:00:00.{next(tick):06d}+08:00", agent)
              for i, m in enumerate(coded) for agent in m[4]]  # fmt: skip
    rejected = [i for i, m in enumerate(coded) if m[2] == "rejected"]
    if rejected:
        clicks += [(f"c{rejected[0]:06d}", f"2024-11-12T20:00:00.{next(tick):06d}+08:00", agent)
                   for agent in stray]  # fmt: skip
    write_clicks(db, clicks)

    def recount(group):
        sent = [m for m in group if m[2] == "accepted"]
        people_clicks = [len([a for a in m[4] if a != "bot"]) for m in sent]
        delivered = len([m for m in sent if m[3] == "delivered"])
        clicked = len([n for n in people_clicks if n])
        rate = min(clicked, delivered) / delivered if delivered else None
        return sum(people_clicks), clicked, rate

    got = cp.funnel_stats(db)
    if not coded:  # all held out: no link at all
        assert got.loc[0, ["clicks", "clicked"]].isna().all()
        return
    clicks_, clicked, rate = recount(mine)
    assert (got.loc[0, "clicks"], got.loc[0, "clicked"]) == (clicks_, clicked)
    assert pd.isna(got.loc[0, "click_rate"]) if rate is None else got.loc[0, "click_rate"] == rate
    split = cp.funnel_stats(db, by="carrier")
    for row in split.itertuples():
        group = [m for m in mine if m[1] == row.carrier]
        assert (row.clicks, row.clicked) == recount(group)[:2], row.carrier
    assert split["clicks"].sum() == clicks_


# --------------------------------------------------------------------------- cost


def test_cost_per_click(db):
    cp.set_prices(db, {"veesing-sms": 0.05})
    agents = ["mobile", "desktop", "bot", "other"]
    write_clicks(db, [(CODES[0], f"2024-11-11T20:00:00.00000{i}+08:00", agent)
                      for i, agent in enumerate(agents)])  # fmt: skip
    got = cp.cost_stats(db).set_index("campaign")
    own = got.loc["own"]
    assert (own.cost, own.clicks) == (pytest.approx(0.2), 3)  # 4 numbers x 0.05; not the bot's
    assert own.cost_per_click == pytest.approx(0.2 / 3)
    shared = got.loc["shared"]  # a link, no click yet: nothing to divide by
    assert shared.clicks == 0
    assert pd.isna(shared.cost_per_click)
    plain = got.loc["plain"]  # no link
    assert plain[["clicks", "cost_per_click"]].isna().all()
    columns = list(got.columns)
    assert columns.index("cost_per_reply") + 1 == columns.index("cost_per_click")
    by_carrier = cp.cost_stats(db, campaign="own", by="carrier").set_index("carrier")
    assert by_carrier.loc["移动", "cost_per_click"] == pytest.approx(0.1 / 3)
    assert pd.isna(by_carrier.loc["联通", "cost_per_click"])  # its numbers did not click


def test_the_funnel_command_shows_clicks_once_there_are_any(db):
    plain = CliRunner().invoke(main, ["funnel", "--db", str(db), "--campaign", "plain"])
    assert plain.exit_code == 0, plain.output
    assert "click" not in plain.output.splitlines()[0]
    write_clicks(db, [(CODES[0], "2024-11-11T20:00:00.000001+08:00", "mobile")])
    own = CliRunner().invoke(main, ["funnel", "--db", str(db), "--campaign", "own"])
    header, row = own.output.splitlines()[:2]
    assert header.split()[4:8] == ["delivery_rate", "clicks", "clicked", "click_rate"]
    assert row.split()[5:8] == ["1", "1", "33.3%"]
