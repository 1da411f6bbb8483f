"""plan_batches: limits read as data, every content rule, every skip reason."""

from __future__ import annotations

import datetime as dt
import time
import warnings

import pandas as pd
import pytest

import campaign as cp
from campaign import clock, store
from campaign.batching import (
    ALREADY_IN_CAMPAIGN,
    DAILY_CAP,
    OPTED_OUT,
    REPEAT,
    TOO_SOON,
    count_segments,
    plan_batches,
)
from campaign.vendors import vendor_limits

SMS = "【云通信】双11会员专享,全场五折,回T退订"


def numbers(n: int, start: int = 13800000000) -> list[str]:
    return [str(start + i) for i in range(n)]


@pytest.fixture(scope="module")
def contacts_40001():
    return cp.load_phones(numbers(40_001))


@pytest.mark.parametrize("n", [1, 19_999, 20_000, 20_001, 40_000, 40_001])
def test_batch_sizes_at_and_around_the_jzyyun_limit(contacts_40001, n):
    plan = plan_batches(contacts_40001.iloc[:n], vendor="jzyyun-sms", content=SMS)
    sizes = plan.batches["size"].tolist()
    assert max(sizes) <= 20_000
    assert sum(sizes) == n
    assert len(sizes) == -(-n // 20_000)
    assert all(s == 20_000 for s in sizes[:-1])
    assert plan.batches["phones"].map(len).tolist() == sizes
    assert plan.batches["batch"].tolist() == list(range(1, len(sizes) + 1))
    # every number once, in the list's order
    flat = [p for batch in plan.batches["phones"] for p in batch]
    assert flat == contacts_40001["phone"].iloc[:n].tolist()
    assert plan.recipients["batch"].tolist() == [i // 20_000 + 1 for i in range(n)]


@pytest.mark.parametrize(("n", "size", "calls"), [(999, None, 1), (1000, None, 1), (1001, None, 2),
                                                   (1001, 500, 3), (10, 1, 10)])  # fmt: skip
def test_veesing_group_default_and_chosen_batch_size(n, size, calls):
    plan = plan_batches(numbers(n), vendor="veesing-sms", content=SMS, batch_size=size)
    assert len(plan.batches) == calls
    assert plan.batches["size"].max() <= (size or vendor_limits("veesing-sms").max_phones_per_call)


def test_a_client_with_overridden_limits_is_planned_within_them():
    client = cp.vendors.vendor("veesing-sms", app_id="a", app_key="k",
                               limits={"max_phones_per_call": 300})  # fmt: skip
    plan = plan_batches(numbers(1000), vendor=client, content=SMS)
    assert plan.batches["size"].tolist() == [300, 300, 300, 100]
    assert plan.vendor == "veesing-sms"


@pytest.mark.parametrize(
    ("vendor", "kwargs"),
    [("veesing-code", {"template_id": "540", "variables": "1234"}),
     ("veesing-voice", {"template_id": "724", "variables": "您的快递已到"}),
     ("ihuyi-voice", {"content": "1234"})],
)  # fmt: skip
def test_single_phone_vendors_get_one_number_per_call(vendor, kwargs):
    plan = plan_batches(numbers(5), vendor=vendor, **kwargs)
    assert plan.batches["size"].tolist() == [1] * 5
    assert plan.segments == 1


def test_batch_size_beyond_the_vendor_limit_is_refused():
    with pytest.raises(cp.InputError, match=r"batch_size 20,001 is more than jzyyun-sms"):
        plan_batches(numbers(3), vendor="jzyyun-sms", content=SMS, batch_size=20_001)
    with pytest.raises(cp.InputError, match="positive whole number"):
        plan_batches(numbers(3), vendor="jzyyun-sms", content=SMS, batch_size=0)


@pytest.mark.filterwarnings("ignore:the content has no opt-out phrase")
@pytest.mark.parametrize(
    ("length", "segments"), [(6, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_segments_70_then_67_per_part(length, segments):
    content = "【云通信】" + "好" * (length - 5)
    assert len(content) == length
    assert count_segments(content, vendor_limits("jzyyun-sms")) == segments
    plan = plan_batches(numbers(3), vendor="jzyyun-sms", content=content)
    assert plan.segments == segments
    assert plan.messages == 3 * segments


def test_voice_counts_one_message_per_call():
    plan = plan_batches(numbers(3), vendor="ihuyi-voice", content="123456")
    assert plan.messages == 3


@pytest.mark.parametrize(
    ("vendor", "kwargs", "message"),
    [
        ("jzyyun-sms", {"content": "双11会员专享,回T退订"}, r"start or end with .*【signature】"),
        ("veesing-sms", {"content": "双11【云通信】会员专享"}, "【signature】"),
        ("jzyyun-sms", {"content": "【云通信】双11 🎉 回T退订"}, r"emoji \('🎉' at character 10\)"),
        ("veesing-sms", {"content": "【云通信】好☀️"}, "emoji"),
        ("jzyyun-sms", {"content": "【云通信】₩100 回T退订"}, r"'₩'.*GBK text"),
        ("jzyyun-sms", {"content": "   "}, "needs content="),
        ("jzyyun-sms", {}, "needs content="),
        ("jzyyun-sms", {"template_id": "1", "variables": "1"}, "sends text"),
        ("veesing-code", {"content": "【云通信】1234"}, "sends a template"),
        ("veesing-code", {"variables": "1234"}, "pass template_id"),
        ("veesing-code", {"template_id": "540", "variables": "1"}, r"2-8 digits"),
        ("veesing-code", {"template_id": "540", "variables": "123456789"}, r"2-8 digits"),
        ("veesing-code", {"template_id": "540", "variables": "12ab"}, r"2-8 digits"),
        ("veesing-voice", {"template_id": "724", "variables": "好" * 51}, r"at most 50"),
        ("ihuyi-voice", {"content": "123"}, r"4-6 digits"),
        ("ihuyi-voice", {"content": "1234567"}, r"4-6 digits"),
    ],
)  # fmt: skip
def test_every_content_rule_says_what_to_fix(vendor, kwargs, message):
    with pytest.raises(cp.InputError, match=message):
        plan_batches(numbers(2), vendor=vendor, **kwargs)


@pytest.mark.parametrize(
    ("vendor", "kwargs"),
    [
        ("jzyyun-sms", {"content": "双11会员专享,回T退订【云通信】"}),  # signature at the end
        ("veesing-code", {"template_id": "540", "variables": "12"}),
        ("veesing-code", {"template_id": "540", "variables": "12345678"}),
        ("veesing-voice", {"template_id": "724", "variables": "好" * 50}),
        ("ihuyi-voice", {"content": "1234"}),
        ("ihuyi-voice", {"content": "123456"}),
    ],
)  # fmt: skip
def test_content_at_the_edge_of_each_rule_is_accepted(vendor, kwargs):
    assert plan_batches(numbers(2), vendor=vendor, **kwargs).numbers == 2


def test_marketing_sms_without_opt_out_phrase_warns():
    with pytest.warns(UserWarning, match="no opt-out phrase"):
        plan = plan_batches(numbers(2), vendor="jzyyun-sms", content="【云通信】双11会员专享")
    assert "opt-out" in plan.warnings[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for phrase in ["回T退订", "拒收请回复R", "退订回TD", "回N退订"]:
            plan_batches(
                numbers(1), vendor="jzyyun-sms", content=f"【云通信】双11会员专享,{phrase}"
            )


def test_send_at_rules():
    now = dt.datetime.now(store.SHANGHAI)
    with pytest.raises(cp.InputError, match="jzyyun-sms cannot schedule sends"):
        plan_batches(numbers(1), vendor="jzyyun-sms", content=SMS, send_at=now)
    with pytest.raises(cp.InputError, match=r"more than 30 minutes from now; the earliest"):
        plan_batches(numbers(1), vendor="veesing-sms", content=SMS,
                     send_at=now + dt.timedelta(minutes=29))  # fmt: skip
    with pytest.raises(cp.InputError, match="not a time like"):
        plan_batches(numbers(1), vendor="veesing-sms", content=SMS, send_at="tomorrow")
    later = (now + dt.timedelta(minutes=31)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    plan = plan_batches(numbers(1), vendor="veesing-sms", content=SMS, send_at=later)
    assert plan.send_at.utcoffset() == dt.timedelta(hours=8)


# What the machine's clock says is set per test: a POSIX TZ rule (no time-zone database
# needed) and a fixed "now" in Shanghai (campaign.clock.current).
UTC = "UTC0"
NEW_YORK = "EST5EDT,M3.2.0,M11.1.0"
SHANGHAI_8PM = dt.datetime(2026, 11, 11, 20, 0, tzinfo=clock.SHANGHAI)


@pytest.fixture
def machine_tz(monkeypatch):
    """Set this process's local time zone; the real one is back after the test."""

    def set_zone(rule: str) -> None:
        monkeypatch.setenv("TZ", rule)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def at_8pm_in_shanghai(monkeypatch):
    monkeypatch.setattr(clock, "current", lambda: SHANGHAI_8PM)


@pytest.mark.parametrize(("zone", "local"), [(UTC, 12), (NEW_YORK, 7)])
def test_a_naive_datetime_is_the_machines_local_time(machine_tz, at_8pm_in_shanghai, zone,
                                                       local):  # fmt: skip
    machine_tz(zone)
    forty_minutes_on = dt.datetime(2026, 11, 11, local, 40)  # datetime.now() + 40 min there
    plan = plan_batches(numbers(1), vendor="veesing-sms", content=SMS, send_at=forty_minutes_on)
    assert plan.send_at == dt.datetime(2026, 11, 11, 20, 40, tzinfo=clock.SHANGHAI)
    assert "scheduled for 2026-11-11 20:40:00 Asia/Shanghai" in repr(plan)


def test_a_time_as_text_is_shanghai_time_wherever_the_machine_is(machine_tz,
                                                                 at_8pm_in_shanghai):  # fmt: skip
    machine_tz(NEW_YORK)
    plan = plan_batches(numbers(1), vendor="veesing-sms", content=SMS, send_at="2026-11-11 20:40")
    assert plan.send_at == dt.datetime(2026, 11, 11, 20, 40, tzinfo=clock.SHANGHAI)
    assert "scheduled for 2026-11-11 20:40:00 Asia/Shanghai" in repr(plan)
    assert "scheduled" not in repr(plan_batches(numbers(1), vendor="veesing-sms", content=SMS))


def test_too_soon_says_how_the_time_was_read_and_shanghai_now(machine_tz, at_8pm_in_shanghai):
    machine_tz(UTC)
    with pytest.raises(cp.InputError) as naive:
        plan_batches(numbers(1), vendor="veesing-sms", content=SMS,
                     send_at=dt.datetime(2026, 11, 11, 12, 10))  # fmt: skip
    message = str(naive.value)
    assert "send_at 2026-11-11 20:10:00 Asia/Shanghai (in 10 min;" in message
    assert "a datetime without a time zone is this computer's local time, UTC (UTC+00:00)" in (
        message
    )
    assert "more than 30 minutes from now; the earliest is about 2026-11-11 20:31" in message
    assert "It is 2026-11-11 20:00:00 in Shanghai now" in message
    with pytest.raises(cp.InputError) as text:
        plan_batches(numbers(1), vendor="veesing-sms", content=SMS, send_at="2026-11-11 12:10")
    message = str(text.value)
    assert "send_at 2026-11-11 12:10:00 Asia/Shanghai (7 h 50 min ago;" in message
    assert "text without a time zone is read as Shanghai time" in message
    assert "It is 2026-11-11 20:00:00 in Shanghai now" in message


def test_invalid_and_repeated_numbers_are_skipped_with_reasons():
    contacts = cp.load_phones(["13800138000", "1.38001E+10", "138 0013 8000", "010-62345678"])
    plan = plan_batches(contacts, vendor="jzyyun-sms", content=SMS)
    assert plan.recipients["phone"].tolist() == ["13800138000"]
    assert plan.skipped["skip_reason"].tolist() == [
        "invalid number: digits lost to Excel scientific notation",
        REPEAT,
        "invalid number: landline",
    ]
    assert list(plan.skipped.index) == [1, 2, 3]  # the contact rows, as they were


def test_contacts_are_loaded_when_given_raw(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("手机号,备注\n13800138000,a\n13900139000,b\n", encoding="gbk")
    plan = plan_batches(path, vendor="jzyyun-sms", content=SMS)
    assert plan.recipients[["phone", "备注"]].values.tolist() == [
        ["13800138000", "a"],
        ["13900139000", "b"],
    ]


def _sent(db, *, campaign, vendor, phones, minutes_ago, state="accepted"):
    when = (dt.datetime.now(store.SHANGHAI) - dt.timedelta(minutes=minutes_ago)).isoformat(
        timespec="seconds")  # fmt: skip
    db.execute("INSERT OR IGNORE INTO campaigns (name, vendor, channel, created_at)"
               " VALUES (?, ?, 'sms', ?)", [campaign, vendor, when])  # fmt: skip
    batch = db.execute("SELECT COUNT(*) FROM batches WHERE campaign = ?", [campaign]).fetchone()[0]
    db.execute("INSERT INTO batches (campaign, batch, vendor, size, state, submitted_at)"
               " VALUES (?, ?, ?, ?, ?, ?)",
               [campaign, batch + 1, vendor, len(phones), state, when])  # fmt: skip
    for p in phones:
        db.execute("INSERT INTO recipients (campaign, phone, batch) VALUES (?, ?, ?)",
                   [campaign, p, batch + 1])  # fmt: skip
    db.conn.commit()


def test_store_skips_opted_out_already_sent_and_too_soon(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    db.execute("INSERT INTO replies (vendor, phone, content, opt_out, ingested_at)"
               " VALUES ('jzyyun-sms', '13800000000', 'TD', 1, 'now')")  # fmt: skip
    db.execute("INSERT INTO replies (vendor, phone, content, opt_out, ingested_at)"
               " VALUES ('jzyyun-sms', '13800000001', '好的', 0, 'now')")  # fmt: skip
    _sent(db, campaign="earlier", vendor="veesing-sms", phones=["13800000002"], minutes_ago=0.5)
    _sent(db, campaign="earlier", vendor="veesing-sms", phones=["13800000003"], minutes_ago=5)
    _sent(db, campaign="other-vendor", vendor="jzyyun-sms", phones=["13800000004"],
          minutes_ago=0.1)  # fmt: skip
    _sent(db, campaign="this", vendor="veesing-sms", phones=["13800000005"], minutes_ago=10)
    _sent(db, campaign="refused", vendor="veesing-sms", phones=["13800000006"], minutes_ago=0.1,
          state="rejected")  # fmt: skip

    plan = plan_batches(numbers(8), vendor="veesing-sms", content=SMS, db=db, campaign="this")
    reasons = dict(zip(plan.skipped["phone"], plan.skipped["skip_reason"], strict=True))
    assert reasons == {
        "13800000000": OPTED_OUT,
        "13800000002": TOO_SOON,
        "13800000005": ALREADY_IN_CAMPAIGN,
    }
    # a reply that is not an opt-out, a send 5 minutes ago, another vendor's send and a
    # refused batch do not stop a veesing send
    assert plan.recipients["phone"].tolist() == [
        "13800000001", "13800000003", "13800000004", "13800000006", "13800000007",
    ]  # fmt: skip


def test_daily_cap_read_from_limits(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    # seconds ago, not minutes: the cap counts from Shanghai midnight
    _sent(db, campaign="a", vendor="veesing-sms", phones=["13800000000"], minutes_ago=0.02)
    _sent(db, campaign="b", vendor="veesing-sms", phones=["13800000000", "13800000001"],
          minutes_ago=0.01)  # fmt: skip
    client = cp.vendors.vendor("veesing-sms", app_id="a", app_key="k",
                               limits={"daily_cap_per_number": 2,
                                       "min_interval_seconds": None})  # fmt: skip
    plan = plan_batches(numbers(3), vendor=client, content=SMS, db=tmp_path / "campaign.db")
    assert plan.skipped["skip_reason"].tolist() == [DAILY_CAP]
    assert plan.recipients["phone"].tolist() == ["13800000001", "13800000002"]


def test_interval_counts_a_scheduled_campaign_at_its_send_time(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    _sent(db, campaign="later", vendor="veesing-sms", phones=["13800000000", "13800000001"],
          minutes_ago=10)  # fmt: skip
    in_an_hour = dt.datetime.now(store.SHANGHAI) + dt.timedelta(hours=1)
    db.execute("UPDATE campaigns SET send_at = ? WHERE name = 'later'",
               [in_an_hour.isoformat(timespec="seconds")])  # fmt: skip
    db.conn.commit()
    # submitted 10 minutes ago but delivered in an hour: no clash with a send now...
    now_plan = plan_batches(numbers(2), vendor="veesing-sms", content=SMS, db=db)
    assert now_plan.numbers == 2
    # ...but a send scheduled 30 s after it would be refused by the vendor: skipped
    close = in_an_hour + dt.timedelta(seconds=30)
    plan = plan_batches(numbers(2), vendor="veesing-sms", content=SMS, db=db, send_at=close)
    assert plan.skipped["skip_reason"].tolist() == [TOO_SOON, TOO_SOON]


def test_plan_reprs_for_people():
    contacts = cp.load_phones(["13800138000", "x", "13900139000"])
    plan = plan_batches(contacts, vendor="jzyyun-sms", content=SMS)
    text = repr(plan)
    assert text.startswith("<Plan jzyyun-sms: 2 numbers in 1 call, 1 segment each, 2 messages")
    assert "skipped 1: invalid number: not a phone number" in text
    page = plan._repr_html_()
    assert "<table>" in page
    assert "messages billed" in page
    assert len(plan) == 2
    assert plan.summary()["skipped"] == 1


def test_empty_plan():
    plan = plan_batches(["x"], vendor="jzyyun-sms", content=SMS)
    assert plan.numbers == 0
    assert plan.messages == 0
    assert list(plan.batches.columns) == ["batch", "size", "phones", "segments", "messages",
                                          "content", "variables"]  # fmt: skip


def test_unknown_vendor():
    with pytest.raises(cp.InputError, match="unknown vendor 'smsbao'"):
        plan_batches(numbers(1), vendor="smsbao", content=SMS)
    with pytest.raises(cp.InputError, match="vendor must be a vendor key"):
        plan_batches(numbers(1), vendor=42, content=SMS)


def test_user_columns_travel_with_the_recipients():
    frame = pd.DataFrame({"mobile": ["13800138000"], "会员等级": ["金卡"], "city": ["深圳店"]})
    plan = plan_batches(frame, vendor="jzyyun-sms", content=SMS)
    assert plan.recipients.loc[0, "会员等级"] == "金卡"
    assert plan.recipients.loc[0, "city_raw"] == "深圳店"
