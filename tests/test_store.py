"""The store: tables, keys and migrations, on real SQLite files."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

import campaign as cp
from campaign import store


def test_creates_every_table_with_wal_and_foreign_keys(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    assert set(db.table_names()) >= {
        "campaigns",
        "batches",
        "recipients",
        "receipts",
        "replies",
        "rejected",
    }
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert db["batches"].pks == ["campaign", "batch"]
    assert db["recipients"].pks == ["campaign", "phone"]


def test_opening_again_keeps_the_data(tmp_path):
    path = tmp_path / "campaign.db"
    db = store.open_db(path)
    db["campaigns"].insert(
        {"name": "c", "vendor": "jzyyun-sms", "channel": "sms", "created_at": store.now()}
    )
    db.conn.commit()
    db.close()
    assert store.open_db(str(path))["campaigns"].count == 1


def test_accepts_an_open_database(tmp_path):
    opened = sqlite_utils.Database(tmp_path / "x.db")
    assert store.open_db(opened) is opened
    assert "receipts" in opened.table_names()


def test_foreign_keys_are_enforced(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO batches (campaign, batch, vendor, size) VALUES ('nope', 1, 'v', 1)")


def test_batch_state_is_checked(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    db.execute(
        "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES ('c','v','sms','t')"
    )
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO batches (campaign, batch, vendor, size, state) VALUES ('c',1,'v',1,'sent')"
        )


def test_receipts_and_replies_are_stored_once_even_with_missing_fields(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    row = {
        "vendor": "veesing-sms",
        "task_id": None,
        "phone": "13800138000",
        "status": "delivered",
        "code": None,
        "received_at": None,
        "ingested_at": store.now(),
    }
    for _ in range(2):
        db.execute(
            "INSERT OR IGNORE INTO receipts (vendor, task_id, phone, status, code, received_at,"
            " ingested_at) VALUES (:vendor, :task_id, :phone, :status, :code, :received_at,"
            " :ingested_at)",
            row,
        )
    assert db["receipts"].count == 1


def test_a_newer_file_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "campaign.db"
    store.open_db(path).execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    with pytest.raises(cp.ConfigError, match="newer than this campaign"):
        store.open_db(path)


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "campaign.db"
    store.open_db(path)

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk on fire")

    # the migrations live in store.schema; the package re-exports them
    for where in (store, store.schema):
        monkeypatch.setattr(where, "MIGRATIONS", [*store.schema.MIGRATIONS, broken])
        monkeypatch.setattr(where, "SCHEMA_VERSION", len(where.MIGRATIONS))
    with pytest.raises(RuntimeError):
        store.open_db(path)
    db = sqlite_utils.Database(path)
    assert "half_done" not in db.table_names()
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS) - 1


def test_a_version_2_file_is_migrated_to_batch_states_it_did_not_allow(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    for where in (store, store.schema):
        monkeypatch.setattr(where, "MIGRATIONS", store.schema.MIGRATIONS[:2])
        monkeypatch.setattr(where, "SCHEMA_VERSION", 2)
    old = store.open_db(path)
    with old.conn as c:
        c.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES ('c','v','sms','t')"
        )
        c.execute("INSERT INTO batches (campaign, batch, vendor, size, state, task_id)"
                  " VALUES ('c', 1, 'v', 2, 'accepted', 'T1')")  # fmt: skip
        c.execute(
            "INSERT INTO recipients (campaign, phone, batch) VALUES ('c', '1', 1), ('c', '2', 1)"
        )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            c.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                      " VALUES ('c', 2, 'v', 1, 'held_out')")  # fmt: skip
    old.close()
    monkeypatch.undo()
    db = store.open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert db.execute("SELECT batch, state, task_id FROM batches").fetchall() == [
        (1, "accepted", "T1")
    ]
    assert db.execute("SELECT COUNT(*) FROM recipients").fetchone()[0] == 2
    with db.conn as c:
        for batch, state in ((2, "held_out"), (3, "expired")):
            c.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                      " VALUES ('c', ?, 'v', 1, ?)", [batch, state])  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"), db.conn as c:
        c.execute("INSERT INTO batches (campaign, batch, vendor, size, state)"
                  " VALUES ('c', 9, 'v', 1, 'sent')")  # fmt: skip
    # the references still hold, and are still enforced
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), db.conn as c:
        c.execute("INSERT INTO recipients (campaign, phone, batch) VALUES ('c', '3', 99)")
    assert "batches_by_task" in {i.name for i in db["batches"].indexes}


def test_bad_db_arguments(tmp_path):
    with pytest.raises(cp.ConfigError, match="is a folder"):
        store.open_db(tmp_path)
    with pytest.raises(cp.ConfigError, match="must be a path"):
        store.open_db(42)


def test_now_is_shanghai_time():
    assert store.now().endswith("+08:00")


def test_counts_follow_deliveries_through_triggers(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    with db.conn as c:
        c.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES ('c','v','sms','t')"
        )
        c.execute("INSERT INTO batches (campaign, batch, vendor, size) VALUES ('c', 1, 'v', 2)")
        c.execute("INSERT INTO recipients (campaign, phone, batch, carrier) VALUES"
                  " ('c', '1', 1, '中国移动'), ('c', '2', 1, NULL)")  # fmt: skip
        c.execute("INSERT INTO deliveries (campaign, phone, batch, vendor, status, carrier,"
                  " receipt_id) VALUES ('c', '1', 1, 'v', 'unknown', '中国移动', 1),"
                  " ('c', '2', 1, 'v', 'failed', NULL, 2)")  # fmt: skip
        c.execute("UPDATE deliveries SET status = 'delivered' WHERE phone = '1'")
        c.execute("UPDATE deliveries SET received_at = 'later' WHERE phone = '1'")
    counts = db.execute(
        "SELECT carrier, status, n FROM delivery_counts WHERE n > 0 ORDER BY carrier"
    ).fetchall()
    assert counts == [("", "failed", 1), ("中国移动", "delivered", 1)]


def test_counts_follow_any_change_of_group_and_deletes(tmp_path):
    db = store.open_db(tmp_path / "campaign.db")
    with db.conn as c:
        c.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES ('c','v','sms','t')"
        )
        c.execute("INSERT INTO batches (campaign, batch, vendor, size) VALUES ('c', 1, 'v', 2)")
        c.execute(
            "INSERT INTO recipients (campaign, phone, batch) VALUES ('c', '1', 1), ('c', '2', 1)"
        )
        c.execute(
            "INSERT INTO deliveries (campaign, phone, batch, vendor, status, receipt_id)"
            " VALUES ('c', '1', 1, 'v', 'delivered', 1), ('c', '2', 1, 'v', 'failed', 2)"
        )
        c.execute("UPDATE deliveries SET carrier = '中国移动' WHERE phone = '1'")  # same status
        c.execute("DELETE FROM deliveries WHERE phone = '2'")
    counts = db.execute(
        "SELECT carrier, status, n FROM delivery_counts WHERE n != 0 ORDER BY carrier"
    ).fetchall()
    grouped = db.execute(
        "SELECT COALESCE(carrier, ''), status, COUNT(*) FROM deliveries GROUP BY 1, 2"
    ).fetchall()
    assert counts == grouped == [("中国移动", "delivered", 1)]


def test_statement_splitting_keeps_triggers_whole():
    statements = store._statements(store._V2)
    triggers = [s for s in statements if s.startswith("CREATE TRIGGER")]
    assert len(triggers) == 3
    assert all(t.endswith("END") for t in triggers)


def test_a_version_7_file_is_migrated_to_record_campaign_expiries(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    for where in (store, store.schema):
        monkeypatch.setattr(where, "MIGRATIONS", store.schema.MIGRATIONS[:7])
        monkeypatch.setattr(where, "SCHEMA_VERSION", 7)
    old = store.open_db(path)
    with old.conn as c:
        c.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES ('c','v','sms','t')"
        )
        with pytest.raises(sqlite3.OperationalError, match="expires_at"):
            c.execute("SELECT expires_at FROM campaigns")
    old.close()
    monkeypatch.undo()
    db = store.open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION >= 8
    assert db.execute("SELECT name, expires_at FROM campaigns").fetchall() == [("c", None)]
    with db.conn as c:
        c.execute("UPDATE campaigns SET expires_at = '2026-11-11T23:00:00+08:00'")
    assert db.execute("SELECT expires_at FROM campaigns").fetchone()[0].startswith("2026-11-11")


def test_a_version_1_file_is_migrated(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    for where in (store, store.schema):
        monkeypatch.setattr(where, "MIGRATIONS", store.schema.MIGRATIONS[:1])
        monkeypatch.setattr(where, "SCHEMA_VERSION", 1)
    old = store.open_db(path)
    with old.conn as c:
        c.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES ('c','v','sms','t')"
        )
        c.execute("INSERT INTO batches (campaign, batch, vendor, size) VALUES ('c', 1, 'v', 2)")
        c.execute("INSERT INTO recipients (campaign, phone, batch, carrier) VALUES"
                  " ('c', '1', 1, '中国移动'), ('c', '2', 1, '中国移动')")  # fmt: skip
    old.close()
    monkeypatch.undo()
    db = store.open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert db.execute("SELECT carrier, n FROM recipient_counts").fetchall() == [("中国移动", 2)]
    assert "matched" in db["receipts"].columns_dict


def test_a_holdout_is_recorded_never_claimed_and_never_submitted(store_url):
    import pandas as pd

    from campaign.store import batches, connect

    frame = pd.DataFrame(
        {"phone": ["13800000000", "13800000001", "13800000002"], "carrier": "中国移动",
         "province": "广东", "city": None}
    )  # fmt: skip
    with connect(store_url) as s, s.transaction():
        batches.record_campaign(s, "c", vendor="veesing-sms", channel="sms", content="hi",
                                template_id=None, variables=None, send_at=None)  # fmt: skip
        sent = batches.record_plan(s, "c", frame[:2], vendor="veesing-sms", batch_size=1,
                                   segments=1)  # fmt: skip
        held = batches.record_plan(s, "c", frame[2:], vendor="veesing-sms", batch_size=1,
                                   segments=1, held_out=True)  # fmt: skip
        assert sent == {1: ["13800000000"], 2: ["13800000001"]}
        assert held == {}
        assert s.rows("SELECT batch, size, messages, state FROM batches ORDER BY batch") == [
            (1, 1, 1, "planned"), (2, 1, 1, "planned"), (3, 1, 0, "held_out"),
        ]  # fmt: skip
        with pytest.raises(ValueError, match="never sent"):
            batches.claim(s, "c", 3, ["planned", "held_out"])
        assert batches.claim(s, "c", 3, ["planned"]) is None
        s.execute("UPDATE batches SET state = 'accepted' WHERE batch IN (1, 2)")
    got = cp.delivery_stats(store_url, campaign="c")
    assert got.loc[0, "submitted"] == 2  # the held-out number is not submitted


@pytest.mark.parametrize("n", [0, 1, 110, 111, 112, 333, 1000])
def test_bulk_insert_keeps_every_row_in_order(store_url, n):
    # SQLite sends 111 rows of 9 values a statement and the rest one by one: every row goes
    # in, in arrival order, whether rows come as a list or as a generator
    from campaign.store import connect

    rows = [(i, *(f"v{i}-{c}" for c in range(8))) for i in range(n)]
    columns = ("seq", *(f"c{c}" for c in range(8)))
    with connect(store_url) as s, s.transaction():
        s.execute(
            f"CREATE TEMP TABLE t (seq INTEGER, {', '.join(c + ' TEXT' for c in columns[1:])})"
        )
        s.bulk_insert("t", columns, rows[: n // 2])
        s.bulk_insert("t", columns, (row for row in rows[n // 2 :]))
        assert s.rows(f"SELECT {', '.join(columns)} FROM t ORDER BY seq") == rows


def test_bulk_insert_refuses_a_row_of_the_wrong_width(tmp_path):
    from campaign.store import connect

    rows = [(i, i) for i in range(600)]
    rows[300] = (300,)  # would shift every later value by one
    with connect(tmp_path / "s.db") as s, s.transaction():
        s.execute("CREATE TEMP TABLE t (a INTEGER, b INTEGER)")
        with pytest.raises(ValueError, match="a row without 2 values"):
            s.bulk_insert("t", ("a", "b"), rows)


def test_a_version_10_store_loses_the_deliveries_reference_and_keeps_its_triggers(
    tmp_path, monkeypatch
):
    from campaign.store import connect
    from tests.stats_fixtures import (
        StoreBuilder,
        at_schema,
        double11,
        rollups_counted,
        rollups_recounted,
    )

    def state(db):
        with connect(db) as s:
            return (
                s.rows("SELECT type, name, sql FROM sqlite_master WHERE type != 'table'"
                       " ORDER BY name"),
                s.rows("SELECT * FROM deliveries ORDER BY campaign, phone"),
                s.rows("SELECT * FROM delivery_counts ORDER BY 1, 2, 3, 4, 5, 6"),
                s.rows("PRAGMA foreign_key_list(deliveries)"),
            )  # fmt: skip

    def counts_hold(db):
        with connect(db) as s:
            counted = s.rows(
                "SELECT campaign, batch, carrier, province, city, status, n"
                " FROM delivery_counts WHERE n != 0 ORDER BY 1, 2, 3, 4, 5, 6"
            )
            grouped = s.rows(
                "SELECT campaign, batch, COALESCE(carrier, ''),"
                " COALESCE(province, ''), COALESCE(city, ''), status, COUNT(*)"
                " FROM deliveries GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
            )
        return counted == grouped and rollups_counted(db) == rollups_recounted(db)  # fmt: skip

    db = tmp_path / "old.db"
    at_schema(monkeypatch, db, 10)
    double11(db)
    kept, deliveries, counts, reference = state(db)
    assert reference  # version 10: deliveries -> recipients
    monkeypatch.undo()
    assert state(db) == (kept, deliveries, counts, [])  # the same rows, index and triggers
    with connect(db) as s:
        assert s.scalar("PRAGMA user_version") == store.SCHEMA_VERSION
        assert s.rows("PRAGMA foreign_key_check") == []
    assert counts_hold(db)
    with StoreBuilder(db) as s:  # the triggers count from then on, the batches' one too
        s.receipt("double11", "13900000010", "failed", "2024-11-11T14:31:00+08:00")
        s.receipt("double11", "13800000001", "failed", "2024-11-11T10:09:00+08:00")
    assert counts_hold(db)
    with connect(db) as s, s.transaction():
        s.execute("UPDATE batches SET submitted_at = '2024-11-11T10:05:00+08:00'"
                  " WHERE campaign = 'double11' AND batch = 1")  # fmt: skip
    assert counts_hold(db)
