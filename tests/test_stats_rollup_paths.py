"""funnel_stats and cost_stats read the roll-ups for the standard dimensions (issue 18): the
per-recipient SQL, still the way for contact-list columns, is the oracle they must equal.

Every value here (order values, prices) is a multiple of 1/8, so that any order of summing
gives the same float and the two paths can be compared exactly.
"""

from __future__ import annotations

import contextlib

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stats_fixtures import StoreBuilder, _r

import campaign as cp
from campaign.stats import _groups
from campaign.store import batches, connect, links

T = "2024-11-10T10:00:00+08:00"
LATER = "2024-11-10T15:00:00+08:00"
FUNNEL_BY = [None, "campaign", "carrier", "province", "city", "vendor", ["carrier", "city"]]
COST_BY = [*FUNNEL_BY, "batch", ["batch", "carrier"], "send_hour", "send_day"]
CAMPAIGNS = [None, "a", ["a", "b"], "c", "empty"]


@contextlib.contextmanager
def _per_recipient():
    """Every table takes the per-recipient path while this lasts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_groups, "_ROLLUPS", False)
        yield


def _both(stats, db, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = stats(db, **options)
    with _per_recipient():
        slow = stats(db, **options)
    return fast, slow


def _same(stats, db, **options) -> pd.DataFrame:
    fast, slow = _both(stats, db, **options)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs
    return fast


def _conversions(store, rows) -> None:
    """(phone, campaign or None, value or None, held_out) rows, as ingest would attribute them."""
    with store.transaction():
        store.executemany(
            "INSERT INTO conversions (order_id, phone, converted_at, value, campaign, held_out,"
            " source, ingested_at) VALUES (?, ?, ?, ?, ?, ?, 'test', ?)",
            [(f"o{i}", phone, LATER, value, name, int(held), LATER)
             for i, (phone, name, value, held) in enumerate(rows)],
        )  # fmt: skip


def _phones(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


@pytest.fixture
def store(db):
    """Campaigns with every case the two paths could disagree on.

    a (veesing-sms, 0.5 per segment, billed on submit): batch 1 accepted, 2 segments, mixed and
    unknown locations, delivered / failed / unknown / none, one unknown later delivered;
    2 rejected with one receipt (so counted as submitted), 3 rejected without; 4 planned, one
    of its numbers opted out and dropped (a recipient_counts row left at n = 0); 5 held out.
    b (jzyyun-sms, 0.25, billed on delivery): batch 1 accepted, 3 segments; 2 'unknown' with
    no receipt; 3 held out. c (veesing-code, no price): one accepted batch. empty: no numbers.
    """
    A1, A2, A3, A4, A5 = (_phones(p, n) for p, n in
                          (("1380001", 8), ("1380002", 3), ("1380003", 2), ("1380004", 3),
                           ("1380005", 4)))  # fmt: skip
    B1, B2, B3 = _phones("1390001", 6), _phones("1390002", 2), _phones("1390003", 3)
    C1 = _phones("1370001", 3)
    places = [("移动", "广东", "广州"), ("联通", "广东", "深圳"), (None, None, None),
              ("电信", "北京", None), ("移动", None, "上海")]  # fmt: skip

    def people(phones, shift=0):
        return [_r(p, *places[(i + shift) % len(places)]) for i, p in enumerate(phones)]

    with StoreBuilder(db) as s:
        s.campaign("a")
        s.batch("a", 1, submitted_at=T, recipients=people(A1))
        s.batch("a", 2, state="rejected", submitted_at=T, recipients=people(A2, 1))
        s.batch("a", 3, state="rejected", submitted_at=T, recipients=people(A3, 2))
        s.batch("a", 4, state="planned", submitted_at=None, recipients=people(A4, 3))
        s.batch("a", 5, state="held_out", submitted_at=None, recipients=people(A5, 1))
        for phone, status in zip(A1[:6], ["delivered", "delivered", "failed", "unknown",
                                          "delivered", "unknown"], strict=True):  # fmt: skip
            s.receipt("a", phone, status, T)
        s.receipt("a", A1[3], "delivered", LATER)  # unknown, then delivered: n = 0 left behind
        s.receipt("a", A2[0], "delivered", T)  # the vendor had the rejected batch after all
        s.campaign("b", vendor="jzyyun-sms")
        s.batch("b", 1, submitted_at=LATER, recipients=people(B1, 2))
        s.batch("b", 2, state="unknown", submitted_at=LATER, recipients=people(B2))
        s.batch("b", 3, state="held_out", submitted_at=None, recipients=people(B3, 4))
        statuses = ["delivered", "delivered", "failed", "delivered"]
        for phone, status in zip(B1[:4], statuses, strict=True):
            s.receipt("b", phone, status, LATER)
        s.campaign("c", vendor="veesing-code")
        s.batch("c", 1, submitted_at=T, recipients=people(C1))
        s.receipt("c", C1[0], "delivered", T)
        s.campaign("empty")
        s.reply("a", A1[0], "好的", LATER)
        s.reply("a", A1[0], "谢谢", LATER)  # twice: one replier
        s.reply("a", A1[2], "TD", LATER, opt_out=True)
        s.reply("a", A2[1], "?", LATER)  # a rejected batch's number
        s.reply("a", A5[0], "?", LATER)  # a held-out number
        s.reply(None, "13500000000", "你是谁", LATER)  # unattributed
        s.reply("b", B1[1], "好", LATER, vendor="jzyyun-sms")
        s.reply("b", B2[0], "好", LATER, vendor="jzyyun-sms")
        s.reply(None, A4[1], "TD", LATER, opt_out=True)  # opts out before a's batch 4 is sent
        with s.store.transaction():
            s.store.execute("UPDATE batches SET segments = 2 WHERE campaign = 'a'")
            s.store.execute("UPDATE batches SET segments = 3 WHERE campaign = 'b' AND batch = 1")
            assert batches.drop_opted_out(s.store, "a", ["planned"]) == [(4, A4[1])]
        _conversions(s.store, [
            (A1[0], "a", 10.0, False), (A1[0], "a", 2.5, False), (A1[1], "a", None, False),
            (A1[4], "a", 0.125, False), (A2[0], "a", 7.0, False), (A3[0], "a", 3.0, False),
            (A4[0], "a", 1.0, False), (A4[1], "a", 8.0, False),  # unsent, and dropped
            (A5[0], "a", 50.0, True), (A5[1], "a", None, True), (A5[1], "a", 0.5, True),
            (A1[2], None, 99.0, False), ("13500000000", None, 1.0, False),  # unattributed
            ("13500000001", "a", 4.0, False),  # attributed, yet no recipient of a
            (B1[0], "b", 20.0, False), (B2[1], "b", 6.0, False), (B3[0], "b", 5.0, True),
            (C1[1], "c", 1.0, False),
        ])  # fmt: skip
        with s.store.transaction():
            codes = [(f"k{p}", "a", p, "https://shop.example.com", f"k{p}", T) for p in A1]
            links.write_links(s.store, codes)
            links.write_clicks(s.store, [(f"k{A1[0]}", LATER, "mobile", "test", LATER),
                                         (f"k{A1[1]}", LATER, "bot", "test", LATER)])  # fmt: skip
    cp.set_prices(db, {"veesing-sms": 0.5, "jzyyun-sms": {"price": 0.25, "billed_on": "delivery"}})
    return db


def test_the_store_has_the_cases_it_is_meant_to(store):
    with connect(store, existing=True) as s:
        assert s.scalar("SELECT COUNT(*) FROM recipient_counts WHERE n = 0") == 1
        assert s.scalar("SELECT COUNT(*) FROM delivery_counts WHERE n = 0") == 1
    row = cp.funnel_stats(store, campaign="a").iloc[0]
    # batch 1 (8) and the rejected batch 2 that had a receipt (3) are submitted
    assert (row.recipients, row.submitted, row.delivered, row.held_out) == (15, 11, 5, 4)
    assert (row.converted, row.revenue) == (4, 19.625)  # A1[0], A1[1], A1[4], A2[0]
    assert (row.held_out_converted, row.held_out_revenue) == (2, 50.5)
    cost = cp.cost_stats(store).set_index("campaign")
    assert (cost.loc["a", "billed"], cost.loc["a", "cost"]) == (22, 11.0)
    assert (cost.loc["b", "billed"], cost.loc["b", "cost"]) == (9, 2.25)  # 3 delivered x 3
    # A1[0], A1[2] and A2[1] (its rejected batch had a receipt: submitted); not the held-out
    assert cost.loc["a", "repliers"] == 3
    assert cost.loc["b", "repliers"] == 1  # not B2[0]: batch 2 is 'unknown' without a receipt
    assert pd.isna(cost.loc["c", "cost"])
    assert "empty" not in cost.index


@pytest.mark.parametrize("campaign", CAMPAIGNS)
@pytest.mark.parametrize("by", FUNNEL_BY, ids=str)
def test_the_funnel_from_the_roll_ups_is_the_per_recipient_one(store, campaign, by):
    _same(cp.funnel_stats, store, campaign=campaign, by=by)


@pytest.mark.parametrize("campaign", CAMPAIGNS)
@pytest.mark.parametrize("by", COST_BY, ids=str)
def test_the_cost_from_the_roll_ups_is_the_per_recipient_one(store, campaign, by):
    _same(cp.cost_stats, store, campaign=campaign, by=by)


def test_a_campaign_without_numbers_has_no_rows_either_way(store):
    for stats in (cp.funnel_stats, cp.cost_stats):
        got = _same(stats, store, campaign="empty", by="carrier")
        assert not len(got)


def test_a_contact_list_column_takes_the_per_recipient_path(db):
    with StoreBuilder(db) as s:
        s.campaign("a")
        s.batch("a", 1, submitted_at=T, recipients=[_r("13800000001", "移动", "广东", "广州",
                                                       tier="gold")])  # fmt: skip
    assert not _groups._rolled_up(["campaign", "tier"])
    assert _groups._rolled_up(["campaign", "carrier", "send_day"])
    assert cp.funnel_stats(db, by="tier")["tier"].tolist() == ["gold"]


def test_the_demo_store_gives_the_same_either_way(demo_store):
    for by in FUNNEL_BY:
        _same(cp.funnel_stats, demo_store, by=by)
    for by in COST_BY:
        _same(cp.cost_stats, demo_store, by=by)


def test_a_cost_is_the_sum_of_each_numbers_cost_not_a_product(db):
    """8441 numbers at 0.045 cost 379.845, exactly, on both paths (a float sum one number at
    a time made 379.8450000000125, the product 379.84499999999997, shown 379.84)."""
    with StoreBuilder(db) as s:
        s.campaign("a")
        s.batch("a", 1, submitted_at=T, recipients=[_r(p, "移动", "广东", "广州")
                                                    for p in _phones("1380", 8441)])  # fmt: skip
    cp.set_prices(db, {"veesing-sms": 0.045})
    cost = _same(cp.cost_stats, db, by="carrier").loc[0, "cost"]
    assert cost == 379.845
    assert f"{cost:.2f}" == "379.85"


# fmt: off
PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # campaign
        st.integers(0, 5),  # its batch, of BATCHES
        st.sampled_from([None, "移动", "联通"]),  # carrier
        st.sampled_from([None, "广州", "深圳"]),  # city
        st.lists(st.sampled_from(["delivered", "failed", "unknown"]), max_size=2),  # receipts
        st.lists(  # conversions: value (None or eighths) and to which campaign (None: none)
            st.tuples(st.one_of(st.none(), st.integers(0, 800).map(lambda v: v / 8)),
                      st.sampled_from(["own", "other", None])),
            max_size=2,
        ),
        st.booleans(),  # replied
    ),
    min_size=1,
    max_size=25,
)
# fmt: on
BATCHES = ("accepted", "accepted", "rejected", "unknown", "planned", "held_out")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    people=PEOPLE,
    segments=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    billed_on=st.sampled_from(["submit", "delivery", None]),
)
def test_random_stores_give_the_same_either_way(tmp_path_factory, people, segments, billed_on):
    db = tmp_path_factory.mktemp("rollups") / "campaign.db"
    orders = []
    with StoreBuilder(db) as s:
        for name, vendor in (("a", "veesing-sms"), ("b", "jzyyun-sms")):
            s.campaign(name, vendor=vendor)
            prefix = "138" if name == "a" else "139"
            for number, state in enumerate(BATCHES):
                mine = [(f"{prefix}{i:08d}", p) for i, p in enumerate(people)
                        if p[0] == name and p[1] == number]  # fmt: skip
                if not mine:
                    continue
                unsent = state in ("planned", "held_out")
                s.batch(name, number + 1, state=state, submitted_at=None if unsent else T,
                        recipients=[_r(ph, p[2], "广东", p[3]) for ph, p in mine])  # fmt: skip
                for phone, (_, _, _, _, receipts, bought, replied) in mine:
                    # even where none can come (planned, held out): the paths must agree
                    # whatever the store holds
                    for i, status in enumerate(receipts):
                        s.receipt(name, phone, status, f"2024-11-10T10:0{i}:00+08:00")
                    if replied:
                        s.reply(name, phone, "好", LATER, vendor=vendor)
                    other = "b" if name == "a" else "a"
                    orders += [(phone, {"own": name, "other": other}.get(to), value,
                                state == "held_out" and to == "own")
                               for value, to in bought]  # fmt: skip
            with s.store.transaction():
                s.store.execute(
                    "UPDATE batches SET segments = ? WHERE campaign = ?",
                    [segments[name == "b"], name],
                )
        _conversions(s.store, orders)
    if billed_on:
        cp.set_prices(db, {"veesing-sms": 0.125, "jzyyun-sms": 0.5}, billed_on=billed_on)
    for by in FUNNEL_BY:
        _same(cp.funnel_stats, db, by=by)
    for by in ("carrier", "batch", ["vendor", "city"], None):
        _same(cp.cost_stats, db, by=by)
