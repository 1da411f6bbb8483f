"""Store.snapshot(): a block of reads from one view of the store, each count read once."""

from __future__ import annotations

import pandas as pd

import campaign as cp
from campaign.stats import _tables
from campaign.store import connect
from tests.stats_fixtures import StoreBuilder, double11


def test_a_snapshot_does_not_see_what_arrives_during_it(db):
    double11(db)
    store = connect(db, existing=True)
    before = cp.delivery_stats(db, campaign="double11")
    with store.snapshot() as view:
        first = cp.delivery_stats(view, campaign="double11")
        with StoreBuilder(db) as other:  # another connection, committing meanwhile
            other.receipt("double11", "13900000010", "delivered", "2024-11-11T14:31:00+08:00")
        again = cp.delivery_stats(view, campaign="double11", by="carrier")
    after = cp.delivery_stats(db, campaign="double11")
    pd.testing.assert_frame_equal(first, before)
    assert int(again["delivered"].sum()) == int(before["delivered"].iloc[0])
    assert int(after["delivered"].iloc[0]) == int(before["delivered"].iloc[0]) + 1
    assert store.scalar("SELECT COUNT(*) FROM campaigns") == 2  # still open, still usable
    store.close()


def test_the_same_counts_are_read_once_in_a_snapshot_and_equal_outside(db, monkeypatch):
    double11(db)
    outside = {
        "table": cp.delivery_stats(db, by="carrier"),
        "curve": cp.delivery_curve(db, by="carrier"),
        "replies": cp.reply_stats(db, by="carrier"),
    }
    reads = []
    real = _tables._read_counts
    monkeypatch.setattr(_tables, "_read_counts", lambda *a: reads.append(a[2]) or real(*a))
    with connect(db, existing=True) as store, store.snapshot() as view:
        inside = {
            "table": cp.delivery_stats(view, by="carrier"),
            "curve": cp.delivery_curve(view, by="carrier"),
            "replies": cp.reply_stats(view, by="carrier"),
        }
        cp.funnel_stats(view)  # closes what it opened: not the snapshot's connection
        assert cp.delivery_stats(view)["submitted"].iloc[0] > 0
    for name, frame in outside.items():
        pd.testing.assert_frame_equal(inside[name], frame, obj=name)
    assert reads.count(["carrier"]) == 1


def test_a_snapshot_inside_a_transaction_reads_in_it(db):
    double11(db)
    with connect(db, existing=True) as store, store.transaction():
        store.execute("UPDATE campaigns SET content = 'x' WHERE name = 'double11'")
        with store.snapshot() as view:
            assert view.scalar("SELECT content FROM campaigns WHERE name = 'double11'") == "x"
        assert store.engine.in_transaction(store.conn)  # still the caller's, to commit
    with connect(db, existing=True) as store:
        assert store.scalar("SELECT content FROM campaigns WHERE name = 'double11'") == "x"


def test_the_report_reads_one_snapshot(tmp_path, monkeypatch):
    db = double11(tmp_path / "campaign.db")
    reads = []
    real = _tables._read_counts
    monkeypatch.setattr(_tables, "_read_counts", lambda *a: reads.append(a[2]) or real(*a))
    cp.report(db, campaign="double11", path=tmp_path / "r.html")
    asked = [tuple(dims) for dims in reads]
    assert len(asked) == len(set(asked)), asked  # each grouping's counts read once
