"""send: every state committed, resumable, and no number ever submitted twice.

Runs against the real simulator on 127.0.0.1 with its fault injection.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlite_utils
from sending import jzyyun, numbers, rows

import campaign as cp
from campaign import clock
from campaign.batching import TOO_SOON, plan_batches
from campaign.errors import NothingToSend
from campaign.send import SEND_COLUMNS, send
from campaign.store import SCHEMA_VERSION, connect
from campaign.store.postgres import is_postgres_url

SMS = "【云通信】双11会员专享,全场五折,回T退订"


def scalar(db, sql, params=()):
    with connect(db) as store:
        return store.scalar(sql, params)


def records(db, sql, params=()):
    """The rows as dicts, column name to value (what sqlite_utils' ``table.rows`` gives)."""
    with connect(db) as store:
        cursor = store.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def store_exists(db) -> bool:
    """Whether anything created the store: the SQLite file, or campaign's tables in the
    PostgreSQL database (the test's database exists from the start, empty)."""
    if not is_postgres_url(db):
        return Path(db).exists()
    import psycopg

    with psycopg.connect(db) as conn:
        return conn.execute("SELECT to_regclass('campaign_schema') IS NOT NULL").fetchone()[0]


def dump_store(db) -> str:
    """Everything in the store as text: SQLite's ``iterdump``; on PostgreSQL every row of
    every table (what ``pg_dump --data-only`` would hold)."""
    if not is_postgres_url(db):
        return "\n".join(sqlite_utils.Database(db).iterdump())
    with connect(db) as store:
        tables = [t for (t,) in store.rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        return "\n".join(
            f"{table}: {row!r}" for table in tables for row in store.rows(f"SELECT * FROM {table}")
        )


def submitted_phones(sim, vendor: str) -> collections.Counter:
    """How often each number reached the vendor's send logic (processed requests only)."""
    counts: collections.Counter = collections.Counter()
    for record in sim.calls(vendor, "send", processed=True):
        text = record.params.get("mobile") or record.params.get("phone") or ""
        counts.update(p for p in text.split(",") if p)
    return counts


def states(db) -> dict[int, str]:
    return dict(rows(db, "SELECT batch, state FROM batches ORDER BY batch"))


def test_sends_every_batch_and_records_it(sim, db):
    contacts = cp.load_phones(["13800000000", "13800000001", "x", "13800000002"])
    contacts["会员等级"] = ["金卡", "银卡", "普通", "金卡"]
    plan = plan_batches(contacts, vendor="jzyyun-sms", content=SMS, batch_size=2)
    result = send(plan, jzyyun(sim), db=db, campaign="double11", progress=False)

    assert list(result.columns) == list(SEND_COLUMNS)
    assert result["state"].tolist() == ["accepted", "accepted"]
    assert result["size"].tolist() == [2, 1]
    assert result["accepted"].tolist() == [2, 1]
    assert result["task_id"].notna().all()
    assert result["code"].tolist() == ["success", "success"]
    assert (result["attempts"] == 1).all()
    assert submitted_phones(sim, "jzyyun-sms") == {p: 1 for p in numbers(3)}

    (campaign,) = records(db, "SELECT * FROM campaigns WHERE name = ?", ["double11"])
    assert campaign["vendor"] == "jzyyun-sms"
    assert campaign["content"] == SMS
    recipients = records(db, "SELECT * FROM recipients ORDER BY campaign, phone")
    assert [r["phone"] for r in recipients] == numbers(3)
    # the contact list's own columns, as typed, for stats by any of them
    assert json.loads(recipients[0]["attrs"]) == {"会员等级": "金卡"}
    assert recipients[0]["carrier"] == "中国移动"
    counts = rows(db, "SELECT batch, carrier, SUM(n) FROM recipient_counts GROUP BY 1, 2"
                      " ORDER BY 1, 2")  # fmt: skip
    assert counts == [(1, "中国移动", 2), (2, "中国移动", 1)]


def test_sending_again_resumes_and_sends_nothing_twice(sim, db):
    plan = plan_batches(numbers(5), vendor="jzyyun-sms", content=SMS, batch_size=2)
    client = jzyyun(sim)
    first = send(plan, client, db=db, campaign="c", progress=False)
    again = send(plan, client, db=db, campaign="c", progress=False)
    assert first.equals(again)
    assert len(sim.calls("jzyyun-sms", "send")) == 3


def test_more_numbers_join_a_campaign_as_new_batches(sim, db):
    client = jzyyun(sim)
    send(plan_batches(numbers(3), vendor="jzyyun-sms", content=SMS), client, db=db,
         campaign="c", progress=False)  # fmt: skip
    result = send(plan_batches(numbers(5), vendor="jzyyun-sms", content=SMS), client, db=db,
                  campaign="c", progress=False)  # fmt: skip
    assert result["size"].tolist() == [3, 2]
    assert submitted_phones(sim, "jzyyun-sms") == {p: 1 for p in numbers(5)}


def test_dry_run_records_and_sends_nothing(sim, db):
    plan = plan_batches(numbers(5), vendor="jzyyun-sms", content=SMS, batch_size=2)
    result = send(plan, jzyyun(sim), db=db, campaign="c", dry_run=True, progress=False)
    assert result["state"].tolist() == ["planned"] * 3
    assert result["size"].tolist() == [2, 2, 1]
    assert not store_exists(db)
    assert sim.calls("jzyyun-sms") == []


@pytest.mark.parametrize("fault", ["drop_after", "drop_before", "http_5xx", "delay"])
def test_a_lost_answer_is_unknown_and_never_resent_automatically(sim, db, fault):
    client = jzyyun(sim, timeout=(2, 0.5), retries=2)
    plan = plan_batches(numbers(6), vendor="jzyyun-sms", content=SMS, batch_size=2)
    sim.inject(fault, vendor="jzyyun-sms", operation="send", times=1, seconds=1.5)
    result = send(plan, client, db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["unknown", "accepted", "accepted"]
    assert "jzyyun-sms" in result["message"].iloc[0]

    again = send(plan, client, db=db, campaign="c", progress=False)
    assert again["state"].tolist() == ["unknown", "accepted", "accepted"]
    calls = sim.calls("jzyyun-sms", "send")
    assert len(calls) == 3  # one request per batch, whatever happened to its answer
    assert max(submitted_phones(sim, "jzyyun-sms").values()) == 1


def test_unknown_is_resent_only_when_asked(sim, db):
    client = jzyyun(sim)
    plan = plan_batches(numbers(4), vendor="jzyyun-sms", content=SMS, batch_size=2)
    sim.inject("http_5xx", vendor="jzyyun-sms", operation="send", times=1)
    send(plan, client, db=db, campaign="c", progress=False)
    result = send(plan, client, db=db, campaign="c", resend_unknown=True, progress=False)
    assert result["state"].tolist() == ["accepted", "accepted"]
    assert result["attempts"].tolist() == [2, 1]
    # 5xx: the simulator did not process it, so each number reached the vendor once
    assert submitted_phones(sim, "jzyyun-sms") == {p: 1 for p in numbers(4)}


def test_faults_among_many_calls_never_submit_a_number_twice(sim, db):
    client = jzyyun(sim, timeout=(2, 0.4), retries=2)
    faults = {3: "drop_after", 7: "drop_before", 12: "http_5xx", 15: "delay", 18: "drop_after"}
    real_send = client.send
    calls = []

    def send_with_faults(*args, **kwargs):  # the fault lands on the call about to be made
        calls.append(1)
        if len(calls) in faults:
            sim.inject(faults[len(calls)], vendor="jzyyun-sms", operation="send", seconds=1.0)
        return real_send(*args, **kwargs)

    client.send = send_with_faults
    plan = plan_batches(numbers(40), vendor="jzyyun-sms", content=SMS, batch_size=2)
    first = send(plan, client, db=db, campaign="c", progress=False)
    unknown = [b for b, s in zip(first["batch"], first["state"], strict=True) if s == "unknown"]
    assert unknown == sorted(faults)
    send(plan, client, db=db, campaign="c", progress=False)  # resuming leaves them alone

    counts = submitted_phones(sim, "jzyyun-sms")
    assert max(counts.values()) == 1
    assert len(sim.calls("jzyyun-sms", "send")) == 20  # one request per batch, no retry
    # the vendor processed drop_after and delay calls: those numbers did get the SMS once
    processed = {b for b in unknown if faults[b] in {"drop_after", "delay"}}
    for batch in processed:
        assert counts[numbers(40)[2 * batch - 2]] == 1


def test_a_vendor_refusal_keeps_its_code_and_message(sim, db):
    client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
    sim.set_balance("veesing-sms", "a", 3)
    plan = plan_batches(numbers(5), vendor="veesing-sms", content=SMS, batch_size=3)
    result = send(plan, client, db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted", "rejected"]
    assert result["code"].iloc[1] == "0"
    assert result["message"].iloc[1]  # the vendor's own words
    sim.set_balance("veesing-sms", "a", 100)
    again = send(plan, client, db=db, campaign="c", progress=False)
    assert again["state"].tolist() == ["accepted", "rejected"]
    retried = send(plan, client, db=db, campaign="c", resend_rejected=True, progress=False)
    assert retried["state"].tolist() == ["accepted", "accepted"]


def test_unreachable_vendor_leaves_batches_planned(sim, db):
    plan = plan_batches(numbers(4), vendor="jzyyun-sms", content=SMS, batch_size=2)
    dead = cp.vendor("jzyyun-sms", username="u", password="p", base_url="http://127.0.0.1:9",
                     timeout=(0.5, 1), retries=0)  # fmt: skip
    with pytest.raises(cp.VendorUnreachable, match=r"sent; 2 batch\(es\) still planned: run send"):
        send(plan, dead, db=db, campaign="c", progress=False)
    assert set(states(db).values()) == {"planned"}
    result = send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted", "accepted"]


def test_a_batch_caught_mid_call_by_a_crash_becomes_unknown(sim, db):
    plan = plan_batches(numbers(4), vendor="jzyyun-sms", content=SMS, batch_size=2)
    client = jzyyun(sim)
    send(plan, client, db=db, campaign="c", dry_run=False, progress=False)
    with connect(db) as store, store.transaction():
        store.execute("UPDATE batches SET state = 'submitting' WHERE batch = 2")
    result = send(plan, client, db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted", "unknown"]
    assert "interrupted" in result["message"].iloc[1]
    assert len(sim.calls("jzyyun-sms", "send")) == 2


CHILD = textwrap.dedent(
    """
    import sys
    import campaign as cp
    url, db = sys.argv[1], sys.argv[2]
    numbers = [str(13800000000 + i) for i in range(10)]
    plan = cp.plan_batches(numbers, vendor="jzyyun-sms", content=sys.argv[3], batch_size=2)
    client = cp.vendor("jzyyun-sms", username="u", password="p", base_url=url, timeout=(2, 60))
    cp.send(plan, client, db=db, campaign="c", progress=False, window=False)  # any hour
    """
)


def test_resume_after_the_process_is_killed_mid_call(sim, db):
    """A real crash: SIGKILL while the vendor holds the third call's answer."""
    third = ",".join(numbers(10)[4:6])
    sim.inject("delay", vendor="jzyyun-sms", operation="send", seconds=3, where={"mobile": third})
    child = subprocess.Popen([sys.executable, "-c", CHILD, sim.url, str(db), SMS])
    try:
        deadline = time.monotonic() + 30
        while len(sim.calls("jzyyun-sms", "send")) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.2)  # the third call is being held by the vendor
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert states(db) == {1: "accepted", 2: "accepted", 3: "submitting", 4: "planned",
                          5: "planned"}  # fmt: skip

    plan = plan_batches(numbers(10), vendor="jzyyun-sms", content=SMS, batch_size=2)
    result = send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted", "accepted", "unknown", "accepted", "accepted"]
    counts = submitted_phones(sim, "jzyyun-sms")
    assert counts == {p: 1 for p in numbers(10)}  # the held call was processed: once


def test_single_phone_vendor_runs_concurrently_and_sends_each_once(sim, db):
    client = cp.vendor("veesing-voice", app_id="a", app_key="k", base_url=sim.url)
    plan = plan_batches(numbers(60), vendor="veesing-voice", template_id="724",
                        variables="您的快递已到")  # fmt: skip
    result = send(plan, client, db=db, campaign="v", concurrency=8, progress=False)
    assert (result["state"] == "accepted").all()
    assert len(result) == 60
    assert submitted_phones(sim, "veesing-voice") == {p: 1 for p in numbers(60)}


def test_rate_spaces_the_calls(sim, db):
    client = cp.vendor("ihuyi-voice", account="a", api_key="k", base_url=sim.url)
    plan = plan_batches(numbers(5), vendor="ihuyi-voice", content="1234")
    started = time.perf_counter()
    send(plan, client, db=db, campaign="v", calls_per_second=20, concurrency=4, progress=False)
    assert time.perf_counter() - started >= 4 / 20
    times = [r.time for r in sim.calls("ihuyi-voice", "send")]
    assert times[-1] - times[0] >= 4 / 20 * 0.8  # spacing is set at the sender; allow jitter


def test_a_slow_answer_does_not_hold_up_the_paced_calls_behind_it(sim, db):
    """Paced sends keep starting calls on time while one waits for its answer."""
    client = cp.vendor("ihuyi-voice", account="a", api_key="k", base_url=sim.url)
    plan = plan_batches(numbers(5), vendor="ihuyi-voice", content="1234")
    sim.inject("delay", vendor="ihuyi-voice", operation="send", times=1, seconds=1.5)
    result = send(plan, client, db=db, campaign="v", calls_per_second=20, concurrency=4,
                  progress=False)  # fmt: skip
    assert (result["state"] == "accepted").all()
    times = sorted(r.time for r in sim.calls("ihuyi-voice", "send"))
    assert len(times) == 5
    assert times[-1] - times[0] < 1.0  # all five started while the first was still held


def test_ctrl_c_stops_cleanly_between_calls(sim, db):
    client = jzyyun(sim)
    real_send = client.send
    calls = []

    def send_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C during the first call
        return real_send(*args, **kwargs)

    client.send = send_then_interrupt
    plan = plan_batches(numbers(6), vendor="jzyyun-sms", content=SMS, batch_size=2)
    result = send(plan, client, db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["accepted", "planned", "planned"]
    client.send = real_send
    resumed = send(plan, client, db=db, campaign="c", progress=False)
    assert resumed["state"].tolist() == ["accepted"] * 3


def test_per_number_interval_across_two_campaigns(sim, db):
    client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
    early = plan_batches(numbers(4), vendor="veesing-sms", content=SMS)
    send(plan_batches(numbers(2), vendor="veesing-sms", content=SMS), client, db=db,
         campaign="a", progress=False)  # fmt: skip
    later = plan_batches(numbers(4), vendor="veesing-sms", content=SMS, db=db, campaign="b")
    assert later.skipped["skip_reason"].tolist() == [TOO_SOON, TOO_SOON]
    # a plan made before campaign a was sent is checked again when it is recorded
    result = send(early, client, db=db, campaign="b", progress=False)
    assert result["size"].tolist() == [2]
    counts = submitted_phones(sim, "veesing-sms")
    assert counts == {p: 1 for p in numbers(4)}
    assert not any(r.response and "一分钟" in r.response.decode("utf-8", "replace")
                   for r in sim.calls("veesing-sms", "send"))  # fmt: skip


def test_every_number_skipped_says_why_and_when_and_records_nothing(sim, db, monkeypatch):
    eight_pm = dt.datetime(2026, 11, 11, 20, 0, tzinfo=clock.SHANGHAI)
    monkeypatch.setattr(clock, "current", lambda: eight_pm)
    client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
    early = plan_batches(numbers(3), vendor="veesing-sms", content=SMS)
    send(plan_batches(numbers(3), vendor="veesing-sms", content=SMS), client, db=db,
         campaign="a", progress=False)  # fmt: skip
    later = plan_batches(numbers(3), vendor="veesing-sms", content=SMS, db=db)
    for plan in [later, early]:  # skipped when planned; skipped when recorded
        with pytest.raises(NothingToSend) as info:
            send(plan, client, db=db, campaign="b", progress=False)
        message = str(info.value)
        assert message.startswith(
            "nothing to send in campaign 'b': all 3 numbers were skipped (3 sent too recently "
            "for the vendor's per-number interval); the first can be sent at 20:01:00 "
            "Asia/Shanghai (in 60 s)"
        )
        assert message.endswith("Nothing was recorded")
        assert info.value.sendable_at == eight_pm + dt.timedelta(seconds=60)
    with pytest.raises(NothingToSend, match=r"\(1 invalid number\); waiting will not"):
        send(plan_batches(["12345"], vendor="veesing-sms", content=SMS), client, db=db,
             campaign="c", progress=False)  # fmt: skip
    assert rows(db, "SELECT name FROM campaigns") == [("a",)]
    assert len(sim.calls("veesing-sms", "send")) == 1


def test_argument_errors(sim, db):
    plan = plan_batches(numbers(2), vendor="jzyyun-sms", content=SMS)
    voice = cp.vendor("ihuyi-voice", account="a", api_key="k", base_url=sim.url)
    with pytest.raises(cp.InputError, match="the plan is for jzyyun-sms but the client is ihuyi"):
        send(plan, voice, db=db, campaign="c")
    with pytest.raises(cp.InputError, match="campaign must be a non-empty name"):
        send(plan, jzyyun(sim), db=db, campaign=" ")
    with pytest.raises(cp.InputError, match="concurrency"):
        send(plan, jzyyun(sim), db=db, campaign="c", concurrency=0)
    with pytest.raises(cp.InputError, match="rate"):
        send(plan, jzyyun(sim), db=db, campaign="c", rate=0)
    with pytest.raises(cp.InputError, match="calls_per_second"):
        send(plan, jzyyun(sim), db=db, campaign="c", calls_per_second=-1)
    with pytest.raises(cp.InputError, match="needs a Plan"):
        send("plan", jzyyun(sim), db=db, campaign="c")
    send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    other = plan_batches(numbers(2), vendor="jzyyun-sms", content="【云通信】别的内容,回T退订")
    with pytest.raises(cp.InputError, match="started with jzyyun-sms and another message"):
        send(other, jzyyun(sim), db=db, campaign="c")


def test_progress_bar_counts_numbers(sim, db, monkeypatch):
    shown = []

    class Bar:
        def __init__(self, *, total, unit, desc, disable):
            shown.append({"total": total, "unit": unit, "disable": disable, "updates": []})

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            shown[-1]["updates"].append(n)

    # the module, not cp.send (the function shadows the module's name on the package)
    monkeypatch.setattr(sys.modules["campaign.send"], "tqdm", Bar)
    plan = plan_batches(numbers(5), vendor="jzyyun-sms", content=SMS, batch_size=2)
    send(plan, jzyyun(sim), db=db, campaign="c", progress=True)
    send(plan_batches(numbers(7), vendor="jzyyun-sms", content=SMS), jzyyun(sim), db=db,
         campaign="c", progress=False)  # fmt: skip
    assert shown[0] == {"total": 5, "unit": "号码", "disable": None, "updates": [2, 2, 1]}
    assert shown[1]["disable"] is True
    assert shown[1]["total"] == 2


def test_credentials_never_reach_the_store_or_the_logs(sim, db, caplog):
    import base64

    secret = "s3cret-Pa55"
    forms = [secret, base64.b64encode(secret.encode()).decode()]
    client = cp.vendor("jzyyun-sms", username="acct", password=secret, base_url=sim.url,
                       timeout=(1, 0.3), retries=0)  # fmt: skip
    plan = plan_batches(numbers(6), vendor="jzyyun-sms", content=SMS, batch_size=2)
    sim.inject("delay", vendor="jzyyun-sms", operation="send", seconds=0.6)
    sim.inject("http_5xx", vendor="jzyyun-sms", operation="send")
    with caplog.at_level("DEBUG"):
        send(plan, client, db=db, campaign="c", progress=False)
        dead = cp.vendor("jzyyun-sms", username="acct", password=secret,
                         base_url="http://127.0.0.1:9", timeout=(0.3, 0.3), retries=0)  # fmt: skip
        more = plan_batches(numbers(2, start=13900000000), vendor="jzyyun-sms", content=SMS)
        with pytest.raises(cp.VendorUnreachable) as info:
            send(more, dead, db=db, campaign="c", progress=False)
    dump = dump_store(db)
    text = dump + caplog.text + str(info.value) + repr(client) + repr(dead)
    for form in forms:
        assert form not in text
    assert "unknown" in dump  # the faults did land in the store


def test_a_second_sender_on_the_same_campaign_is_refused(sim, db):
    """Two senders at once could each submit a batch: the second gets SendInProgress."""
    import threading

    client = jzyyun(sim, timeout=(2, 10))
    plan = plan_batches(numbers(6), vendor="jzyyun-sms", content=SMS, batch_size=2)
    sim.inject("delay", vendor="jzyyun-sms", operation="send", seconds=4.0)  # holds the lock
    first = threading.Thread(target=send, args=(plan, client),
                             kwargs={"db": db, "campaign": "c", "progress": False})  # fmt: skip
    first.start()
    deadline = time.monotonic() + 10
    while not sim.calls("jzyyun-sms", "send") and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(cp.SendInProgress, match="being sent right now"):
        send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    # another process is refused as well (an OS lock, released if the holder dies)
    child = subprocess.run([sys.executable, "-c", CHILD, sim.url, str(db), SMS],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "SendInProgress" in child.stderr
    first.join(timeout=30)
    assert submitted_phones(sim, "jzyyun-sms") == {p: 1 for p in numbers(6)}
    # a different campaign in the same store is not blocked meanwhile, and once the first
    # sender is done the campaign can be resumed
    assert (send(plan, jzyyun(sim), db=db, campaign="c", progress=False)["state"]
            == "accepted").all()  # fmt: skip


def test_a_plan_with_bigger_calls_than_the_client_takes_is_refused_before_recording(sim, db):
    plan = plan_batches(numbers(6), vendor="veesing-sms", content=SMS)
    small = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url,
                      limits={"max_phones_per_call": 4})  # fmt: skip
    with pytest.raises(cp.InputError, match="calls of 6 numbers but this veesing-sms client"):
        send(plan, small, db=db, campaign="c")
    assert not store_exists(db) or "c" not in [r[0] for r in rows(db,
        "SELECT name FROM campaigns")]  # fmt: skip


def test_opt_outs_that_arrive_before_a_resume_are_not_sent(sim, db):
    plan = plan_batches(numbers(5), vendor="jzyyun-sms", content=SMS, batch_size=2)
    dead = cp.vendor("jzyyun-sms", username="u", password="p", base_url="http://127.0.0.1:9",
                     timeout=(0.3, 1), retries=0)  # fmt: skip
    with pytest.raises(cp.VendorUnreachable):
        send(plan, dead, db=db, campaign="c", progress=False)
    with connect(db) as store, store.transaction():
        for phone in ["13800000001", "13800000004"]:  # 退订 overnight
            store.execute("INSERT INTO replies (vendor, phone, content, opt_out, ingested_at)"
                          " VALUES ('jzyyun-sms', ?, '退订', 1, 'now')", [phone])  # fmt: skip
    result = send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    assert result["size"].tolist() == [1, 2]  # batch 3 held only 13800000004: gone
    assert set(submitted_phones(sim, "jzyyun-sms")) == {"13800000000", "13800000002",
                                                         "13800000003"}  # fmt: skip
    assert scalar(db, "SELECT SUM(n) FROM recipient_counts") == 3


def test_an_unreadable_answer_is_unknown_not_refused(sim, db):
    client = jzyyun(sim)
    real_send = client.send

    def unreadable(*args, **kwargs):
        real_send(*args, **kwargs)  # it reached the vendor...
        raise cp.PayloadError("jzyyun-sms: answer is not XML")  # ...and we could not read it

    client.send = unreadable
    plan = plan_batches(numbers(2), vendor="jzyyun-sms", content=SMS)
    result = send(plan, client, db=db, campaign="c", progress=False)
    assert result["state"].tolist() == ["unknown"]
    assert "PayloadError" in result["message"].iloc[0]


def test_a_bug_in_the_client_stops_the_send_and_leaves_the_batch_unknown(sim, db):
    client = jzyyun(sim)

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    client.send = broken
    plan = plan_batches(numbers(4), vendor="jzyyun-sms", content=SMS, batch_size=2)
    with pytest.raises(RuntimeError, match="bug"):
        send(plan, client, db=db, campaign="c", progress=False)
    assert states(db) == {1: "unknown", 2: "planned"}


def test_unreachable_with_concurrent_calls(sim, db):
    plan = plan_batches(numbers(12), vendor="ihuyi-voice", content="1234")
    dead = cp.vendor("ihuyi-voice", account="a", api_key="k", base_url="http://127.0.0.1:9",
                     timeout=(0.3, 1), retries=0)  # fmt: skip
    with pytest.raises(cp.VendorUnreachable, match="still planned"):
        send(plan, dead, db=db, campaign="v", concurrency=4, progress=False)
    batches = cp.campaign_batches(db, "v")
    assert set(batches["state"]) == {"planned"}
    assert (batches["attempts"] == 0).all()  # nothing was sent: nothing counted as sent
    assert batches["submitted_at"].isna().all()


def test_a_different_send_at_for_a_started_campaign_is_refused(sim, db):
    later = dt.datetime.now(cp.store.SHANGHAI) + dt.timedelta(hours=2)
    client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
    plan = plan_batches(numbers(2), vendor="veesing-sms", content=SMS, send_at=later)
    send(plan, client, db=db, campaign="c", progress=False)
    moved = plan_batches(numbers(3), vendor="veesing-sms", content=SMS,
                         send_at=later + dt.timedelta(hours=1))  # fmt: skip
    with pytest.raises(cp.InputError, match=r"was scheduled for .* this plan for"):
        send(moved, client, db=db, campaign="c", progress=False)


def test_two_processes_opening_a_new_store_at_once(tmp_path):
    """SQLite only: about creating a new SQLite file (open_db) and its PRAGMA user_version."""
    import threading

    from campaign.store import open_db

    path = tmp_path / "new.db"
    barrier = threading.Barrier(4)
    errors = []

    def opener():
        barrier.wait()
        try:
            open_db(path)
        except Exception as exc:  # any failure is the bug
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    version = sqlite_utils.Database(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_an_opted_out_number_that_already_has_a_receipt_stays(sim, db):
    """Only numbers never sent leave a batch: a recipient with a receipt is history."""
    plan = plan_batches(numbers(2), vendor="jzyyun-sms", content=SMS)
    client = jzyyun(sim)
    send(plan, client, db=db, campaign="c", progress=False)
    with connect(db) as store, store.transaction():
        store.execute("UPDATE batches SET state = 'rejected'")  # say the vendor refused it...
        store.execute(
            "INSERT INTO receipts (vendor, phone, status, ingested_at) VALUES ('jzyyun-sms',"
            " '13800000000', 'delivered', 'now')"
        )
        store.execute(
            "INSERT INTO deliveries (campaign, phone, batch, vendor, status, receipt_id)"
            " VALUES ('c', '13800000000', 1, 'jzyyun-sms', 'delivered', 1)"
        )  # ...yet a receipt came for one number
        store.execute("INSERT INTO replies (vendor, phone, content, opt_out, ingested_at)"
                      " VALUES ('jzyyun-sms', '13800000000', 'TD', 1, 'now')")  # fmt: skip
    result = send(plan, client, db=db, campaign="c", resend_rejected=True, progress=False)
    assert result["state"].tolist() == ["accepted"]
    assert scalar(db, "SELECT COUNT(*) FROM recipients") == 2


def test_campaign_batches_names_what_is_wrong_and_creates_nothing(sim, db, tmp_path):
    send(plan_batches(numbers(2), vendor="jzyyun-sms", content=SMS), jzyyun(sim), db=db,
         campaign="c", progress=False)  # fmt: skip
    assert cp.campaign_batches(db, "c")["state"].tolist() == ["accepted"]
    with pytest.raises(cp.InputError, match="no campaign 'C' in this store; it has: c"):
        cp.campaign_batches(db, "C")
    typo = tmp_path / "campain.db"
    with pytest.raises(cp.InputError, match="no store at"):
        cp.campaign_batches(typo, "c")
    assert not typo.exists()


# --------------------------------------------------------------------------- holdouts


def test_a_holdout_is_recorded_never_sent_and_never_counted(sim, db):
    contacts = cp.load_phones([f"138{i:08d}" for i in range(1000)])
    plan = plan_batches(contacts, vendor="jzyyun-sms", content=SMS, holdout=0.1, seed=5)
    assert len(plan.held_out) == 100
    assert plan.numbers == 900
    assert "held out 100: never sent" in repr(plan)
    again = plan_batches(contacts, vendor="jzyyun-sms", content=SMS, holdout=0.1, seed=5)
    assert again.held_out["phone"].tolist() == plan.held_out["phone"].tolist()
    assert not set(plan.held_out["phone"]) & set(plan.recipients["phone"])

    send(plan, jzyyun(sim), db=db, campaign="d11", progress=False)
    reached = submitted_phones(sim, "jzyyun-sms")
    assert len(reached) == 900
    assert not set(plan.held_out["phone"]) & set(reached)
    held = rows(db, "SELECT state, COUNT(*), SUM(size), SUM(messages) FROM batches"
                    " WHERE state = 'held_out' GROUP BY state")  # fmt: skip
    assert held == [("held_out", 1, 100, 0)]
    assert scalar(db, "SELECT COUNT(*) FROM recipients WHERE campaign = 'd11'") == 1000
    assert cp.delivery_stats(db, campaign="d11").loc[0, "submitted"] == 900

    # planned again for the same campaign: everyone is in it already, the holdout included
    later = plan_batches(contacts, vendor="jzyyun-sms", content=SMS, db=db, campaign="d11",
                         holdout=0.1, seed=5)  # fmt: skip
    assert later.numbers == 0
    assert len(later.held_out) == 0
    assert later.skip_counts().to_dict() == {"already in this campaign": 1000}


def test_rows_marked_held_out_are_the_holdout(sim, db):
    contacts = cp.load_phones(["13800000000", "13800000001", "13800000002", "x"])
    contacts["held_out"] = [False, True, False, True]  # the invalid row stays skipped
    plan = plan_batches(contacts, vendor="jzyyun-sms", content=SMS)
    assert plan.held_out["phone"].tolist() == ["13800000001"]
    assert "held_out" not in plan.held_out.columns
    assert plan.recipients["phone"].tolist() == ["13800000000", "13800000002"]
    send(plan, jzyyun(sim), db=db, campaign="c", progress=False)
    assert set(submitted_phones(sim, "jzyyun-sms")) == {"13800000000", "13800000002"}
    assert states(db) == {1: "accepted", 2: "held_out"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"holdout": 1.5}, "holdout must be a share between 0 and 1"),
        ({"holdout": True}, "holdout must be a share between 0 and 1"),
        ({"seed": 3}, "seed= goes with holdout="),
    ],
)
def test_holdout_errors_say_what_to_give(options, message):
    contacts = cp.load_phones(["13800000000", "13800000001"])
    with pytest.raises(cp.InputError, match=message):
        plan_batches(contacts, vendor="jzyyun-sms", content=SMS, **options)


def test_the_report_shows_the_holdout(sim, db, tmp_path):
    contacts = cp.load_phones([f"138{i:08d}" for i in range(200)])
    plan = plan_batches(contacts, vendor="jzyyun-sms", content=SMS, holdout=0.1, seed=1)
    send(plan, jzyyun(sim), db=db, campaign="d11", progress=False)
    page = cp.report(db, campaign="d11", path=tmp_path / "d11.html").read_text("utf-8")
    assert '<div class="label">held out</div><div class="value">20</div>' in page
