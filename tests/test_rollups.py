"""The roll-ups of schema 9, by latency (``latency_counts``) and by failure reason
(``failure_counts``): kept by triggers on both engines, equal to a recount from every
delivery after any change, and the statistics identical whether they read them or every
delivery."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import campaign as cp
from campaign.stats import _tables
from campaign.store import connect
from campaign.store.postgres import is_postgres_url
from tests.stats_fixtures import StoreBuilder, at_schema, double11
from tests.stats_fixtures import rollups_counted as counted
from tests.stats_fixtures import rollups_recounted as recounted


def execute(db, sql: str, params=()) -> None:
    with connect(db, existing=True) as store, store.transaction():
        store.execute(sql, list(params))


def statistics(db) -> dict[str, pd.DataFrame]:
    """Every statistic the roll-ups serve, by each grouping they carry."""
    tables = {}
    for by in (None, "carrier", "province", "vendor", "campaign", ["carrier", "province"]):
        key = str(by)
        tables[f"stats {key}"] = cp.latency_stats(db, by=by)
        tables[f"all {key}"] = cp.latency_stats(db, by=by, status=None)
        tables[f"failed {key}"] = cp.latency_distribution(db, by=by, status="failed")
        tables[f"hist {key}"] = cp.latency_distribution(db, by=by)
        tables[f"curve {key}"] = cp.delivery_curve(db, by=by)
        tables[f"reasons {key}"] = cp.failure_reasons(db, by=by)
    tables["one campaign"] = cp.latency_stats(db, campaign="double11", by="carrier")
    tables["its reasons"] = cp.failure_reasons(db, campaign=["double11"], by="province")
    return tables


def assert_same_both_ways(db, monkeypatch) -> None:
    fast = statistics(db)
    with monkeypatch.context() as m:
        m.setattr(_tables, "_ROLLED", ())  # every delivery, as before the roll-ups
        slow = statistics(db)
    for name, table in fast.items():
        pd.testing.assert_frame_equal(table, slow[name], obj=name)
        assert table.attrs == slow[name].attrs


def test_the_roll_up_counts_what_a_recount_of_the_deliveries_does(db, monkeypatch):
    double11(db)
    assert counted(db) == recounted(db) != []
    assert_same_both_ways(db, monkeypatch)


def test_the_roll_up_follows_every_move_of_a_delivery(db, monkeypatch):
    double11(db)
    s = StoreBuilder(db)
    s.receipt("double11", "13800000001", "failed", "2024-11-11T10:09:00+08:00")  # later wins
    s.receipt("double11", "13800000002", "failed", "2024-11-11T09:00:00+08:00")  # older stays
    s.close()
    assert counted(db) == recounted(db)
    execute(db, "UPDATE deliveries SET carrier = '电信' WHERE phone = '13800000003'")
    execute(db, "UPDATE deliveries SET province = NULL WHERE phone = '13800000004'")
    execute(db, "UPDATE deliveries SET received_at = NULL WHERE phone = '13800000005'")
    execute(db, "UPDATE deliveries SET received_at = '2024-11-11T10:00:30+08:00'"
                " WHERE phone = '13800000005'")  # fmt: skip
    execute(db, "UPDATE deliveries SET code = 'X' WHERE phone = '13800000006'")  # not timed
    execute(db, "UPDATE deliveries SET reason = NULL, code = NULL WHERE status = 'failed'")
    execute(
        db, "UPDATE deliveries SET status = 'failed', reason = '空号' WHERE phone = '13800000003'"
    )
    assert counted(db) == recounted(db)
    execute(db, "DELETE FROM deliveries WHERE phone = '13800000001'")
    assert counted(db) == recounted(db)
    assert_same_both_ways(db, monkeypatch)


def test_a_batch_sent_again_moves_the_latency_of_the_deliveries_it_has(db, monkeypatch):
    """A resend of an unknown batch sets its submitted_at anew: latency is counted from
    then, for the deliveries it already had, as the statistics compute it."""
    double11(db)

    def total(table):  # seconds summed over every receipt
        return int((table["seconds"] * table["receipts"]).sum())

    before = cp.latency_distribution(db, campaign="double11")
    first = cp.latency_distribution(db, campaign="double11", by="batch").query("batch == 1")
    execute(db, "UPDATE batches SET submitted_at = '2024-11-11T09:59:00+08:00'"
                " WHERE campaign = 'double11' AND batch = 1")  # fmt: skip
    assert counted(db) == recounted(db)
    after = cp.latency_distribution(db, campaign="double11")
    assert total(after) == total(before) + 60 * int(first["receipts"].sum()) > total(before)
    execute(db, "UPDATE batches SET submitted_at = NULL WHERE campaign = 'double11'"
                " AND batch = 2")  # fmt: skip
    assert counted(db) == recounted(db)
    execute(db, "UPDATE batches SET submitted_at = '2024-11-11T14:31:00+08:00'"
                " WHERE campaign = 'double11' AND batch = 2")  # fmt: skip
    execute(db, "UPDATE batches SET state = 'accepted' WHERE campaign = 'double11'")  # untimed
    assert counted(db) == recounted(db)
    assert_same_both_ways(db, monkeypatch)


def test_a_bad_status_is_still_refused_with_the_roll_up(db):
    double11(db)
    with pytest.raises(cp.InputError, match="status must be one of"):
        cp.latency_distribution(db, by="carrier", status="sent")


def test_a_version_8_store_is_migrated_with_its_deliveries_counted(db, monkeypatch):
    at_schema(monkeypatch, db, 8)
    double11(db)
    with connect(db, existing=True) as old:
        assert old.scalar("SELECT COUNT(*) FROM deliveries") > 0
        tables = {t for (t,) in old.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if not is_postgres_url(db)
            else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}  # fmt: skip
        assert not {"latency_counts", "failure_counts"} & tables
    monkeypatch.undo()
    assert counted(db) == recounted(db) != []
    s = StoreBuilder(db)  # and the triggers count from then on
    s.receipt("double11", "13800000001", "failed", "2024-11-11T10:09:00+08:00")
    s.close()
    assert counted(db) == recounted(db)


def test_unlinked_receipts_are_found_through_their_own_index(tmp_path):
    db = tmp_path / "campaign.db"
    double11(db)
    with connect(db, existing=True) as store:
        plan = " ".join(
            row[-1]
            for row in store.rows(
                "EXPLAIN QUERY PLAN SELECT vendor, task_id, COUNT(*) FROM receipts"
                " WHERE (matched = 0 OR campaign IS NULL) AND vendor = ? GROUP BY 1, 2",
                ["veesing-sms"],
            )
        )
    assert "receipts_unlinked" in plan


# Random changes, in any order, on SQLite (a file per example): the roll-up stays a recount.
PHONES = [f"1380000{i:04d}" for i in range(6)]
TIMES = [None, "2024-11-11T10:00:00+08:00", "2024-11-11T10:00:04+08:00",
         "2024-11-11T10:00:04.600+08:00", "2024-11-11T09:59:00+08:00",
         "2024-11-11T11:00:00+08:00"]  # fmt: skip
CHANGE = st.one_of(
    st.tuples(st.just("receipt"), st.sampled_from(PHONES),
              st.sampled_from(["delivered", "failed", "unknown"]), st.sampled_from(TIMES[1:])),
    st.tuples(st.just("carrier"), st.sampled_from(PHONES), st.sampled_from([None, "移动", "联通"])),
    st.tuples(st.just("received"), st.sampled_from(PHONES), st.sampled_from(TIMES)),
    st.tuples(st.just("delete"), st.sampled_from(PHONES)),
    st.tuples(st.just("reason"), st.sampled_from(PHONES), st.sampled_from([None, "", "空号"]),
              st.sampled_from([None, "MK:0001"])),
    st.tuples(st.just("submitted"), st.sampled_from([1, 2]), st.sampled_from(TIMES)),
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(CHANGE, max_size=12))
def test_any_sequence_of_changes_keeps_the_roll_up_a_recount(tmp_path_factory, changes):
    db = tmp_path_factory.mktemp("rollup") / "campaign.db"
    s = StoreBuilder(db)
    s.campaign("c")
    for batch, phones in ((1, PHONES[:3]), (2, PHONES[3:])):
        s.batch("c", batch, recipients=[(p, "移动", "广东", "广州", {}) for p in phones])
    for change in changes:
        kind, *args = change
        if kind == "receipt":
            s.receipt("c", *args)
        elif kind == "carrier":
            execute(db, "UPDATE deliveries SET carrier = ? WHERE phone = ?", [args[1], args[0]])
        elif kind == "received":
            execute(db, "UPDATE deliveries SET received_at = ? WHERE phone = ?",
                    [args[1], args[0]])  # fmt: skip
        elif kind == "reason":
            execute(db, "UPDATE deliveries SET reason = ?, code = ? WHERE phone = ?",
                    [args[1], args[2], args[0]])  # fmt: skip
        elif kind == "delete":
            execute(db, "DELETE FROM deliveries WHERE phone = ?", args)
        else:
            execute(db, "UPDATE batches SET submitted_at = ? WHERE batch = ?", [args[1], args[0]])
    s.close()
    assert counted(db) == recounted(db)
