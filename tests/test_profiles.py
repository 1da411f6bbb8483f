"""Profiles (schema 10): the distinct rows of a contact list's own columns, and the roll-ups
by them that the statistics by a list column read. Numbered as recipients are recorded, kept
as deliveries move, equal to a recount, the same statistics either way, on both engines."""

from __future__ import annotations

import pandas as pd
import pytest

import campaign as cp
from campaign.stats import _tables
from campaign.store import batches, connect
from tests.sending import numbers, veesing
from tests.stats_fixtures import StoreBuilder, at_schema, double11

PHONES = [f"1370000{i:04d}" for i in range(4)]

BY = ("variant", "tier", ["variant", "tier"], ["campaign", "variant"], ["variant", "batch"],
      ["variant", "send_hour"], ["variant", "vendor"], ["send_day", "tier"])  # fmt: skip


def rows(db, sql, params=()):
    with connect(db, existing=True) as store:
        return sorted(store.rows(sql, list(params)))


def counted(db):
    return (
        rows(db, "SELECT campaign, batch, profile, n FROM profile_recipients WHERE n != 0"),
        rows(db, "SELECT campaign, batch, profile, status, n FROM profile_counts WHERE n != 0"),
    )


def recounted(db):
    return (
        rows(db, "SELECT campaign, batch, profile, COUNT(*) FROM recipients"
                 " WHERE profile IS NOT NULL GROUP BY 1, 2, 3"),
        rows(db, "SELECT campaign, batch, profile, status, COUNT(*) FROM deliveries"
                 " WHERE profile IS NOT NULL GROUP BY 1, 2, 3, 4"),
    )  # fmt: skip


def read_through_profiles(db) -> bool:
    with connect(db, existing=True) as store:
        return _tables._profiled(store, None, ["variant"])


def assert_same_both_ways(db, monkeypatch, campaign=None):
    assert_same_both_ways_by(db, monkeypatch, *BY, campaign=campaign)


def assert_same_both_ways_by(db, monkeypatch, *groupings, campaign=None):
    for by in groupings:
        fast = cp.delivery_stats(db, campaign=campaign, by=by)
        with monkeypatch.context() as m:
            m.setattr(_tables, "_PROFILES", False)
            slow = cp.delivery_stats(db, campaign=campaign, by=by)
        pd.testing.assert_frame_equal(fast, slow, obj=str(by))
        assert fast.attrs == slow.attrs


def test_each_distinct_row_of_a_list_is_a_profile_and_its_counts_are_a_recount(db):
    double11(db)
    profiles = rows(db, "SELECT campaign, profile, attrs FROM profiles")
    assert [p for c, p, _ in profiles if c == "double11"] == [0, 1, 2, 3]  # 4 (variant, tier)
    assert len({a for c, _, a in profiles if c == "double11"}) == 4
    assert counted(db) == recounted(db)
    assert counted(db)[1]
    assert read_through_profiles(db)


def test_statistics_by_a_list_column_are_the_same_through_profiles(db, monkeypatch):
    double11(db)
    assert read_through_profiles(db)
    assert_same_both_ways(db, monkeypatch)
    assert_same_both_ways(db, monkeypatch, campaign="double11")
    fast = cp.compare(db, "A", "B", column="variant", campaign="double11")
    with monkeypatch.context() as m:
        m.setattr(_tables, "_PROFILES", False)
        slow = cp.compare(db, "A", "B", column="variant", campaign="double11")
    pd.testing.assert_frame_equal(fast, slow)


def test_profile_counts_follow_deliveries_as_they_move(db, monkeypatch):
    double11(db)
    with StoreBuilder(db) as s:
        s.receipt("double11", "13800000001", "failed", "2024-11-11T10:09:00+08:00")
        s.receipt("double11", "13900000010", "delivered", "2024-11-11T14:31:00+08:00")
    with connect(db, existing=True) as store, store.transaction():
        store.execute("UPDATE deliveries SET status = 'unknown' WHERE phone = '13800000003'")
        store.execute("DELETE FROM deliveries WHERE phone = '13800000004'")
    assert counted(db) == recounted(db)
    assert_same_both_ways(db, monkeypatch)


def test_numbers_dropped_for_opting_out_leave_the_profile_counts(db):
    double11(db)
    with connect(db, existing=True) as store, store.transaction():
        store.execute("UPDATE batches SET state = 'planned' WHERE campaign = 'double11'"
                      " AND batch = 2")  # fmt: skip
        store.execute("INSERT INTO replies (vendor, phone, content, opt_out, ingested_at)"
                      " VALUES ('veesing-sms', '13900000010', 'TD', 1, 't')")  # fmt: skip
        dropped = batches.drop_opted_out(store, "double11", ["planned"])
    assert dropped == [(2, "13900000010")]
    assert counted(db) == recounted(db)


def test_a_list_past_the_limit_is_not_profiled_and_reads_every_recipient(db, monkeypatch):
    monkeypatch.setattr(batches, "MAX_PROFILES", 3)  # double11 has 4 distinct rows
    double11(db)
    assert (-1,) in [(p,) for c, p, _ in rows(db, "SELECT * FROM profiles") if c == "double11"]
    assert not read_through_profiles(db)
    monkeypatch.undo()
    assert_same_both_ways(db, monkeypatch)


def test_a_campaign_without_list_columns_has_no_profiles(db, monkeypatch):
    with StoreBuilder(db) as s:
        s.campaign("plain")
        s.batch("plain", 1, recipients=[(p, "移动", "广东", "广州", {}) for p in PHONES])
        s.receipt("plain", PHONES[0], "delivered", "2024-11-11T10:00:05+08:00")
    assert rows(db, "SELECT * FROM profiles") == []  # nothing to group by
    assert rows(db, "SELECT COUNT(*) FROM deliveries WHERE profile IS NOT NULL") == [(0,)]
    with StoreBuilder(db) as s:  # a later plan with columns: the campaign is not profiled
        s.batch("plain", 2, recipients=[("13999999999", "移动", "广东", "广州", {"tier": "A"})])
    assert rows(db, "SELECT campaign, profile FROM profiles") == [("plain", -1)]
    assert not read_through_profiles(db)
    assert_same_both_ways_by(db, monkeypatch, "tier")


def test_send_records_the_profiles_of_a_list(db, sim):
    frame = cp.load_phones(pd.DataFrame({
        "phone": numbers(6),
        "tier": ["gold", "silver", "gold", None, "gold", "silver"],
    }))  # fmt: skip
    plan = cp.plan_batches(frame, vendor="veesing-sms", content="【云通信】双11会员专享,回T退订")
    cp.send(plan, veesing(sim), db=db, campaign="c", progress=False, window=False)
    attrs = [a for _, _, a in rows(db, "SELECT * FROM profiles")]
    assert len(attrs) == len(set(attrs)) == 3  # gold, silver, and no tier
    assert rows(db, "SELECT COUNT(*) FROM recipients WHERE profile IS NULL") == [(0,)]
    assert rows(db, "SELECT SUM(n) FROM profile_recipients") == [(6,)]
    assert read_through_profiles(db)
    table = cp.delivery_stats(db, by="tier")
    assert table["submitted"].tolist() == [3, 2, 1]


@pytest.mark.parametrize("version", [9])
def test_a_version_9_store_is_migrated_with_its_profiles(db, monkeypatch, version):
    at_schema(monkeypatch, db, version)
    double11(db)
    monkeypatch.undo()
    assert read_through_profiles(db)
    assert counted(db) == recounted(db)
    assert counted(db)[1]
    assert rows(db, "SELECT COUNT(*) FROM recipients WHERE profile IS NULL") == [(0,)]
    assert_same_both_ways(db, monkeypatch)
    with StoreBuilder(db) as s:  # and the triggers count from then on
        s.receipt("double11", "13900000010", "delivered", "2024-11-11T14:31:00+08:00")
    assert counted(db) == recounted(db)
