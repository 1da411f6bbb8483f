"""ingest: every receipt and reply stored once, linked, nothing dropped; pulls from jzyyun."""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
import urllib.parse
import uuid
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import campaign as cp
from campaign.errors import InputError, PayloadError
from campaign.ingest import (
    IngestResult,
    _parse_forms,
    ingest_receipts,
    ingest_replies,
    link_receipts,
    pull_replies,
    pull_reports,
)
from campaign.send import send
from campaign.simulator import serve
from campaign.store import connect, now
from campaign.vendors import veesing_code, veesing_sms, veesing_voice
from tests.stats_fixtures import rollups_counted, rollups_recounted

SMS = "【云通信】双11会员专享,全场五折,回T退订"


def receipt(phone="13800000000", task="T1", status="1", code="DELIVRD", at="2024-11-11 20:00:00"):
    return {"mobile": phone, "taskid": task, "status": status, "code": code, "receivetime": at}


def reply(phone="13800000000", task="T1", content="TD", at="2024-11-11 20:05:00"):
    return {"mobile": phone, "taskid": task, "content": content, "receivetime": at}


@pytest.fixture
def db(store_url):
    """A store with campaign 'c': batch 1 (task T1) to 13800000000-1, batch 2 (T2) to ...02.

    On both engines (``store_url``: a SQLite file, or a fresh PostgreSQL database)."""
    with connect(store_url) as store, store.transaction():
        store.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES "
            "('c', 'veesing-sms', 'sms', ?)",
            [now()],
        )
        store.executemany(
            "INSERT INTO batches (campaign, batch, vendor, size, state, task_id, submitted_at)"
            " VALUES ('c', ?, 'veesing-sms', 2, 'accepted', ?, ?)",
            [(1, "T1", "2024-11-11T19:00:00+08:00"), (2, "T2", "2024-11-11T19:30:00+08:00")],
        )
        store.executemany(
            "INSERT INTO recipients (campaign, phone, batch, carrier, province) "
            "VALUES ('c', ?, ?, '移动', '广东')",
            [("13800000000", 1), ("13800000001", 1), ("13800000002", 2)],
        )
    return store_url


def rows(db, sql, params=()):
    with connect(db) as store:
        return store.rows(sql, params)


def count(db, sql, params=()):
    with connect(db) as store:
        return store.scalar(sql, params)


def execute(db, sql, params=()):
    """One write, committed, on either engine."""
    with connect(db) as store, store.transaction():
        store.execute(sql, params)


def text(body):
    """A stored raw body as text: PostgreSQL keeps ``rejected.body`` as BYTEA (bytes)."""
    return body.decode("utf-8") if isinstance(body, bytes) else body


def test_receipts_are_linked_flagged_and_stored_once(db):
    forms = [
        receipt(),
        receipt("13800000001", status="0", code="MK:0001"),
        receipt("13900000000", task="NOPE"),  # unknown task: kept, flagged
        receipt("13800000002", task="T1"),  # known task, phone not in that batch
    ]
    assert ingest_receipts(db, forms, vendor="veesing-sms") == IngestResult(4, 0, 0, 0)
    assert ingest_receipts(db, forms, vendor="veesing-sms") == IngestResult(0, 4, 0, 0)
    got = rows(db, "SELECT phone, status, code, reason, campaign, batch, matched, received_at "
                   "FROM receipts ORDER BY id")  # fmt: skip
    assert got == [
        ("13800000000", "delivered", "DELIVRD", None, "c", 1, 1, "2024-11-11T20:00:00+08:00"),
        ("13800000001", "failed", "MK:0001", "空号", "c", 1, 1, "2024-11-11T20:00:00+08:00"),
        ("13900000000", "delivered", "DELIVRD", None, None, None, 0, "2024-11-11T20:00:00+08:00"),
        ("13800000002", "delivered", "DELIVRD", None, "c", 1, 0, "2024-11-11T20:00:00+08:00"),
    ]
    assert rows(db, "SELECT phone, status, carrier, province FROM deliveries ORDER BY phone") == [
        ("13800000000", "delivered", "移动", "广东"),
        ("13800000001", "failed", "移动", "广东"),
    ]
    assert dict(rows(db, "SELECT status, n FROM delivery_counts")) == {"delivered": 1, "failed": 1}


def test_a_receipt_repeated_within_one_input_is_stored_once(db):
    # PostgreSQL inserts plainly first and, on the repeat, again with ON CONFLICT DO NOTHING
    ingest_receipts(db, [receipt("13800000001")], vendor="veesing-sms")
    forms = [receipt(), receipt("13800000001"), receipt(), receipt("13800000002", task="T1")]
    assert ingest_receipts(db, forms, vendor="veesing-sms") == IngestResult(2, 2, 0, 0)
    assert rows(db, "SELECT phone, matched FROM receipts ORDER BY id") == [
        ("13800000001", 1), ("13800000000", 1), ("13800000002", 0),
    ]  # fmt: skip
    assert dict(rows(db, "SELECT status, n FROM delivery_counts")) == {"delivered": 2}


def test_a_receipt_that_beat_its_task_id_is_linked_later(db):
    ingest_receipts(db, [receipt("13800000005", task="T3")], vendor="veesing-sms")
    assert link_receipts(db) == 0
    with connect(db) as store, store.transaction():
        store.execute(
            "INSERT INTO batches (campaign, batch, vendor, size, state, task_id) "
            "VALUES ('c', 3, 'veesing-sms', 1, 'accepted', 'T3')"
        )
        store.execute(
            "INSERT INTO recipients (campaign, phone, batch) VALUES ('c', '13800000005', 3)"
        )
    assert link_receipts(db) == 1
    assert rows(db, "SELECT campaign, batch, matched FROM receipts") == [("c", 3, 1)]
    assert rows(db, "SELECT phone, batch FROM deliveries") == [("13800000005", 3)]
    assert link_receipts(db) == 0


def test_latest_receipt_wins_whatever_the_arrival_order(db):
    late = receipt(status="1", code="DELIVRD", at="2024-11-11 21:00:00")
    early = receipt(status="0", code="EXPIRED", at="2024-11-11 20:00:00")
    ingest_receipts(db, [late], vendor="veesing-sms")
    ingest_receipts(db, [early], vendor="veesing-sms")  # older, arrives later: no effect
    assert rows(db, "SELECT status, code, received_at FROM deliveries") == [
        ("delivered", "DELIVRD", "2024-11-11T21:00:00+08:00")
    ]
    newer = receipt(status="0", code="REJECTD", at="2024-11-11 22:00:00")
    ingest_receipts(db, [newer, early], vendor="veesing-sms")
    assert rows(db, "SELECT status, reason FROM deliveries") == [("failed", "黑名单/拦截")]
    assert dict(rows(db, "SELECT status, n FROM delivery_counts")) == {"delivered": 0, "failed": 1}
    same_time = receipt(status="1", code="DELIVRD", at="2024-11-11 22:00:00")
    ingest_receipts(db, [same_time], vendor="veesing-sms")  # tie: the later receipt id wins
    assert rows(db, "SELECT status FROM deliveries") == [("delivered",)]


def test_bad_rows_are_rejected_and_the_rest_still_goes_in(db):
    forms = [
        receipt(),
        receipt(phone=""),
        receipt(at="yesterday"),
        {"mobile": "13800000001", "taskid": "T1"},
        {"mobile": "13800000001", "status": "1", "content": "both"},
        "not a form",
        receipt("13800000001"),
    ]
    result = ingest_receipts(db, forms, vendor="veesing-sms", source_name="file:test")
    assert result == IngestResult(inserted=2, duplicates=0, rejected=5, skipped=0)
    errors = rows(db, "SELECT source, body, error FROM rejected ORDER BY id")
    assert {s for s, _, _ in errors} == {"file:test"}
    assert any("mobile" in e for _, _, e in errors)
    assert any("receivetime" in e for _, _, e in errors)
    assert json.loads(errors[0][1])["mobile"] == ""
    again = ingest_receipts(db, forms, vendor="veesing-sms", source_name="file:test")
    assert again.rejected == 5
    assert again.inserted == 0
    assert len(rows(db, "SELECT * FROM rejected")) == 5  # each bad record kept once


def test_replies_are_skipped_by_ingest_receipts_and_vice_versa(db):
    mixed = [receipt(), reply()]
    assert ingest_receipts(db, mixed, vendor="veesing-sms") == IngestResult(1, 0, 0, 1)
    assert ingest_replies(db, mixed, vendor="veesing-sms") == IngestResult(1, 0, 0, 1)


def test_replies_flag_opt_outs_and_link_their_campaign(db):
    replies = [
        reply(content="退订。"),
        reply("13800000001", content="我不想退订"),
        reply("13800000002", task="NOPE", content="ＴＤ", at="2024-11-11 20:10:00"),
        reply("13955555555", task="NOPE", content="T"),
    ]
    assert ingest_replies(db, replies, vendor="veesing-sms").inserted == 4
    assert ingest_replies(db, replies, vendor="veesing-sms").duplicates == 4
    got = rows(db, "SELECT phone, opt_out, campaign FROM replies ORDER BY id")
    assert got == [
        ("13800000000", 1, "c"),
        ("13800000001", 0, "c"),
        ("13800000002", 1, "c"),  # no known task: the campaign that last sent to the phone
        ("13955555555", 1, None),
    ]
    plan = cp.plan_batches(["13800000000", "13800000001"], vendor="veesing-sms", content=SMS, db=db)
    assert plan.recipients["phone"].tolist() == ["13800000001"]


def test_csv_jsonl_and_dataframe_sources(db, tmp_path):
    frame = pd.DataFrame([receipt(), reply("13800000001")])
    csv = tmp_path / "pushes.csv"
    frame.to_csv(csv, index=False)
    assert ingest_receipts(db, csv, vendor="veesing-sms") == IngestResult(1, 0, 0, 1)
    assert ingest_replies(db, csv, vendor="veesing-sms") == IngestResult(1, 0, 0, 1)
    lines = tmp_path / "pushes.jsonl"
    lines.write_text(
        json.dumps(receipt("13800000001")) + "\n{broken\n" + json.dumps([1]) + "\n\n",
        encoding="utf-8",
    )
    assert ingest_receipts(db, lines, vendor="veesing-sms") == IngestResult(1, 0, 2, 0)
    assert ingest_receipts(db, frame, vendor="veesing-sms") == IngestResult(0, 1, 0, 1)
    sources = {s for (s,) in rows(db, "SELECT source FROM rejected")}
    assert sources == {f"file:{lines}"}
    normalised = pd.DataFrame(
        {
            "phone": ["13800000002"],
            "task_id": ["T2"],
            "status": ["failed"],
            "code": ["EXPIRED"],
            "received_at": [pd.Timestamp("2024-11-11 20:30:00")],
        }
    )
    assert ingest_receipts(db, normalised, vendor="veesing-sms").inserted == 1
    assert rows(db, "SELECT received_at, reason FROM receipts WHERE phone = '13800000002'") == [
        ("2024-11-11T20:30:00+08:00", "过期未送达")
    ]


def test_argument_errors(db, tmp_path):
    with pytest.raises(InputError):
        ingest_receipts(db, [receipt()], vendor="nope")
    with pytest.raises(InputError):
        ingest_receipts(db, tmp_path / "missing.csv", vendor="veesing-sms")
    with pytest.raises(InputError):
        ingest_receipts(db, 42, vendor="veesing-sms")


def test_ingest_leaves_the_cycle_collector_as_it_found_it(db):
    import gc

    assert gc.isenabled()
    ingest_receipts(db, [receipt()], vendor="veesing-sms")  # paused while parsing, then back
    assert gc.isenabled()
    with pytest.raises(InputError):
        ingest_receipts(db, 42, vendor="veesing-sms")
    assert gc.isenabled()
    gc.disable()
    try:
        ingest_replies(db, [reply()], vendor="veesing-sms")
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_voice_receipts_keep_talk_time(db):
    form = {**receipt(status="0", code="NOANSWER"), "talktime": "0", "remark": "用户未接听"}
    ok = {**receipt("13800000001"), "talktime": "12", "remark": "接收成功"}
    assert ingest_receipts(db, [form, ok], vendor="veesing-voice").inserted == 2
    assert rows(db, "SELECT talk_seconds, reason, remark FROM receipts ORDER BY id") == [
        (0, "未接听", "用户未接听"),
        (12, None, "接收成功"),
    ]
    assert ingest_receipts(db, [receipt()], vendor="veesing-voice").rejected == 1  # no talktime


# --------------------------------------------------------------------------- the fast path

ASCIIISH = st.text(alphabet=st.sampled_from("0123456789 -+:T１٣\u3000\tabc,"), max_size=14)
FIELD = st.one_of(
    st.none(), ASCIIISH, st.sampled_from(["", " ", "1", "0", "2", "DELIVRD", "MK:0001 "]),
    st.just(["1", "0"]), st.integers(0, 99),
)  # fmt: skip
PHONE = st.one_of(FIELD, st.from_regex(r"(\+?86)?1[3-9][0-9]{9}", fullmatch=True))
WHEN = st.one_of(
    FIELD,
    st.from_regex(
        r"20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-6][0-9]:[0-6][0-9]", fullmatch=True
    ),
)
ODD_FORMS = st.fixed_dictionaries(
    {"mobile": PHONE, "taskid": FIELD, "status": FIELD, "receivetime": WHEN},
    optional={"code": FIELD, "talktime": FIELD, "remark": FIELD, "content": FIELD},
)
# Well-formed pushes, as most are: lists of only these take the column-wise parser's shortcuts
# for columns of one type and rows that all pass
CLEAN_FORMS = st.fixed_dictionaries(
    {
        "mobile": st.from_regex(r"(\+?86)?1[3-9][0-9]{9}", fullmatch=True),
        "taskid": st.sampled_from(["3313746", "T1"]),
        "status": st.sampled_from(["0", "1"]),
        "receivetime": st.sampled_from(["2024-11-11 20:00:05", "2024-02-29 23:59:59"]),
    },
    optional={
        "code": st.sampled_from(["DELIVRD", "UNDELIV", "MK:0001", ""]),
        "talktime": st.sampled_from(["0", "12", ""]),
        "remark": st.sampled_from(["接收成功", ""]),
    },
)
FORMS = st.one_of(CLEAN_FORMS, ODD_FORMS)


def reference(module, form):
    try:
        record = module.parse_push(form)
    except PayloadError:
        return "rejected"
    return record.to_dict() if isinstance(record, cp.vendors.Receipt) else "skipped"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FORMS, max_size=6), st.sampled_from([veesing_sms, veesing_code, veesing_voice]))
def test_column_wise_parsing_equals_the_vendor_parser(forms, module):
    parsed = _parse_forms(forms, vendor=module.KEY, kind="receipt", label="t")
    expected = [reference(module, f) for f in forms]
    got_rows = sorted(map(repr, parsed.receipts or []))
    want = [e for e in expected if isinstance(e, dict)]
    columns = ("vendor", "task_id", "phone", "status", "code", "received_at", "talk_seconds",
               "remark")  # fmt: skip
    want_rows = sorted(
        repr((*(w[c] for c in columns[:5]), cp.reasons.failure_reason(
            w["code"], remark=w["remark"], status=w["status"]), *(w[c] for c in columns[5:])))
        for w in want
    )  # fmt: skip
    assert got_rows == want_rows
    assert len(parsed.rejected) == expected.count("rejected")
    assert parsed.skipped == expected.count("skipped")


# --------------------------------------------------------------------------- jzyyun XML, pulled

REPORT = (
    "<psreport><mobile>{phone}</mobile><username>u</username><smslogid>{task}</smslogid>"
    "<status>{status}</status><sendtime>2024-11-11 20:00:0{n}.0</sendtime></psreport>"
)


def test_xml_one_bad_report_does_not_hold_back_the_others(db):
    body = "<smsreport>" + "".join(
        REPORT.format(phone=p, task="T1", status=s, n=i)
        for i, (p, s) in enumerate([("13800000000", "1"), ("", "0"), ("13800000001", "0")])
    ) + "</smsreport>"  # fmt: skip
    result = ingest_receipts(db, body, vendor="jzyyun-sms")
    assert result == IngestResult(2, 0, 1, 0)
    assert rows(db, "SELECT code, reason FROM receipts ORDER BY id") == [("1", None), ("0", "其他")]
    (error,) = rows(db, "SELECT error FROM rejected")[0]
    assert "in psreport #2" in error  # where it was in the answer, not #1 of its own
    assert ingest_receipts(db, b"<smsreport><oops", vendor="jzyyun-sms").rejected == 1
    assert rows(db, "SELECT body FROM rejected ORDER BY id")[-1] == (b"<smsreport><oops",)


def test_xml_replies_decode_and_link_by_phone(db):
    text = base64.b64encode("退订".encode("gbk")).decode()
    body = (
        "<smsrerecv><psrerecv><mobile>13800000002</mobile><content>"
        f"{text}</content><sendtime>2024-11-11 21:00:00</sendtime></psrerecv></smsrerecv>"
    )
    execute(db, "UPDATE batches SET vendor = 'jzyyun-sms'")
    assert ingest_replies(db, body, vendor="jzyyun-sms").inserted == 1
    assert rows(db, "SELECT task_id, content, opt_out, campaign FROM replies") == [
        (None, "退订", 1, "c")
    ]


def test_pull_reports_and_replies_from_the_simulator(store_url):
    db = store_url
    with serve(seed=5, time_scale=3600, reply_rate=0.5, pull_max=40) as sim:
        client = cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url)
        phones = [str(13800000000 + i) for i in range(120)]
        plan = cp.plan_batches(phones, vendor="jzyyun-sms", content=SMS, batch_size=50)
        send(plan, client, db=db, campaign="j", progress=False)
        sim.flush()
        got = pull_reports(client, db)
        replies = pull_replies(client, db)
        assert pull_reports(client, db).total == 0  # the queue is empty now
    assert got.inserted == count(db, "SELECT COUNT(*) FROM receipts") > 100
    assert got.rejected == 0
    assert count(db, "SELECT MIN(matched) FROM receipts") == 1
    assert count(db, "SELECT COUNT(*) FROM deliveries") == count(
        db, "SELECT COUNT(DISTINCT phone) FROM receipts")  # fmt: skip
    assert replies.inserted == count(db, "SELECT COUNT(*) FROM replies") > 0
    assert count(db, "SELECT COUNT(*) FROM replies WHERE campaign = 'j'") == replies.inserted


def test_pull_needs_a_pulled_vendor(tmp_path):
    client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(InputError):
        pull_reports(client, tmp_path / "c.db")


# --------------------------------------------------------------------------- shared task ids


def shared_task_store(db, *, states=("accepted", "accepted")):
    """Campaigns 'old' (T1 at 19:00 to ...00, ...01) and 'new' (T1 at 20:00 to ...02, and
    ...01 again): two sends the vendor (or two simulator sessions) gave the same task id."""
    with connect(db) as store, store.transaction():
        for name in ("old", "new"):
            store.execute(
                "INSERT INTO campaigns (name, vendor, channel, created_at) "
                "VALUES (?, 'veesing-sms', 'sms', ?)",
                [name, now()],
            )
        store.executemany(
            "INSERT INTO batches (campaign, batch, vendor, size, state, task_id, submitted_at)"
            " VALUES (?, 1, 'veesing-sms', 2, ?, 'T1', ?)",
            [
                ("old", states[0], "2024-11-11T19:00:00+08:00"),
                ("new", states[1], "2024-11-11T20:00:00+08:00"),
            ],
        )
        store.executemany(
            "INSERT INTO recipients (campaign, phone, batch) VALUES (?, ?, 1)",
            [("old", "13800000000"), ("old", "13800000001"), ("new", "13800000002"),
             ("new", "13800000001")],
        )  # fmt: skip
    return db


def test_a_shared_task_id_links_each_receipt_and_reply_to_the_batch_that_sent_to_it(store_url):
    db = shared_task_store(store_url)
    forms = [
        receipt("13800000000"),
        receipt("13800000002"),
        receipt("13800000001"),  # in both: the latest submitted batch
        receipt("13900000000"),  # in neither: the latest submitted batch, unmatched
    ]
    assert ingest_receipts(db, forms, vendor="veesing-sms").inserted == 4
    assert rows(db, "SELECT phone, campaign, matched FROM receipts ORDER BY id") == [
        ("13800000000", "old", 1),
        ("13800000002", "new", 1),
        ("13800000001", "new", 1),
        ("13900000000", "new", 0),
    ]
    assert rows(db, "SELECT campaign, phone FROM deliveries ORDER BY phone") == [
        ("old", "13800000000"),
        ("new", "13800000001"),
        ("new", "13800000002"),
    ]
    replies = [reply("13800000000"), reply("13800000002"), reply("13900000000")]
    assert ingest_replies(db, replies, vendor="veesing-sms").inserted == 3
    assert rows(db, "SELECT phone, campaign FROM replies ORDER BY id") == [
        ("13800000000", "old"),
        ("13800000002", "new"),
        ("13900000000", "new"),
    ]


def test_a_shared_task_id_is_relinked_to_the_batch_that_sent_to_the_phone(store_url):
    db = store_url
    forms = [receipt("13800000000"), receipt("13800000002")]
    assert ingest_receipts(db, forms, vendor="veesing-sms").inserted == 2  # no batch known yet
    assert rows(db, "SELECT DISTINCT matched FROM receipts") == [(0,)]
    shared_task_store(db)
    assert link_receipts(db) == 2
    assert rows(db, "SELECT phone, campaign, matched FROM receipts ORDER BY id") == [
        ("13800000000", "old", 1),
        ("13800000002", "new", 1),
    ]
    assert rows(db, "SELECT campaign, phone FROM deliveries ORDER BY phone") == [
        ("old", "13800000000"),
        ("new", "13800000002"),
    ]


def test_a_reply_without_task_is_not_linked_to_a_rejected_batch(store_url):
    db = shared_task_store(store_url, states=("accepted", "rejected"))
    execute(db, "UPDATE batches SET vendor = 'jzyyun-sms', task_id = NULL")
    frame = pd.DataFrame([{"phone": "13800000001", "task_id": None, "content": "好的",
                           "received_at": "2024-11-11 21:00:00"}])  # fmt: skip
    assert ingest_replies(db, frame, vendor="jzyyun-sms").inserted == 1
    # 'new' sent to the phone later, but the vendor rejected that batch: 'old' sent it
    assert rows(db, "SELECT campaign FROM replies") == [("old",)]
    execute(db, "UPDATE batches SET state = 'rejected'")
    frame.loc[0, "content"] = "再见"
    assert ingest_replies(db, frame, vendor="jzyyun-sms").inserted == 1
    assert rows(db, "SELECT campaign FROM replies ORDER BY id") == [("old",), (None,)]


# --------------------------------------------------------------------------- pulled answers


def jzyyun_client(monkeypatch, answers):
    """A jzyyun client whose pulls hand out ``answers`` in turn (then empty reports)."""
    client = cp.vendor("jzyyun-sms", username="u", password="p", base_url="http://127.0.0.1:9")
    calls = []

    def fetch():
        calls.append(1)
        return answers[len(calls) - 1] if len(calls) <= len(answers) else b"<smsreport/>"

    monkeypatch.setattr(client, "fetch_reports_xml", fetch)
    return client, calls


def test_a_pull_that_only_yields_rejected_answers_stops(db, monkeypatch):
    page = b"<html><body>502 Bad Gateway</body></html>"
    client, calls = jzyyun_client(monkeypatch, [page] * 100)
    assert pull_reports(client, db) == IngestResult(0, 0, 1, 0)
    assert len(calls) == 1  # not 100 calls fetching the same error page
    assert rows(db, "SELECT body FROM rejected") == [(page,)]


def test_a_pulled_answer_survives_a_parser_bug(db, monkeypatch):
    body = ("<smsreport>" + REPORT.format(phone="13800000000", task="T1", status="1", n=0)
            + "</smsreport>").encode()  # fmt: skip
    client, _ = jzyyun_client(monkeypatch, [body])

    def broken(raw):
        raise KeyError("a bug")

    monkeypatch.setattr(cp.vendors.jzyyun_sms, "parse_reports", broken)
    assert pull_reports(client, db).rejected == 1
    assert rows(db, "SELECT body, error FROM rejected") == [
        (body, "could not parse: KeyError: 'a bug'")
    ]


def test_a_pulled_answer_survives_a_bug_while_storing(db, monkeypatch):
    body = ("<smsreport>" + REPORT.format(phone="13800000000", task="T1", status="1", n=0)
            + "</smsreport>").encode()  # fmt: skip
    client, _ = jzyyun_client(monkeypatch, [body])

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("campaign.ingest.store_records", broken)
    with pytest.raises(ZeroDivisionError):
        pull_reports(client, db)
    assert rows(db, "SELECT body, error FROM rejected") == [
        (body, "could not store: ZeroDivisionError: a bug")
    ]
    assert rows(db, "SELECT COUNT(*) FROM receipts") == [(0,)]


def test_two_simulator_sessions_in_one_store_keep_their_campaigns_apart(store_url):
    db = store_url
    phones = [str(13800000000 + i) for i in range(20)]
    plan = cp.plan_batches(phones, vendor="jzyyun-sms", content=SMS, batch_size=10)
    for name in ("first", "second"):  # same seed, same phones: only the task ids differ
        with serve(seed=5, time_scale=3600) as sim:
            client = cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url)
            send(plan, client, db=db, campaign=name, progress=False)
            sim.flush()
            assert pull_reports(client, db).inserted == 20
    tasks = rows(db, "SELECT campaign, task_id FROM batches")
    assert len({task for _, task in tasks}) == 4
    assert dict(rows(db, "SELECT campaign, COUNT(*) FROM deliveries GROUP BY 1")) == {
        "first": 20,
        "second": 20,
    }


# --------------------------------------------------------------------------- statistics


# phone -> (campaign, task, carrier): 'old' batch 1 (T1); 'new' batch 1 (T1, the same task id)
# and batch 2 (T2); 13900000009 is no one's recipient (a receipt for it stays unmatched).
OWNERS = {
    "13800000000": ("old", "T1", "移动"),
    "13800000001": ("old", "T1", None),
    "13800000002": ("new", "T1", "联通"),
    "13800000003": ("new", "T1", "移动"),
    "13800000004": ("new", "T2", "电信"),
    "13800000005": ("new", "T2", "移动"),
    "13900000009": (None, "T1", None),
}
RECEIPTS = st.tuples(
    st.sampled_from(sorted(OWNERS)),
    st.sampled_from(["1", "0"]),
    st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED"]),
    st.integers(0, 3),  # few distinct times: ties on received_at happen
)


def stats_store(db):
    with connect(db) as store, store.transaction():
        for name in ("old", "new"):
            store.execute(
                "INSERT INTO campaigns (name, vendor, channel, created_at) "
                "VALUES (?, 'veesing-sms', 'sms', ?)",
                [name, now()],
            )
        store.executemany(
            "INSERT INTO batches (campaign, batch, vendor, size, state, task_id, submitted_at)"
            " VALUES (?, ?, 'veesing-sms', 2, 'accepted', ?, ?)",
            [("old", 1, "T1", "2024-11-11T19:00:00+08:00"),
             ("new", 1, "T1", "2024-11-11T20:00:00+08:00"),
             ("new", 2, "T2", "2024-11-11T20:00:00+08:00")],
        )  # fmt: skip
        store.executemany(
            "INSERT INTO recipients (campaign, phone, batch, carrier) VALUES (?, ?, ?, ?)",
            [(c, p, 1 if t == "T1" else 2, k) for p, (c, t, k) in OWNERS.items() if c],
        )
        store.execute(  # as send records them
            "INSERT INTO recipient_counts SELECT campaign, batch, COALESCE(carrier, ''),"
            " COALESCE(province, ''), COALESCE(city, ''), COUNT(*) FROM recipients"
            " GROUP BY 1, 2, 3, 4, 5"
        )


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def new_store(request):
    """``new_store()`` gives the ``db`` of an empty store: for @given tests, which need one
    per example (a function-scoped fixture such as ``store_url`` gives one per test).

    SQLite: a new file in a temporary folder, gone when the ``with`` ends. PostgreSQL: one
    database for the whole run, emptied for each example (``TRUNCATE ... RESTART IDENTITY``:
    as a new database, ids start at 1), since creating a database per example takes longer
    than the example itself."""
    if request.param == "sqlite":

        @contextlib.contextmanager
        def sqlite_store():
            with tempfile.TemporaryDirectory() as folder:
                yield Path(folder) / "campaign.db"

        yield sqlite_store
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = "campaign_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(server)._replace(path="/" + name))
    with connect(url) as store:  # the schema, once
        tables = [t for (t,) in store.rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename != 'campaign_schema'")]  # fmt: skip

    @contextlib.contextmanager
    def postgres_store():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        yield url

    yield postgres_store
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_ingest_in_any_order_gives_the_statistics_of_a_naive_recount(new_store, data):
    events = data.draw(st.lists(RECEIPTS, min_size=1, max_size=25))
    again = data.draw(st.lists(st.sampled_from(events), max_size=8))  # pushed twice
    stream = data.draw(st.permutations(events + again))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    forms = [
        receipt(phone, task=OWNERS[phone][1], status=status, code=code,
                at=f"2024-11-11 21:0{minute}:00")
        for phone, status, code, minute in stream
    ]  # fmt: skip

    # naive recount: receipts stored once, in arrival order; per recipient the latest
    # received_at wins, ties to the one stored last
    stored: dict[tuple, int] = {}
    latest: dict[tuple[str, str], tuple[str, int, str]] = {}
    for phone, status, code, minute in stream:
        key = (phone, status, code, minute)
        if key in stored:
            continue
        stored[key] = len(stored)
        campaign = OWNERS[phone][0]
        if campaign is not None:
            mine = (str(minute), stored[key], "delivered" if status == "1" else "failed")
            latest[campaign, phone] = max(latest.get((campaign, phone), mine), mine)

    with new_store() as db:
        stats_store(db)
        inserted = 0
        for start, end in zip([0, *cuts], [*cuts, len(forms)], strict=True):
            if start < end:
                inserted += ingest_receipts(db, forms[start:end], vendor="veesing-sms").inserted
        assert inserted == len(stored)
        linked = rows(db, "SELECT DISTINCT phone, campaign, matched FROM receipts")
        assert {(p, c) for p, c, m in linked if m} == {
            (p, OWNERS[p][0]) for p, *_ in stream if OWNERS[p][0]
        }

        got = cp.delivery_stats(db, by="campaign").set_index("campaign")
        for campaign in ("old", "new"):
            statuses = [s for (c, _), (_, _, s) in latest.items() if c == campaign]
            submitted = sum(owner == campaign for owner, _, _ in OWNERS.values())
            row = got.loc[campaign]
            assert row["submitted"] == submitted
            assert row["delivered"] == statuses.count("delivered")
            assert row["failed"] == statuses.count("failed")
            assert row["unknown"] == 0
            assert row["reported"] == len(statuses)
            assert row["pending"] == submitted - len(statuses)

        grouped = rows(
            db,
            "SELECT campaign, batch, COALESCE(carrier, ''), COALESCE(province, ''),"
            " COALESCE(city, ''), status, COUNT(*) FROM deliveries GROUP BY 1, 2, 3, 4, 5, 6",
        )
        counted = rows(
            db,
            "SELECT campaign, batch, carrier, province, city, status, n FROM delivery_counts"
            " WHERE n != 0",
        )
        assert sorted(counted) == sorted(grouped)
        assert rollups_counted(db) == rollups_recounted(db)
        want = sorted((c, p, s) for (c, p), (_, _, s) in latest.items())
        assert rows(db, "SELECT campaign, phone, status FROM deliveries ORDER BY 1, 2") == want


# --------------------------------------------------------------------------- captured files


def test_a_gbk_jsonl_of_replies_keeps_its_opt_outs(db, tmp_path):
    """Excel and Notepad on a Chinese Windows save GBK: 退订 must stay 退订 and opt out."""
    path = tmp_path / "replies.jsonl"
    path.write_bytes(json.dumps(reply("13800000000", content="退订"), ensure_ascii=False)
                     .encode("gbk") + b"\n")  # fmt: skip
    assert ingest_replies(db, path, vendor="veesing-sms") == IngestResult(1, 0, 0, 0)
    assert rows(db, "SELECT content, opt_out FROM replies") == [("退订", 1)]


def test_a_file_mixing_utf8_and_gbk_lines_is_read_line_by_line(db, tmp_path):
    path = tmp_path / "replies.jsonl"
    first = json.dumps(reply("13800000000", content="收到"), ensure_ascii=False).encode()
    second = json.dumps(reply("13800000001", content="取消"), ensure_ascii=False).encode("gbk")
    path.write_bytes(b"\xef\xbb\xbf" + first + b"\r\n" + second + b"\r\n")
    assert ingest_replies(db, path, vendor="veesing-sms").inserted == 2
    assert rows(db, "SELECT content, opt_out FROM replies ORDER BY phone") == [
        ("收到", 0), ("取消", 1)
    ]  # fmt: skip


HEADER = "mobile,taskid,status,code,receivetime\n"


def line(phone, extra=""):
    return f"{phone},T1,1,DELIVRD,2024-11-11 20:00:05{extra}\n"


def test_a_csv_row_that_does_not_fit_is_rejected_with_its_line_and_the_rest_go_in(db, tmp_path):
    path = tmp_path / "receipts.csv"
    path.write_text(HEADER + line("13800000000") + line("13800000001", ",EXTRA") + "\n"
                    + line("13800000002") + "13800000003,T1\n", encoding="utf-8")  # fmt: skip
    assert ingest_receipts(db, path, vendor="veesing-sms") == IngestResult(2, 0, 2, 0)
    assert rows(db, "SELECT error FROM rejected ORDER BY id") == [
        ("line 3: 6 fields where the header has 5 (mobile, taskid, status, code, receivetime)",),
        ("line 6: 2 fields where the header has 5 (mobile, taskid, status, code, receivetime)",),
    ]
    (body,) = rows(db, "SELECT body FROM rejected ORDER BY id LIMIT 1")[0]
    assert text(body) == "13800000001,T1,1,DELIVRD,2024-11-11 20:00:05,EXTRA"  # the line, as read
    again = ingest_receipts(db, path, vendor="veesing-sms")
    assert (again.inserted, again.duplicates) == (0, 2)


def test_a_gbk_csv_and_an_undecodable_line(db, tmp_path):
    path = tmp_path / "replies.csv"
    body = "mobile,taskid,content,receivetime\n13800000000,T1,退订,2024-11-11 20:05:00\n"
    path.write_bytes(body.encode("gbk") + b"13800000001,T1,\xff\xff,2024-11-11 20:05:00\n")
    assert ingest_replies(db, path, vendor="veesing-sms") == IngestResult(1, 0, 1, 0)
    assert rows(db, "SELECT content, opt_out FROM replies") == [("退订", 1)]
    (error,) = rows(db, "SELECT error FROM rejected")[0]
    assert error.startswith("line 3: neither UTF-8 nor GBK: save the file as UTF-8")


def test_an_empty_csv_and_one_with_a_repeated_header(db, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty file: expected a header row"):
        ingest_receipts(db, empty, vendor="veesing-sms")
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER, encoding="utf-8")
    assert ingest_receipts(db, header_only, vendor="veesing-sms") == IngestResult(0, 0, 0, 0)
    twice = tmp_path / "twice.csv"
    twice.write_text("mobile,mobile,taskid\n1,2,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="header names 'mobile' more than once"):
        ingest_receipts(db, twice, vendor="veesing-sms")


def test_spreadsheet_mangled_phones_are_rejected_or_repaired(db, tmp_path):
    path = tmp_path / "receipts.csv"
    path.write_text(HEADER + line("1.38E+10") + line("13800000001.0") + line("abc"),
                    encoding="utf-8")  # fmt: skip
    assert ingest_receipts(db, path, vendor="veesing-sms") == IngestResult(1, 0, 2, 0)
    assert rows(db, "SELECT phone, matched FROM receipts") == [("13800000001", 1)]
    errors = [e for (e,) in rows(db, "SELECT error FROM rejected ORDER BY id")]
    assert "scientific notation" in errors[0]
    assert "not a phone number" in errors[1]


@pytest.mark.parametrize(
    ("at", "stored"),
    [
        ("2024-11-11 20:00:05", "2024-11-11T20:00:05+08:00"),
        ("2024/11/11 20:00:05", "2024-11-11T20:00:05+08:00"),  # Excel re-saved the capture
        ("2024/11/11 20:00", "2024-11-11T20:00:00+08:00"),
        ("2024-11-11T12:00:05Z", "2024-11-11T20:00:05+08:00"),  # an offset: moved to Beijing
        ("2024-11-11T20:00:05+08:00", "2024-11-11T20:00:05+08:00"),
    ],
)
def test_receipt_times_as_captures_really_hold_them(db, at, stored):
    assert ingest_receipts(db, [receipt(at=at)], vendor="veesing-sms").inserted == 1
    assert rows(db, "SELECT received_at FROM receipts") == [(stored,)]


@pytest.mark.parametrize("at", ["2024-11-11", "yesterday", "2024-13-11 20:00:00", ""])
def test_a_receipt_time_that_is_no_moment_is_rejected(db, at):
    assert ingest_receipts(db, [receipt(at=at)], vendor="veesing-sms").rejected == 1


@pytest.mark.parametrize("at", ["2024-11-11 20:0", "2024-11-11 20:00:0", "2024/11/11 20:5"])
def test_a_receipt_time_cut_short_is_rejected_not_guessed(db, at):
    """strptime reads 20:0 as 20:00; a captured file must not store that guess."""
    assert ingest_receipts(db, [receipt(at=at)], vendor="veesing-sms").rejected == 1
    with connect(db) as store:
        assert store.scalar("SELECT COUNT(*) FROM receipts") == 0
        assert "cut short" in store.scalar("SELECT error FROM rejected")
