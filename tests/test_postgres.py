"""PostgreSQL as the team's store: the same tables and numbers as SQLite, on a real server.

The server is the one ``$CAMPAIGN_TEST_POSTGRES`` names, else one the suite starts from the
``pgserver`` wheel (see ``conftest.py``); every test gets a database of its own.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import requests
from click.testing import CliRunner

import campaign as cp
import campaign.stats as st
from campaign.cli import main
from campaign.store import connect, describe, schema

SMS = "【云通信】双11会员专享,全场五折,回T退订"


def columns(store, table):
    if store.engine.name == "sqlite":
        return [r[1] for r in store.rows(f"PRAGMA table_info({table})")]
    return [
        name
        for (name,) in store.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position",
            [table],
        )
    ]


def test_a_postgres_store_has_the_tables_and_columns_of_a_sqlite_one(postgres_db, tmp_path):
    with connect(postgres_db) as pg, connect(tmp_path / "campaign.db") as lite:
        assert pg.scalar("SELECT MAX(version) FROM campaign_schema") == schema.SCHEMA_VERSION
        tables = [t for (t,) in lite.rows("SELECT name FROM sqlite_master WHERE type='table'")]
        assert len(tables) == 19  # profiles, profile_recipients, profile_counts: schema 10
        for table in tables:
            expected = columns(lite, table)
            got = [c for c in columns(pg, table) if not (table == "batches" and c == "id")]
            assert got == expected, table
    with connect(postgres_db) as again:  # opening again migrates nothing
        assert again.scalar("SELECT COUNT(*) FROM campaign_schema") == 1


def every_statistic(db):
    """Every statistics table of every campaign of the demo store, by several groupings."""
    frames = {}
    campaigns = ["double11-A", "double11-B", "vip-jzyyun", "voice-notice"]
    for name in campaigns:
        for by in (None, "carrier", "province", "send_hour", "batch", "会员等级"):
            if by == "会员等级" and name == "voice-notice":
                continue
            frames[("delivery", name, by)] = st.delivery_stats(db, campaign=name, by=by)
            frames[("latency", name, by)] = st.latency_stats(db, campaign=name, by=by)
        frames[("reasons", name)] = st.failure_reasons(db, campaign=name)
        frames[("replies", name)] = st.reply_stats(db, campaign=name, by="carrier")
        frames[("hours", name)] = st.replies_by_hour(db, campaign=name)
        frames[("curve", name)] = st.delivery_curve(db, campaign=name, by="carrier")
        frames[("latency_hist", name)] = st.latency_distribution(db, campaign=name)
    frames["voice"] = st.voice_stats(db, campaign="voice-notice", by="carrier")
    frames["talk"] = st.talk_time_distribution(db, campaign="voice-notice")
    frames["all"] = st.delivery_stats(db, by=["campaign", "carrier"])
    frames["compare"] = st.compare(db, "double11-A", "double11-B")
    frames["unlinked"] = st.unlinked_receipts(db)
    return frames


def test_a_version_2_database_is_migrated_to_the_new_batch_states(postgres_db, monkeypatch):
    import psycopg

    from campaign.store import postgres_schema

    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:2])
    with connect(postgres_db) as old, old.transaction():
        old.execute("INSERT INTO campaigns (name, vendor, channel, created_at)"
                    " VALUES ('c', 'v', 'sms', 't')")  # fmt: skip
        old.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                    " VALUES ('c', 1, 'v', 1, 'accepted')")  # fmt: skip
    with pytest.raises(psycopg.errors.CheckViolation), connect(postgres_db) as old:
        old.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                    " VALUES ('c', 2, 'v', 1, 'held_out')")  # fmt: skip
    monkeypatch.undo()
    with connect(postgres_db) as store:
        assert store.scalar("SELECT MAX(version) FROM campaign_schema") == schema.SCHEMA_VERSION
        for batch, state in ((2, "held_out"), (3, "expired")):
            store.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                          " VALUES ('c', ?, 'v', 1, ?)", [batch, state])  # fmt: skip
        assert store.rows("SELECT batch, state FROM batches ORDER BY batch") == [
            (1, "accepted"), (2, "held_out"), (3, "expired"),
        ]  # fmt: skip
        with pytest.raises(psycopg.errors.CheckViolation):
            store.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                          " VALUES ('c', 9, 'v', 1, 'sent')")  # fmt: skip


def test_a_version_7_database_is_migrated_to_record_campaign_expiries(postgres_db, monkeypatch):
    import psycopg

    from campaign.store import postgres_schema

    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:7])
    with connect(postgres_db) as old, old.transaction():
        old.execute("INSERT INTO campaigns (name, vendor, channel, created_at)"
                    " VALUES ('c', 'v', 'sms', 't')")  # fmt: skip
    with pytest.raises(psycopg.errors.UndefinedColumn), connect(postgres_db) as old:
        old.execute("SELECT expires_at FROM campaigns")
    monkeypatch.undo()
    with connect(postgres_db) as store:
        assert store.scalar("SELECT MAX(version) FROM campaign_schema") == schema.SCHEMA_VERSION
        assert store.rows("SELECT name, expires_at FROM campaigns") == [("c", None)]
        store.execute("UPDATE campaigns SET expires_at = '2026-11-11T23:00:00+08:00'")
        assert store.scalar("SELECT expires_at FROM campaigns") == "2026-11-11T23:00:00+08:00"


def test_a_version_10_database_gets_roll_up_functions_that_group_first(postgres_db, monkeypatch):
    from campaign.store import batches, postgres_schema
    from tests.stats_fixtures import rollups_counted, rollups_recounted

    adders = ("deliveries_counted_in", "deliveries_counted_moved", "deliveries_timed_in",
              "deliveries_timed_moved", "deliveries_profiled_in", "deliveries_profiled_moved",
              "batches_retimed")  # fmt: skip
    bodies = "SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(?)"
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:10])
    with connect(postgres_db) as old:
        before = dict(old.rows(bodies, [list(adders)]))
    assert "MATERIALIZED" not in before["deliveries_counted_in"]  # sorts every new row
    monkeypatch.undo()
    phones = [f"1380000000{i}" for i in range(4)]
    with connect(postgres_db) as store:
        assert store.scalar("SELECT MAX(version) FROM campaign_schema") == schema.SCHEMA_VERSION
        after = dict(store.rows(bodies, [list(adders)]))
        assert sorted(after) == sorted(adders)
        assert all("AS MATERIALIZED" in body for body in after.values())
        with store.transaction():
            batches.record_campaign(store, "c", vendor="veesing-sms", channel="sms",
                                    content="hi", template_id=None, variables=None,
                                    send_at=None)  # fmt: skip
            batches.record_plan(store, "c", pd.DataFrame({"phone": phones, "carrier": "中国移动",
                                "province": "广东", "city": None}), vendor="veesing-sms",
                                batch_size=4, segments=1)  # fmt: skip
            store.execute("UPDATE batches SET state = 'accepted', task_id = 'T1',"
                          " submitted_at = '2024-11-11T20:00:00+08:00'")  # fmt: skip
    first = [{"mobile": p, "taskid": "T1", "status": "0", "code": "UNDELIV",
              "receivetime": "2024-11-11 20:00:07"} for p in phones]  # fmt: skip
    later = [{**f, "status": "1", "code": "DELIVRD", "receivetime": "2024-11-11 20:01:00"}
             for f in first[:2]]  # fmt: skip
    for forms in (first, later):  # new deliveries, then two of them moving on
        assert cp.ingest_receipts(postgres_db, forms, vendor="veesing-sms").inserted == len(forms)
        assert rollups_counted(postgres_db) == rollups_recounted(postgres_db)
    with connect(postgres_db) as store:
        assert store.rows("SELECT status, n FROM delivery_counts ORDER BY status") == [
            ("delivered", 2), ("failed", 2),
        ]  # fmt: skip


def test_copy_to_postgres_and_back_gives_identical_statistics(demo_store, postgres_db, tmp_path):
    copied = cp.copy_store(demo_store, postgres_db, progress=False)
    assert (copied["copied"] == copied["rows"]).all(), copied
    assert cp.copy_store(demo_store, postgres_db, progress=False)["copied"].sum() == 0
    back = tmp_path / "back.db"
    cp.copy_store(postgres_db, back, progress=False)
    lite, pg, again = (
        every_statistic(demo_store),
        every_statistic(postgres_db),
        every_statistic(back),
    )
    for key, frame in lite.items():
        pd.testing.assert_frame_equal(pg[key], frame, obj=f"postgres {key}")
        pd.testing.assert_frame_equal(again[key], frame, obj=f"back in sqlite {key}")
    with connect(postgres_db) as store:  # the roll-ups were rebuilt by the triggers, exactly
        counts = store.rows(
            "SELECT campaign, status, SUM(n) FROM delivery_counts GROUP BY 1, 2 ORDER BY 1, 2"
        )
        direct = store.rows(
            "SELECT campaign, status, COUNT(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2"
        )
    assert counts == direct


def test_a_whole_campaign_on_postgres_pushed_and_pulled(postgres_db):
    phones = [str(13800000000 + i) for i in range(300)]
    with (
        cp.receiver.serve(postgres_db, port=0) as inbox,
        cp.simulator.serve(seed=3, push_to=inbox.url, time_scale=3600) as sim,
    ):
        sms = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
        plan = cp.plan_batches(phones, vendor=sms, content=SMS, db=postgres_db,
                               campaign="pushed", batch_size=100)  # fmt: skip
        sent = cp.send(plan, sms, db=postgres_db, campaign="pushed", progress=False)
        assert sent["state"].tolist() == ["accepted"] * 3
        again = cp.send(plan, sms, db=postgres_db, campaign="pushed", progress=False)
        assert again.equals(sent)  # resumed: nothing sent twice
        jz = cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url)
        plan = cp.plan_batches(phones, vendor=jz, content=SMS, db=postgres_db,
                               campaign="pulled")  # fmt: skip
        cp.send(plan, jz, db=postgres_db, campaign="pulled", progress=False)
        sim.flush()
        pulled = cp.pull_reports(jz, postgres_db)
        assert pulled.inserted == 300
        assert cp.pull_reports(jz, postgres_db).inserted == 0
    stats = cp.delivery_stats(postgres_db, by="campaign").set_index("campaign")
    assert stats.loc["pushed", "submitted"] == stats.loc["pulled", "submitted"] == 300
    with connect(postgres_db) as store:  # every acknowledged push is stored, once
        pushed = store.scalar("SELECT COUNT(*) FROM receipts WHERE campaign = 'pushed'")
        replies = store.scalar("SELECT COUNT(*) FROM replies WHERE vendor = 'veesing-sms'")
    assert pushed + replies == inbox.acknowledged
    assert pushed > 250
    reported = stats.loc["pushed", ["delivered", "failed", "unknown"]].sum()
    assert reported == pushed  # one receipt per number: each counted once
    assert stats.loc["pulled", "pending"] == 0


def test_ingest_is_idempotent_and_the_latest_receipt_wins_on_postgres(postgres_db):
    phones = ["13800000000", "13800000001"]
    with cp.simulator.serve(seed=1) as sim:
        client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
        plan = cp.plan_batches(phones, vendor=client, content=SMS, db=postgres_db, campaign="c")
        task = cp.send(plan, client, db=postgres_db, campaign="c", progress=False)["task_id"][0]
    forms = [
        {"mobile": phones[0], "taskid": task, "status": "0", "code": "MK:0001",
         "receivetime": "2024-11-11 20:00:00"},
        {"mobile": phones[0], "taskid": task, "status": "1", "code": "DELIVRD",
         "receivetime": "2024-11-11 20:05:00"},  # later: wins, in the same ingest
        {"mobile": phones[1], "taskid": task, "status": "1", "code": "DELIVRD",
         "receivetime": "2024-11-11 20:05:00"},
    ]  # fmt: skip
    assert cp.ingest_receipts(postgres_db, forms, vendor="veesing-sms").inserted == 3
    assert cp.ingest_receipts(postgres_db, forms, vendor="veesing-sms").duplicates == 3
    older = [{**forms[1], "status": "0", "code": "UNDELIV", "receivetime": "2024-11-11 19:00:00"}]
    cp.ingest_receipts(postgres_db, older, vendor="veesing-sms")  # older: changes nothing
    stats = cp.delivery_stats(postgres_db, campaign="c")
    assert stats[["submitted", "delivered", "failed"]].iloc[0].tolist() == [2, 2, 0]


def test_a_second_sender_anywhere_gets_send_in_progress(postgres_db):
    plan = cp.plan_batches(["13800000000"], vendor="jzyyun-sms", content=SMS)
    client = cp.vendor("jzyyun-sms", username="u", password="p", base_url="http://127.0.0.1:9")
    holder = connect(postgres_db)
    taken, release = threading.Event(), threading.Event()

    def hold():
        with holder.send_lock("c"):  # another process's send, as the server sees it
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(10)
        with pytest.raises(cp.SendInProgress, match="being sent right now"):
            cp.send(plan, client, db=postgres_db, campaign="c", progress=False)
    finally:
        release.set()
        thread.join()
        holder.close()


def test_clear_errors_name_the_store_and_never_the_password(postgres_server, postgres_db):
    with pytest.raises(
        cp.StoreUnavailable, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:9"
    ) as e:
        connect("postgresql://ana:s3cret@127.0.0.1:9/campaigns")
    assert "s3cret" not in str(e.value)
    assert "ana:***@127.0.0.1:9" in str(e.value)
    missing = postgres_db.replace("campaign_test_", "nothing_here_")
    with pytest.raises(cp.StoreUnavailable, match="has no database 'nothing_here_"):
        connect(missing)
    with pytest.raises(cp.ConfigError, match="neither a path nor a PostgreSQL URL"):
        connect("mysql://ana:s3cret@localhost/campaigns")
    with pytest.raises(cp.ConfigError, match="connect"):
        cp.open_db(postgres_db)
    assert "s3cret" not in describe("postgresql://ana:s3cret@db:5432/x")
    with connect(postgres_db) as store:
        assert "***" in repr(store) or "@" not in repr(store)
        store.execute("UPDATE campaign_schema SET version = ?", [schema.SCHEMA_VERSION + 1])
    with pytest.raises(cp.ConfigError, match="newer than this campaign"):
        connect(postgres_db)


def test_campaign_db_names_the_store_for_the_cli_and_connect(postgres_db, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_DB", postgres_db)
    with connect() as store:
        assert store.engine.name == "postgresql"
    phones = [str(13800000000 + i) for i in range(5)]
    with cp.simulator.serve(seed=1) as sim:
        client = cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url)
        plan = cp.plan_batches(phones, vendor=client, content=SMS)
        cp.send(plan, client, db=postgres_db, campaign="env", progress=False)
    result = CliRunner().invoke(main, ["stats", "--by", "campaign"])
    assert result.exit_code == 0, result.output
    assert "env" in result.output


def test_campaign_copy_moves_a_store_and_says_what_it_did(demo_store, postgres_db, tmp_path):
    result = CliRunner().invoke(main, ["copy", str(demo_store), postgres_db])
    assert result.exit_code == 0, result.output
    assert "receipts" in result.output
    assert describe(postgres_db) in result.output  # the URL as shown: any password masked
    secret = urllib.parse.urlsplit(postgres_db).password
    assert not secret or secret not in result.output
    again = CliRunner().invoke(main, ["copy", str(demo_store), postgres_db])
    assert again.exit_code == 0
    assert "nothing new" in again.output
    lite = sqlite3.connect(demo_store).execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    with connect(postgres_db) as store:
        assert store.scalar("SELECT COUNT(*) FROM receipts") == lite


def _free_ports(n: int) -> list[int]:
    """``n`` different free ports (the sockets held open together, so no port comes twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


_RECEIVER = "import sys, campaign.receiver as r; r.run(sys.argv[1], port=int(sys.argv[2]))"
_SENDER = """
import sys, campaign as cp
db, url = sys.argv[1], sys.argv[2]
phones = [str(13800000000 + i) for i in range(2000)]
client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=url)
text = "【云通信】双11会员专享,回T退订"
plan = cp.plan_batches(phones, vendor=client, content=text, batch_size=50)
try:
    cp.send(plan, client, db=db, campaign="shared", progress=False, window=False)  # any hour
    print("sent")
except cp.SendInProgress:
    print("refused")
"""


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"receiver at {url} never answered")


def test_two_receivers_and_two_senders_share_one_postgres(postgres_db):
    """Two receiver processes and two send processes on one database: no number submitted
    twice, every acknowledged push stored once."""
    ports = _free_ports(2)
    receivers = [_start(_RECEIVER, postgres_db, str(p)) for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url, proc in zip(urls, receivers, strict=True):
            _wait_healthy(url, proc)
        with cp.simulator.serve(seed=4) as sim:
            senders = [_start(_SENDER, postgres_db, sim.url) for _ in range(2)]
            said = [s.communicate(timeout=120)[0].strip().splitlines()[-1] for s in senders]
            assert sorted(said) in (["refused", "sent"], ["sent", "sent"]), said
            counts = collections.Counter()
            for record in sim.calls("veesing-sms", "send", processed=True):
                text = record.params.get("mobile") or record.params.get("phone") or ""
                counts.update(p for p in text.split(",") if p)
        assert len(counts) == 2000
        assert max(counts.values()) == 1  # no number submitted twice
        batches = cp.campaign_batches(postgres_db, "shared")
        assert (batches["state"] == "accepted").all()
        tasks = batches["task_id"].tolist()

        def push(i: int) -> int:
            form = {"mobile": str(13800000000 + i), "taskid": tasks[i // 50], "status": "1",
                    "code": "DELIVRD", "receivetime": "2024-11-11 20:00:00"}  # fmt: skip
            url = urls[i % 2] + "/push/veesing-sms"
            return requests.post(url, data=form, timeout=30).status_code

        with ThreadPoolExecutor(16) as pool:  # 2,000 pushes, half to each receiver
            answers = list(pool.map(push, range(2000)))
        assert answers.count(200) == 2000
        stats = cp.delivery_stats(postgres_db, campaign="shared")
        assert stats[["submitted", "delivered", "pending"]].iloc[0].tolist() == [2000, 2000, 0]
        with connect(postgres_db) as store:
            assert store.scalar("SELECT COUNT(*) FROM receipts") == 2000
    finally:
        for proc in receivers:
            proc.send_signal(signal.SIGTERM)
        for proc in receivers:
            code = proc.wait(timeout=30)
            assert code == 0, proc.stdout.read()  # SIGTERM: answer what is in flight, exit 0


def test_a_refused_login_says_how_to_give_the_password(postgres_server, postgres_db):
    """A real refusal: a role with a password, and a pg_hba.conf rule that asks for it."""
    import psycopg

    role = "ana_" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        hba = Path(admin.execute("SHOW hba_file").fetchone()[0])
        if not hba.is_file() or not os.access(hba, os.W_OK):
            pytest.skip(f"the test server's {hba} is not writable from here")
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right-one'")
        before = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\nhost all {role} all scram-sha-256\n"
                       + before)  # fmt: skip
        admin.execute("SELECT pg_reload_conf()")
    try:
        parts = urllib.parse.urlsplit(postgres_db)
        host = parts.netloc.rsplit("@", 1)[-1]
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"{role}:wrong-one@{host}"))
        with pytest.raises(cp.StoreUnavailable, match=f"refused the login of user '{role}'") as e:
            connect(url)
        assert "wrong-one" not in str(e.value)
        assert "PGPASSWORD or ~/.pgpass" in str(e.value)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            hba.write_text(before)
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(f"DROP ROLE IF EXISTS {role}")
