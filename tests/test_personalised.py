"""Personalised content (issue 19): fields from the contact list's columns, each text checked
and billed on its own, numbers with the same text sharing calls, and each number sent its own
text, also when a send resumes from the store.

Sends run against the real simulator on 127.0.0.1, on both store engines.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sending import jzyyun, numbers, rows, stop_after_first_call, veesing
from stats_fixtures import at_schema

import campaign as cp
from campaign.batching import count_segments, field_value, plan_batches, template_text
from campaign.cli import main
from campaign.send import send
from campaign.simulator import serve
from campaign.store import connect, copy_store

DATA = Path(__file__).resolve().parent.parent / "data"
COUPON = "【云通信】{姓名}您好,您的{券}已到账,回T退订"
TARGET = "https://shop.example.com/d11"
BASE = "https://t.example.com"
LINK = {"link": TARGET, "link_base": BASE}


def contacts(names, coupons=None, start: int = 13800000000) -> pd.DataFrame:
    frame = pd.DataFrame({"手机号码": numbers(len(names), start), "姓名": names})
    if coupons is not None:
        frame["券"] = coupons
    return frame


def coupon_text(name, coupon) -> str:
    return f"【云通信】{name}您好,您的{coupon}已到账,回T退订"


def received(sim, vendor: str, field: str = "content") -> dict[str, list[str]]:
    """What each number got from the vendor's send calls (``field``: content or variables)."""
    texts: dict[str, list[str]] = {}
    for record in sim.calls(vendor, "send", processed=True):
        phones = record.params.get("phone") or record.params.get("mobile") or ""
        for phone in phones.split(","):
            texts.setdefault(phone, []).append(record.params[field])
    return texts


def text_of_each_number(plan) -> dict[str, str]:
    column = "variables" if plan.limits.message == "template" else "content"
    return {p: text for ps, text in zip(plan.batches["phones"], plan.batches[column],
                                        strict=True) for p in ps}  # fmt: skip


# --------------------------------------------------------------------------- grouping


def test_the_same_text_shares_calls_and_different_texts_never_do():
    names = ["张三", "李四", "张三", "王五", "张三", "李四", "张三"]
    plan = plan_batches(contacts(names, [100] * 7), vendor="jzyyun-sms", content=COUPON,
                        batch_size=3)  # fmt: skip
    # 张三 x4 -> calls of 3 and 1; 李四 x2 -> 1 call; 王五 -> 1 call
    assert plan.batches["size"].tolist() == [3, 1, 2, 1]
    assert plan.batches["content"].tolist() == [
        coupon_text("张三", 100), coupon_text("张三", 100), coupon_text("李四", 100),
        coupon_text("王五", 100),
    ]  # fmt: skip
    each = text_of_each_number(plan)
    assert each == {p: coupon_text(n, 100) for p, n in zip(numbers(7), names, strict=True)}
    assert plan.batches["variables"].isna().all()
    assert plan.texts == 3
    assert plan.content == COUPON  # the template; each call's text is in batches
    # the recipients keep the list's order, each with the batch that carries its text
    assert plan.recipients["phone"].tolist() == numbers(7)
    assert plan.recipients["batch"].tolist() == [1, 3, 1, 4, 1, 3, 2]
    assert "3 texts in 4 calls" in repr(plan)
    assert plan.summary()["texts"] == 3
    assert "3 texts in 4 calls" in plan._repr_html_()


def test_the_vendors_own_limit_caps_the_calls_of_one_text():
    client = cp.vendor("veesing-sms", app_id="a", app_key="k",
                       limits={"max_phones_per_call": 2})  # fmt: skip
    plan = plan_batches(contacts(["张三"] * 5 + ["李四"]), vendor=client,
                        content="【云通信】{姓名}您好,回T退订")  # fmt: skip
    assert plan.batches["size"].tolist() == [2, 2, 1, 1]
    assert plan.texts == 2


def test_a_single_phone_vendor_makes_one_call_per_number_even_for_one_text():
    frame = pd.DataFrame({"phone": numbers(3), "验证码": ["1234", "1234", "5678"]})
    plan = plan_batches(frame, vendor="ihuyi-voice", content="{验证码}")
    assert plan.batches["size"].tolist() == [1, 1, 1]
    assert plan.batches["content"].tolist() == ["1234", "1234", "5678"]
    assert plan.texts == 2


def test_a_plan_with_one_text_keeps_its_calls_and_shows_the_text():
    plan = plan_batches(numbers(5), vendor="jzyyun-sms", content="【云通信】双11五折,回T退订",
                        batch_size=2)  # fmt: skip
    assert plan.batches["size"].tolist() == [2, 2, 1]
    assert plan.batches["content"].tolist() == ["【云通信】双11五折,回T退订"] * 3
    assert plan.templates is None
    assert plan.texts == 1
    assert repr(plan).startswith("<Plan jzyyun-sms: 5 numbers in 3 calls, 1 segment each")


# --------------------------------------------------------------------------- billing


def test_each_text_is_billed_by_its_own_segments():
    long_name = "欧阳" + "娜" * 50  # pushes its text past 70 characters
    plan = plan_batches(contacts(["张三", long_name, "李四"], [100, 100, 100]),
                        vendor="jzyyun-sms", content=COUPON)  # fmt: skip
    limits = cp.vendor_limits("jzyyun-sms")
    assert count_segments(coupon_text(long_name, 100), limits) == 2
    billed = dict(zip(plan.batches["content"], plan.batches["segments"], strict=True))
    assert billed == {coupon_text("张三", 100): 1, coupon_text(long_name, 100): 2,
                      coupon_text("李四", 100): 1}  # fmt: skip
    assert plan.batches["messages"].tolist() == plan.batches["segments"].tolist()
    assert plan.messages == 4  # 1 + 2 + 1
    assert plan.segments == 2  # the most a number is billed
    assert "1-2 segments each" in repr(plan)


# --------------------------------------------------------------------------- the vendor's rules


def test_a_value_jzyyun_cannot_encode_names_the_row_and_the_column():
    frame = contacts(["张三", "李€", "王五"], [1, 2, 3])
    message = r"row 1 \(13800000001\), column '姓名': jzyyun-sms: 姓名 '李€' character '€'.*GBK"
    with pytest.raises(cp.InputError, match=message):
        plan_batches(frame, vendor="jzyyun-sms", content=COUPON)
    # veesing takes UTF-8: the same value is fine there
    plan = plan_batches(frame, vendor="veesing-sms", content=COUPON)
    assert coupon_text("李€", 2) in plan.batches["content"].tolist()


def test_an_emoji_in_a_value_names_the_row():
    frame = contacts(["张三", "李四", "王五😀"], [1, 2, 3])
    with pytest.raises(cp.InputError, match=r"row 2 \(13800000002\), column '姓名': "
                                            r"veesing-sms: .*emoji"):  # fmt: skip
        plan_batches(frame, vendor="veesing-sms", content=COUPON)


def test_the_whole_text_is_checked_and_an_error_names_a_row_with_that_text():
    frame = pd.DataFrame({"phone": numbers(3), "验证码": ["1234", "12", "5678"]})
    with pytest.raises(cp.InputError, match=r"4-6 digits.*the text of row 1 \(13800000001\)"):
        plan_batches(frame, vendor="ihuyi-voice", content="{验证码}")


def test_the_opt_out_warning_comes_once():
    with pytest.warns(UserWarning, match="no opt-out phrase") as caught:
        plan = plan_batches(contacts(["张三", "李四"]), vendor="jzyyun-sms",
                            content="【云通信】{姓名}您好")  # fmt: skip
    assert len([w for w in caught if "opt-out" in str(w.message)]) == 1
    assert len(plan.warnings) == 1


# --------------------------------------------------------------------------- fields and values


def test_a_field_naming_no_column_lists_the_columns():
    with pytest.raises(cp.InputError, match=r"field \{名字\} but the contact list has no "
                                            r"column '名字'; its columns are: 手机号码, 姓名, "
                                            r"券, phone, carrier, province, city"):  # fmt: skip
        plan_batches(contacts(["张三"], [1]), vendor="jzyyun-sms",
                     content="【云通信】{名字}您好,回T退订")  # fmt: skip


@pytest.mark.parametrize("empty", [None, np.nan, "", "   "])
def test_a_row_without_a_value_names_the_row_and_the_column(empty):
    coupons = [10, empty, 30, empty, empty, empty, empty, empty, 90]
    frame = contacts(["张三"] * 9, coupons)
    message = (r"content field \{券\}: 6 rows to send to have no 券: row 1 \(13800000001\), "
               r"row 3 \(13800000003\), row 4 .*, row 5 .*, row 6 .* and 1 more\. Fill in the "
               r"'券' column for them, or drop those rows \(e\.g\. contacts\.drop\(index=\[1, "
               r"3, 4, 5, 6, \.\.\.\]\)\)")  # fmt: skip
    with pytest.raises(cp.InputError, match=message):
        plan_batches(frame, vendor="jzyyun-sms", content=COUPON)


def test_rows_not_sent_need_no_values():
    frame = contacts(["张三", None, "李四", None])
    frame.loc[1, "手机号码"] = "not a number"  # skipped
    frame.loc[3, "手机号码"] = frame.loc[0, "手机号码"]  # a repeat: skipped
    plan = plan_batches(frame, vendor="jzyyun-sms", content="【云通信】{姓名}您好,回T退订")
    assert plan.numbers == 2
    assert sorted(plan.batches["content"]) == ["【云通信】张三您好,回T退订",
                                               "【云通信】李四您好,回T退订"]  # fmt: skip


def test_numbers_read_as_people_write_them(tmp_path):
    frame = pd.DataFrame({
        "手机号码": numbers(4),
        "券": [100.0, 12.5, 3.0, 100],
        "到期": pd.to_datetime(["2026-11-11", "2026-11-12 20:30", "2026-11-13", "2026-11-14"],
                       format="ISO8601"),
    })  # fmt: skip
    path = tmp_path / "list.xlsx"
    frame.to_excel(path, index=False)
    content = "【云通信】您的{券}元券{到期}到期,回T退订"
    expected = [
        "【云通信】您的100元券2026-11-11到期,回T退订",
        "【云通信】您的12.5元券2026-11-12 20:30到期,回T退订",
        "【云通信】您的3元券2026-11-13到期,回T退订",
        "【云通信】您的100元券2026-11-14到期,回T退订",
    ]
    for source in (frame, path, cp.load_phones(path)):
        plan = plan_batches(source, vendor="jzyyun-sms", content=content)
        assert list(text_of_each_number(plan).values()) == expected, source
    assert field_value(np.float64(7.0)) == "7"
    assert field_value(pd.NaT) is None


def test_braces_doubled_are_braces_and_a_lone_one_says_how_to_write_it():
    plan = plan_batches(contacts(["张三"]), vendor="jzyyun-sms",
                        content="【云通信】{姓名}您好,{{VIP}}专享,回T退订")  # fmt: skip
    assert plan.batches["content"].tolist() == ["【云通信】张三您好,{VIP}专享,回T退订"]
    plain = plan_batches(numbers(1), vendor="jzyyun-sms", content="【云通信】{{VIP}}专享,回T退订")
    assert plain.batches["content"].tolist() == ["【云通信】{VIP}专享,回T退订"]
    with pytest.raises(cp.InputError, match=r"lone '\{'.*write it twice, \{\{ or \}\}"):
        plan_batches(numbers(1), vendor="jzyyun-sms", content="【云通信】满100{减20,回T退订")
    with pytest.raises(cp.InputError, match=r"empty field \{\}"):
        plan_batches(numbers(1), vendor="jzyyun-sms", content="【云通信】{}专享,回T退订")
    # a value's own braces are text: sent as they are, never read as a field
    braced = plan_batches(contacts(["{link}"]), vendor="jzyyun-sms",
                          content="【云通信】{姓名}您好,回T退订")  # fmt: skip
    assert braced.batches["content"].tolist() == ["【云通信】{link}您好,回T退订"]
    assert braced.templates == [("【云通信】{{link}}您好,回T退订", None)]
    assert template_text(braced.templates[0][0]) == "【云通信】{link}您好,回T退订"


def test_template_vendors_take_variables_from_a_column():
    frame = pd.DataFrame({"phone": numbers(3), "券码": [1234.0, 5678.0, 1234.0]})
    plan = plan_batches(frame, vendor="veesing-code", template_id="540", variables="{券码}")
    assert plan.batches["variables"].tolist() == ["1234", "5678", "1234"]
    assert plan.batches["content"].isna().all()
    assert plan.texts == 2
    assert plan.variables == "{券码}"
    frame.loc[1, "券码"] = None
    with pytest.raises(cp.InputError, match=r"variables field \{券码\}: 1 row to send to has no "
                                            r"券码: row 1 \(13800000001\)"):  # fmt: skip
        plan_batches(frame, vendor="veesing-code", template_id="540", variables="{券码}")
    frame["券码"] = frame["券码"].astype(object)
    frame.loc[1, "券码"] = "12ab"
    with pytest.raises(cp.InputError, match=r"2-8 digits.*the text of row 1 \(13800000001\)"):
        plan_batches(frame, vendor="veesing-code", template_id="540", variables="{券码}")
    frame.loc[1, "券码"] = "😀"
    with pytest.raises(cp.InputError, match=r"row 1 \(13800000001\), column '券码'.*emoji"):
        plan_batches(frame, vendor="veesing-voice", template_id="724", variables="您的{券码}")


# --------------------------------------------------------------------------- sending


def test_the_simulator_receives_each_numbers_own_text(sim, db):
    names = ["张三", "李四", "张三", "王五", "张三"]
    plan = plan_batches(contacts(names, [100, 50, 100, 20, 100]), vendor="jzyyun-sms",
                        content=COUPON, db=db, campaign="d11")  # fmt: skip
    result = send(plan, jzyyun(sim), db=db, campaign="d11", progress=False)
    assert result["state"].tolist() == ["accepted"] * 3
    assert result["size"].tolist() == [3, 1, 1]
    expected = {p: [coupon_text(n, c)] for p, n, c in
                zip(numbers(5), names, [100, 50, 100, 20, 100], strict=True)}  # fmt: skip
    assert received(sim, "jzyyun-sms") == expected
    assert len(sim.calls("jzyyun-sms", "send")) == 3  # the three 张三 in one call
    assert rows(db, "SELECT batch, size, segments, messages, content FROM batches ORDER BY "
                    "batch") == [
        (1, 3, 1, 3, coupon_text("张三", 100)), (2, 1, 1, 1, coupon_text("李四", 50)),
        (3, 1, 1, 1, coupon_text("王五", 20)),
    ]  # fmt: skip
    assert rows(db, "SELECT content FROM campaigns") == [(COUPON,)]


def test_a_link_per_number_and_fields_make_each_numbers_text(sim, db):
    template = "【云通信】{姓名}您好,双11五折 {link} 回T退订"
    names = ["张三", "李四", "张三"]
    plan = plan_batches(contacts(names), vendor="veesing-sms", content=template, **LINK,
                        link_per="recipient")  # fmt: skip
    urls = dict(zip(plan.links["phone"], plan.links["url"], strict=True))
    want = {p: f"【云通信】{n}您好,双11五折 {urls[p]} 回T退订"
            for p, n in zip(numbers(3), names, strict=True)}  # fmt: skip
    assert text_of_each_number(plan) == want
    assert plan.texts == 3
    assert plan.templates == [(f"【云通信】{n}您好,双11五折 {{link}} 回T退订", None) for n in names]
    send(plan, veesing(sim), db=db, campaign="d11", progress=False)
    assert received(sim, "veesing-sms") == {p: [t] for p, t in want.items()}


def test_a_campaign_link_and_fields_share_calls(sim, db):
    template = "【云通信】{姓名}您好,双11五折 {link} 回T退订"
    plan = plan_batches(contacts(["张三", "李四", "张三"]), vendor="jzyyun-sms", content=template,
                        **LINK)  # fmt: skip
    url = plan.links["url"].iloc[0]
    assert plan.content == template.replace("{link}", url)
    assert plan.batches["size"].tolist() == [2, 1]
    send(plan, jzyyun(sim), db=db, campaign="d11", progress=False)
    got = received(sim, "jzyyun-sms")
    assert got[numbers(3)[1]] == [f"【云通信】李四您好,双11五折 {url} 回T退订"]
    assert got[numbers(3)[2]] == [f"【云通信】张三您好,双11五折 {url} 回T退订"]


def test_template_variables_from_a_column_reach_the_vendor(sim, db):
    frame = pd.DataFrame({"phone": numbers(3), "券码": ["1234", "5678", "90123"]})
    plan = plan_batches(frame, vendor="veesing-code", template_id="540", variables="{券码}")
    client = cp.vendor("veesing-code", app_id="a", app_key="k", base_url=sim.url)
    send(plan, client, db=db, campaign="codes", progress=False)
    assert received(sim, "veesing-code", "variables") == {
        p: [v] for p, v in zip(numbers(3), ["1234", "5678", "90123"], strict=True)
    }
    assert rows(db, "SELECT variables FROM campaigns") == [("{券码}",)]


def test_an_interrupted_send_resumes_with_each_batchs_own_text(sim, db):
    names = ["张三", "李四", "王五", "赵六", "张三"]
    frame = contacts(names, [1, 2, 3, 4, 5])
    plan = plan_batches(frame, vendor="jzyyun-sms", content=COUPON, db=db, campaign="d11")
    client = jzyyun(sim)
    real = stop_after_first_call(client)
    first = send(plan, client, db=db, campaign="d11", progress=False)
    assert first["state"].tolist() == ["accepted"] + ["planned"] * 4
    client.send = real

    # planned again from the store: everyone is in the campaign, so the texts to send come
    # from the batches the first run recorded
    again = plan_batches(frame, vendor="jzyyun-sms", content=COUPON, db=db, campaign="d11")
    assert again.numbers == 0
    resumed = send(again, client, db=db, campaign="d11", progress=False)
    assert resumed["state"].tolist() == ["accepted"] * 5
    assert received(sim, "jzyyun-sms") == {
        p: [coupon_text(n, c)] for p, n, c in zip(numbers(5), names, [1, 2, 3, 4, 5], strict=True)
    }


def test_a_batch_caught_by_a_crash_is_not_resent_and_the_rest_get_their_texts(sim, db):
    plan = plan_batches(contacts(["张三", "李四", "王五"]), vendor="jzyyun-sms",
                        content="【云通信】{姓名}您好,回T退订")  # fmt: skip
    client = jzyyun(sim)
    real = stop_after_first_call(client)
    send(plan, client, db=db, campaign="c", progress=False)
    client.send = real
    with connect(db) as store, store.transaction():  # a crash during batch 2's call
        store.execute("UPDATE batches SET state = 'submitting' WHERE batch = 2")
    # a plan made without the store, from the same list: only batch 3 is left to send
    result = send(plan, client, db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted", "unknown", "accepted"]
    assert received(sim, "jzyyun-sms") == {
        numbers(3)[0]: ["【云通信】张三您好,回T退订"],
        numbers(3)[2]: ["【云通信】王五您好,回T退订"],
    }


def test_a_batch_without_its_text_fails_the_run_and_nothing_is_sent(sim, db):
    plan = plan_batches(contacts(["张三", "李四"]), vendor="jzyyun-sms",
                        content="【云通信】{姓名}您好,回T退订")  # fmt: skip
    client = jzyyun(sim)
    real = stop_after_first_call(client)
    send(plan, client, db=db, campaign="c", progress=False)
    client.send = real
    with connect(db) as store, store.transaction():  # a store that lost a batch's text
        store.execute("UPDATE batches SET content = NULL WHERE batch = 2")
    with pytest.raises(cp.InputError, match=r"batch 2 has no text of its own.*Nothing was sent"):
        send(plan, client, db=db, campaign="c", progress=False)
    assert len(sim.calls("jzyyun-sms", "send")) == 1


def test_each_batch_is_stored_with_its_own_bill(sim, db):
    plan = plan_batches(contacts(["欧阳" + "娜" * 60, "欧阳" + "娜" * 60, "李四"]),
                        vendor="jzyyun-sms", content="【云通信】{姓名}您好,回T退订")  # fmt: skip
    client = jzyyun(sim)
    real = stop_after_first_call(client)
    send(plan, client, db=db, campaign="c", progress=False)  # records, sends batch 1
    client.send = real
    assert rows(db, "SELECT batch, size, segments, messages FROM batches ORDER BY batch") == [
        (1, 2, 2, 4), (2, 1, 1, 1)]  # fmt: skip


# --------------------------------------------------------------------------- the store


def test_record_plan_groups_fresh_numbers_by_their_text(db):
    """A plan's numbers partly in the campaign already: the rest are batched again, texts
    still apart."""
    names = ["张三", "李四", "张三", "李四", "张三"]
    frame = contacts(names)
    content = "【云通信】{姓名}您好,回T退订"
    with serve(seed=5) as sim:
        first = plan_batches(frame.iloc[[0, 1]], vendor="jzyyun-sms", content=content, db=db,
                             campaign="c")  # fmt: skip
        send(first, jzyyun(sim), db=db, campaign="c", progress=False)
        more = plan_batches(frame, vendor="jzyyun-sms", content=content, db=db, campaign="c")
        assert more.numbers == 3
        send(more, jzyyun(sim), db=db, campaign="c", progress=False)
        assert received(sim, "jzyyun-sms") == {
            p: [f"【云通信】{n}您好,回T退订"] for p, n in zip(numbers(5), names, strict=True)
        }
    stored = rows(db, "SELECT batch, size, content FROM batches ORDER BY batch")
    zhang, li = "【云通信】张三您好,回T退订", "【云通信】李四您好,回T退订"
    assert stored == [(1, 1, zhang), (2, 1, li), (3, 2, zhang), (4, 1, li)]


def test_a_version_6_store_is_migrated_and_its_campaigns_resume(sim, db, monkeypatch):
    at_schema(monkeypatch, db, 6)
    with connect(db) as old, old.transaction():
        old.execute("INSERT INTO campaigns (name, vendor, channel, content, created_at) VALUES"
                    " ('c', 'jzyyun-sms', 'sms', '【云通信】双11五折,回T退订', 't')")  # fmt: skip
        old.execute("INSERT INTO batches (campaign, batch, vendor, size, segments, messages,"
                    " state) VALUES ('c', 1, 'jzyyun-sms', 1, 1, 1, 'planned')")  # fmt: skip
        old.execute("INSERT INTO recipients (campaign, phone, batch) VALUES ('c', ?, 1)",
                    [numbers(1)[0]])  # fmt: skip
    monkeypatch.undo()
    with connect(db) as store:
        assert store.scalar("SELECT COUNT(*) FROM batches WHERE content IS NULL AND variables"
                            " IS NULL") == 1  # fmt: skip
    plan = plan_batches(numbers(1), vendor="jzyyun-sms", content="【云通信】双11五折,回T退订")
    result = send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted"]
    assert received(sim, "jzyyun-sms") == {numbers(1)[0]: ["【云通信】双11五折,回T退订"]}


def test_copy_keeps_each_batchs_text(tmp_path, postgres_db):
    src = tmp_path / "src.db"
    with serve(seed=6) as sim:
        plan = plan_batches(contacts(["张三", "李四"]), vendor="jzyyun-sms",
                            content="【云通信】{姓名}您好,回T退订")  # fmt: skip
        send(plan, jzyyun(sim), db=src, campaign="c", progress=False)
    copy_store(src, postgres_db, progress=False)
    assert rows(postgres_db, "SELECT batch, content FROM batches ORDER BY batch") == rows(
        src, "SELECT batch, content FROM batches ORDER BY batch")  # fmt: skip


# --------------------------------------------------------------------------- the CLI


def test_plan_command_shows_texts_calls_bill_and_an_example():
    args = ["plan", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content",
            "【云通信】{会员等级}会员专享双11五折,回T退订", "--batch-size", "10"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "  batches:  5 vendor calls (up to 10 numbers each)\n" in result.output
    assert "  billed:   40 messages (1 segment per number)\n" in result.output
    assert ("  texts:    4 distinct in 5 calls; the first, to 19986180831:\n"
            "            【云通信】银卡会员专享双11五折,回T退订\n") in result.output  # fmt: skip
    plain = "【云通信】双11五折,回T退订"
    one = CliRunner().invoke(main, ["plan", str(DATA / "contacts.csv"), "--vendor",
                                    "jzyyun-sms", "--content", plain])  # fmt: skip
    assert "  text:     【云通信】双11五折,回T退订\n" in one.output
    bad = CliRunner().invoke(main, ["plan", str(DATA / "contacts.csv"), "--vendor",
                                    "jzyyun-sms", "--content", "【云通信】{名字}您好"])  # fmt: skip
    assert bad.exit_code != 0
    assert "no column '名字'; its columns are: 姓名, 手机号码, 会员等级, 城市" in bad.output


# --------------------------------------------------------------------------- properties

NAMES = st.sampled_from(["张三", "李四", "王五", "Anna", "{x}", "欧阳" + "娜" * 62, "100.0"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(NAMES, min_size=1, max_size=40),
    size=st.integers(min_value=1, max_value=6),
    vendor=st.sampled_from(["jzyyun-sms", "veesing-sms"]),
)
def test_rendering_then_grouping_covers_every_number_once_with_its_own_text(names, size, vendor):
    plan = plan_batches(contacts(names), vendor=vendor, content="【云通信】{姓名}您好,回T退订",
                        batch_size=size)  # fmt: skip
    sent = [p for ps in plan.batches["phones"] for p in ps]
    assert sorted(sent) == numbers(len(names))  # everyone, once
    expected = {p: f"【云通信】{n}您好,回T退订" for p, n in zip(numbers(len(names)), names,
                                                               strict=True)}  # fmt: skip
    assert text_of_each_number(plan) == expected  # each with their own text
    assert (plan.batches["size"] <= size).all()
    counts = pd.Series(names, dtype=object).value_counts()
    assert len(plan.batches) == sum(math.ceil(n / size) for n in counts)  # as few calls as can be
    limits = cp.vendor_limits(vendor)
    assert plan.messages == sum(count_segments(t, limits) for t in expected.values())
    assert plan.texts == len(counts)
    assert dict(zip(plan.recipients["phone"], plan.recipients["batch"], strict=True)) == {
        p: b for b, ps in zip(plan.batches["batch"], plan.batches["phones"], strict=True)
        for p in ps
    }  # fmt: skip
