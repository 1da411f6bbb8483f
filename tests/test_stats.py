"""Statistics against hand-computed figures (tests/stats_fixtures.double11) and statsmodels.

The expected numbers below were worked out by hand from the receipts written in
``stats_fixtures.double11``; see that function for the story of each number.

Every test that checks numbers runs on both engines, on the same data: ``db`` is double11 in
a SQLite file and in a PostgreSQL database (built once per module each), and the tests that
build their own store build it at ``store_url`` (conftest). The statistics must be identical.
"""

from __future__ import annotations

import html
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h
from stats_fixtures import (
    StoreBuilder,
    double11,
    postgres_database,
    replies_before_receipts,
    two_variants,
)

import campaign.stats as st
from campaign.errors import CampaignError, InputError
from campaign.experiments import detectable_effect
from campaign.store import connect, copy_store, open_db
from campaign.store.postgres import is_postgres_url


@pytest.fixture(scope="module")
def smp():
    """statsmodels, the oracle for intervals and tests (a dev-only dependency)."""
    return pytest.importorskip("statsmodels.stats.proportion")


@pytest.fixture(scope="module")
def sqlite_double11(tmp_path_factory):
    return double11(tmp_path_factory.mktemp("stats") / "campaign.db")


@pytest.fixture(scope="module")
def postgres_double11(postgres_server):
    with postgres_database(postgres_server) as url:
        yield double11(url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request):
    """double11 on each engine: a SQLite path, or a PostgreSQL URL."""
    return request.getfixturevalue(
        {"sqlite": "sqlite_double11", "postgresql": "postgres_double11"}[request.param]
    )


@pytest.fixture
def same_engine_url(db, request, tmp_path):
    """A fresh, empty store on the engine of ``db`` (not both engines again for each)."""
    if is_postgres_url(db):
        return request.getfixturevalue("postgres_db")
    return str(tmp_path / "campaign.db")


def rows(frame: pd.DataFrame, key: str, columns: list[str]) -> dict:
    return {
        (None if pd.isna(k) else k): list(v)
        for k, v in zip(frame[key], frame[columns].itertuples(index=False), strict=True)
    }


COUNTS = ["submitted", "delivered", "failed", "unknown", "pending", "reported"]


# --------------------------------------------------------------------------- delivery


def test_totals_follow_the_definitions(db):
    s = st.delivery_stats(db, campaign="double11")
    assert len(s) == 1
    # 6 + 4 accepted, + 2 of the 'unknown' batch that has a receipt; the rejected batch is out
    assert s.loc[0, COUNTS].tolist() == [12, 5, 3, 1, 3, 9]
    assert s.loc[0, "delivery_rate"] == pytest.approx(5 / 12)
    assert s.loc[0, "reported_rate"] == pytest.approx(5 / 9)


def test_latest_receipt_wins_whatever_the_arrival_order(db):
    by_batch = st.delivery_stats(db, campaign="double11", by="batch")
    # batch 1: p3's later 'delivered' arrived before its earlier 'unknown' (still delivered),
    # p4 went unknown -> failed, p2's failure came twice (counted once), p6 has no receipt
    assert rows(by_batch, "batch", COUNTS) == {
        1: [6, 3, 2, 0, 1, 5],
        2: [4, 1, 1, 1, 1, 3],
        4: [2, 1, 0, 0, 1, 1],
    }


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("carrier", {"移动": [6, 4, 1, 0, 1, 5], "联通": [3, 1, 0, 0, 2, 1],
                     "电信": [2, 0, 2, 0, 0, 2], None: [1, 0, 0, 1, 0, 1]}),
        ("province", {"广东": [6, 2, 2, 0, 2, 4], "北京": [3, 2, 0, 0, 1, 2],
                      "上海": [2, 1, 1, 0, 0, 2], None: [1, 0, 0, 1, 0, 1]}),
        ("city", {"广州": [4, 2, 1, 0, 1, 3], "深圳": [2, 0, 1, 0, 1, 1],
                  "北京": [3, 2, 0, 0, 1, 2], "上海": [2, 1, 1, 0, 0, 2],
                  None: [1, 0, 0, 1, 0, 1]}),
        ("send_hour", {10: [6, 3, 2, 0, 1, 5], 14: [4, 1, 1, 1, 1, 3], 15: [2, 1, 0, 0, 1, 1]}),
        ("send_day", {"2024-11-11": [12, 5, 3, 1, 3, 9]}),
        ("vendor", {"veesing-sms": [12, 5, 3, 1, 3, 9]}),
        ("campaign", {"double11": [12, 5, 3, 1, 3, 9]}),
        ("variant", {"A": [6, 4, 1, 1, 0, 6], "B": [6, 1, 2, 0, 3, 3]}),
        ("tier", {"gold": [8, 4, 0, 1, 3, 5], "silver": [4, 1, 3, 0, 0, 4]}),
    ],
)  # fmt: skip
def test_every_dimension(db, by, expected):
    s = st.delivery_stats(db, campaign="double11", by=by)
    assert list(s.columns[:1]) == [by]
    assert rows(s, by, COUNTS) == expected


def test_intervals_are_wilson_as_statsmodels_computes_them(db, smp):
    s = st.delivery_stats(db, campaign="double11", by="carrier")
    for r in s.itertuples():
        low, high = smp.proportion_confint(r.delivered, r.submitted, method="wilson")
        assert (r.ci_low, r.ci_high) == pytest.approx((low, high), abs=1e-12)
        low, high = smp.proportion_confint(r.delivered, r.reported, method="wilson")
        assert (r.reported_ci_low, r.reported_ci_high) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 50), (50, 50), (7, 300), (930, 1000)])
def test_wilson_interval_at_the_edges(k, n, smp):
    low, high = st.wilson_interval(k, n)
    assert (float(low), float(high)) == pytest.approx(
        smp.proportion_confint(k, n, method="wilson"), abs=1e-12
    )


def test_wilson_interval_of_nothing_is_nan():
    low, high = st.wilson_interval(0, 0)
    assert math.isnan(low)
    assert math.isnan(high)


def test_two_standard_dimensions_and_an_attrs_column_add_up(db):
    both = st.delivery_stats(db, campaign="double11", by=["carrier", "variant"])
    one = st.delivery_stats(db, campaign="double11", by="carrier")
    summed = both.fillna({"carrier": "?"}).groupby("carrier")[COUNTS].sum()
    assert summed.to_dict("index") == one.fillna({"carrier": "?"}).set_index("carrier")[
        COUNTS
    ].to_dict("index")


def test_all_campaigns_and_a_database_object(sqlite_double11):
    # SQLite only: a sqlite_utils.Database as db= exists on SQLite alone (the twin below
    # checks the same numbers on PostgreSQL, through an open Store)
    db = sqlite_double11
    s = st.delivery_stats(sqlite_utils.Database(db), by="campaign")
    assert rows(s, "campaign", COUNTS) == {
        "double11": [12, 5, 3, 1, 3, 9],
        "voice1": [5, 3, 1, 0, 1, 4],
    }
    total = st.delivery_stats(open_db(db))
    assert total.loc[0, COUNTS].tolist() == [17, 8, 4, 1, 4, 13]


def test_all_campaigns_and_a_store_object_on_postgresql(postgres_double11):
    with connect(postgres_double11) as store:
        s = st.delivery_stats(store, by="campaign")
        assert rows(s, "campaign", COUNTS) == {
            "double11": [12, 5, 3, 1, 3, 9],
            "voice1": [5, 3, 1, 0, 1, 4],
        }
        total = st.delivery_stats(store)
        assert total.loc[0, COUNTS].tolist() == [17, 8, 4, 1, 4, 13]


def test_an_empty_store_gives_an_empty_frame(store_url):
    path = store_url
    connect(path).close()
    assert st.delivery_stats(path).empty
    assert st.delivery_stats(path, by="carrier").empty
    assert st.reply_stats(path).empty
    assert st.failure_reasons(path).empty
    assert st.voice_stats(path).empty


def test_a_campaign_sent_but_without_receipts_is_all_pending(store_url):
    with StoreBuilder(store_url) as s:
        s.campaign("quiet").batch(
            "quiet", 1, recipients=[("13800000001", "移动", "广东", "广州", {})]
        )
    out = st.delivery_stats(store_url, by="carrier")
    assert out.loc[0, COUNTS].tolist() == [1, 0, 0, 0, 1, 0]
    assert math.isnan(out.loc[0, "reported_rate"])


# --------------------------------------------------------------------------- arguments


def test_unknown_by_column_names_the_columns_that_exist(db):
    with pytest.raises(InputError) as info:
        st.delivery_stats(db, campaign="double11", by="colour")
    message = str(info.value)
    for word in ("'colour'", "carrier", "send_hour", "tier", "variant"):
        assert word in message
    assert isinstance(info.value, CampaignError)


def test_unknown_campaign_and_missing_store(db, tmp_path):
    with pytest.raises(InputError, match=r"double12.*double11"):
        st.delivery_stats(db, campaign="double12")
    # a store file that does not exist: a check of paths, the same whatever the engine of db
    with pytest.raises(InputError, match="no store"):
        st.delivery_stats(tmp_path / "nowhere.db")
    assert not (tmp_path / "nowhere.db").exists()


@pytest.mark.parametrize("by", [3, [""], ["carrier", None]])
def test_bad_by_values(db, by):
    with pytest.raises(InputError):
        st.delivery_stats(db, by=by)


# --------------------------------------------------------------------------- replies


def test_reply_stats(db, smp):
    s = st.reply_stats(db, campaign="double11")
    # p1 replied twice, p3 'TD', p7 '退订' (pushed twice: stored once); the unmatched reply
    # from a number outside the campaign is not counted
    cols = ["delivered", "repliers", "replies", "opt_outs"]
    assert s.loc[0, cols].tolist() == [5, 3, 4, 2]
    assert s.loc[0, "reply_rate"] == pytest.approx(3 / 5)
    assert s.loc[0, "opt_out_rate"] == pytest.approx(2 / 5)
    low, high = smp.proportion_confint(2, 5, method="wilson")
    assert (s.loc[0, "opt_out_ci_low"], s.loc[0, "opt_out_ci_high"]) == pytest.approx((low, high))


def test_reply_stats_by_a_contact_list_column(db):
    s = st.reply_stats(db, campaign="double11", by="variant")
    cols = ["delivered", "repliers", "replies", "opt_outs"]
    assert rows(s, "variant", cols) == {"A": [4, 2, 3, 1], "B": [1, 1, 1, 1]}


def test_replies_by_hour(db):
    s = st.replies_by_hour(db, campaign="double11")
    assert s[["hour", "replies", "opt_outs"]].values.tolist() == [
        [10, 2, 1],
        [11, 1, 0],
        [14, 1, 1],
    ]


# --------------------------------------------------------------------------- latency, curve


def test_latency_percentiles(db):
    s = st.latency_stats(db, campaign="double11")
    # delivered latencies: 30, 120 (p3, its latest receipt), 45, 10, 3600 seconds
    values = [30, 120, 45, 10, 3600]
    assert s.loc[0, "receipts"] == 5
    assert s.loc[0, "mean"] == pytest.approx(np.mean(values))
    for q in (50, 90, 99):
        assert s.loc[0, f"p{q}"] == np.percentile(values, q, method="inverted_cdf")


def test_latency_by_carrier_and_of_all_statuses(db):
    s = st.latency_stats(db, campaign="double11", by="carrier")
    assert rows(s, "carrier", ["receipts", "p50"]) == {"移动": [4, 30.0], "联通": [1, 120.0]}
    every = st.latency_stats(db, campaign="double11", status=None)
    # + failures at 60 (p2), 300 (p4), 60 (p8) and p9's unknown at 600 seconds
    values = [30, 120, 45, 10, 3600, 60, 300, 60, 600]
    assert every.loc[0, "receipts"] == 9
    assert every.loc[0, "p50"] == np.percentile(values, 50, method="inverted_cdf")
    with pytest.raises(InputError):
        st.latency_stats(db, status="sent")


def test_latency_distribution_is_a_histogram(db):
    s = st.latency_distribution(db, campaign="double11", by="send_hour")
    assert s[["send_hour", "seconds", "receipts"]].values.tolist() == [
        [10, 10 + 20, 1], [10, 45, 1], [10, 120, 1], [14, 10, 1], [15, 3600, 1]
    ]  # fmt: skip


def test_delivery_curve(db):
    s = st.delivery_curve(db, campaign="double11")
    assert s["seconds"].tolist() == [10, 30, 45, 120, 3600]
    assert s["delivered"].tolist() == [1, 2, 3, 4, 5]
    assert (s["submitted"] == 12).all()
    assert s["share"].iloc[-1] == pytest.approx(5 / 12)
    by = st.delivery_curve(db, campaign="double11", by="carrier")
    assert by.groupby("carrier")["share"].max().to_dict() == pytest.approx(
        {"移动": 4 / 6, "联通": 1 / 3}
    )


# --------------------------------------------------------------------------- voice


def test_voice_stats(db):
    s = st.voice_stats(db)
    assert s.loc[0, ["calls", "reported", "answered"]].tolist() == [5, 4, 2]
    assert s.loc[0, "answer_rate"] == pytest.approx(2 / 5)
    assert s.loc[0, ["talk_mean", "talk_p50", "talk_p90"]].tolist() == [21.0, 12.0, 30.0]
    by = st.voice_stats(db, campaign="voice1", by="carrier")
    assert rows(by, "carrier", ["calls", "answered"]) == {
        "移动": [3, 2], "联通": [1, 0], "电信": [1, 0]
    }  # fmt: skip
    assert math.isnan(by.set_index("carrier").loc["联通", "talk_p50"])


def test_voice_stats_refuse_an_sms_campaign(db):
    with pytest.raises(InputError, match="not a voice campaign"):
        st.voice_stats(db, campaign="double11")


def test_talk_time_distribution(db):
    s = st.talk_time_distribution(db, campaign="voice1")
    assert s[["talk_seconds", "calls"]].values.tolist() == [[12, 1], [30, 1]]


def test_a_store_without_voice_campaigns_has_empty_voice_tables(store_url):
    """No voice campaign to read: no rows (PostgreSQL once refused the empty IN () of it)."""
    two_variants(store_url)
    assert st.talk_time_distribution(store_url).empty
    assert st.voice_stats(store_url).empty


# --------------------------------------------------------------------------- failures


def test_failure_reasons(db):
    s = st.failure_reasons(db, campaign="double11")
    assert s[["reason", "count"]].values.tolist() == [["空号", 2], ["停机", 1]]
    assert s["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert s.loc[0, "codes"] == "DB:0141 (1), UNDELIV (1)"
    by = st.failure_reasons(db, by="campaign")
    assert by[["campaign", "reason", "count"]].values.tolist() == [
        ["double11", "空号", 2], ["double11", "停机", 1], ["voice1", "关机", 1]
    ]  # fmt: skip
    assert st.failure_reasons(db, campaign="double11", by="variant")[
        ["variant", "reason", "count"]
    ].values.tolist() == [["A", "停机", 1], ["B", "空号", 2]]


# --------------------------------------------------------------------------- comparing


def test_compare_two_values_of_a_column(db, smp):
    c = st.compare(db, "A", "B", column="variant", campaign="double11")
    assert len(c) == 1
    r = c.iloc[0]
    assert (r.successes_a, r.trials_a, r.successes_b, r.trials_b) == (4, 6, 1, 6)
    assert r.difference == pytest.approx(4 / 6 - 1 / 6)
    z, p = smp.proportions_ztest([4, 1], [6, 6])
    assert (r.z, r.p_value) == pytest.approx((z, p))
    low, high = smp.confint_proportions_2indep(4, 6, 1, 6, method="newcomb")
    assert (r.diff_ci_low, r.diff_ci_high) == pytest.approx((low, high))
    # 6 numbers a side: the verdict says how big a change they could have shown
    assert r.verdict.endswith(
        "p = 0.079: no difference shown; with these numbers only a change of at least 72.1 "
        "points could have been detected."
    )
    assert r.detectable_difference == pytest.approx(detectable_effect(6, 6, 1 / 6))


COMPARE_COLUMNS = [
    "metric", "column", "a", "b",
    "successes_a", "trials_a", "rate_a", "ci_low_a", "ci_high_a",
    "successes_b", "trials_b", "rate_b", "ci_low_b", "ci_high_b",
    "difference", "diff_ci_low", "diff_ci_high", "z", "p_value", "detectable_difference",
    "verdict",
]  # fmt: skip


def test_print_compare_shows_the_verdict_whole_above_the_table(db, capsys):
    """print(cp.compare(...)) used to cut the verdict at pandas' 50 characters."""
    c = st.compare(db, "A", "B", column="variant", campaign="double11")
    verdict = c.loc[0, "verdict"]
    assert len(verdict) > 100
    assert verdict.endswith("points could have been detected.")
    print(c)
    shown = capsys.readouterr().out
    assert shown.startswith(verdict + "\n")
    assert "metric" in shown  # the table follows, as pandas prints it
    assert "(above)" in shown  # its verdict column points up
    assert c.loc[0, "verdict"] == verdict
    assert "p_value" in shown
    assert repr(c).startswith(verdict)
    assert str(c) == repr(c)
    page = c._repr_html_()
    assert page.index(html.escape(verdict)) < page.index("<table")
    assert "..." not in page.split("<table")[0]


def test_compare_result_is_still_a_dataframe_with_the_same_columns(db):
    c = st.compare(db, "A", "B", column="variant", campaign="double11")
    assert isinstance(c, pd.DataFrame)
    assert list(c.columns) == COMPARE_COLUMNS
    assert c.loc[0, "trials_a"] == 6
    assert c.iloc[0]["successes_b"] == 1
    assert isinstance(c.iloc[0], pd.Series)
    assert isinstance(c["p_value"], pd.Series)
    part = c[["a", "b", "p_value"]]  # no verdict: shown as any DataFrame
    assert isinstance(part, pd.DataFrame)
    assert repr(part) == repr(pd.DataFrame(part))
    both = pd.concat([c, st.compare(db, "B", "A", column="variant", campaign="double11")])
    assert len(both) == 2
    assert list(both.columns) == COMPARE_COLUMNS
    for verdict in both["verdict"]:
        assert verdict in repr(both)
    assert pd.DataFrame(c).equals(c.copy())


@pytest.mark.parametrize(("a", "b"), [((930, 1000), (900, 1000)), ((500, 1000), (505, 1000))])
def test_compare_two_campaigns_against_statsmodels(store_url, a, b, smp):
    path = two_variants(store_url, a=a, b=b)
    r = st.compare(path, "A", "B").iloc[0]
    z, p = smp.proportions_ztest([a[0], b[0]], [a[1], b[1]])
    assert (r.z, r.p_value) == pytest.approx((z, p), rel=1e-9)
    low, high = smp.confint_proportions_2indep(a[0], a[1], b[0], b[1], method="newcomb")
    assert (r.diff_ci_low, r.diff_ci_high) == pytest.approx((low, high), rel=1e-9)
    assert ("really higher" in r.verdict) == (p < 0.05)
    assert r.rate_a == pytest.approx(a[0] / a[1])


def test_compare_other_metrics_and_errors(db):
    r = st.compare(db, "A", "B", column="variant", metric="reply_rate", campaign="double11")
    r = r.iloc[0]
    assert (r.successes_a, r.trials_a, r.successes_b, r.trials_b) == (2, 4, 1, 1)
    r = st.compare(db, "A", "B", column="variant", metric="answer_rate").iloc[0]
    assert (r.successes_a, r.trials_a, r.successes_b, r.trials_b) == (2, 2, 0, 3)
    with pytest.raises(InputError, match="metric"):
        st.compare(db, "A", "B", metric="happiness")
    with pytest.raises(InputError, match="there are: A, B"):
        st.compare(db, "A", "C", column="variant")
    with pytest.raises(InputError, match="no campaign"):
        st.compare(db, "double11", "nope")


def test_two_proportion_test_when_both_are_perfect():
    out = st.two_proportion_test(10, 10, 20, 20)
    assert out["p_value"] == 1.0
    assert out["difference"] == 0.0


# --------------------------------------------------------------------------- property


@st_h.composite
def stores(draw):
    """Recipients in batches of random states; receipts in random order, some twice."""
    n = draw(st_h.integers(1, 12))
    states = draw(st_h.lists(st_h.sampled_from(["accepted", "rejected", "unknown"]),
                             min_size=1, max_size=3))  # fmt: skip
    people = [
        (f"1380000{i:04d}", draw(st_h.integers(1, len(states))),
         draw(st_h.sampled_from(["移动", "联通", None])), draw(st_h.sampled_from(["A", "B"])))
        for i in range(n)
    ]  # fmt: skip
    receipts = draw(st_h.lists(st_h.tuples(
        st_h.integers(0, n - 1), st_h.sampled_from(["delivered", "failed", "unknown"]),
        st_h.integers(0, 5)), max_size=25))  # fmt: skip
    return states, people, receipts


#: Emptied between hypothesis examples on PostgreSQL: one database for the whole test, as
#: creating one per example is slow (SQLite gets a new file per example, as it always did).
TABLES = (
    "campaigns, batches, recipients, recipient_counts, receipts, deliveries, delivery_counts,"
    " replies, rejected"
)


def empty_store(store_url, tmp_path_factory):
    """A fresh store for one hypothesis example, on the engine of ``store_url``."""
    if not is_postgres_url(store_url):
        return tmp_path_factory.mktemp("prop") / "p.db"
    with connect(store_url) as store, store.transaction():
        store.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return store_url


@settings(
    max_examples=30,
    deadline=None,
    # store_url is one database for every example: emptied by each (empty_store)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(stores())
def test_counts_match_a_naive_recount_of_the_receipts(store_url, tmp_path_factory, store):
    states, people, receipts = store
    path = empty_store(store_url, tmp_path_factory)
    s = StoreBuilder(path)
    s.campaign("p")
    for b, state in enumerate(states, start=1):
        s.batch("p", b, state=state, recipients=[
            (phone, carrier, "广东", "广州", {"variant": v})
            for phone, batch, carrier, v in people if batch == b])  # fmt: skip
    latest: dict[str, tuple] = {}
    seen = set()
    for k, (who, status, second) in enumerate(receipts):
        phone = people[who][0]
        at = f"2024-11-11T10:00:0{second}+08:00"
        s.receipt("p", phone, status, at, code=status)
        if (phone, status, at) in seen:
            continue  # a duplicate: ignored by the store
        seen.add((phone, status, at))
        if phone not in latest or (at, k) > latest[phone][:2]:
            latest[phone] = (at, k, status)
    s.close()
    with_receipts = {b for phone, b, _, _ in people if phone in latest}
    sent = {b for b, state in enumerate(states, 1) if state == "accepted" or b in with_receipts}
    expected: dict = {}
    for phone, b, carrier, _ in people:
        if b not in sent:
            continue
        row = expected.setdefault(carrier, [0, 0, 0, 0])
        row[0] += 1
        if phone in latest:
            row[["delivered", "failed", "unknown"].index(latest[phone][2]) + 1] += 1
    fast = st.delivery_stats(path, by="carrier")
    assert rows(fast, "carrier", ["submitted", "delivered", "failed", "unknown"]) == expected
    slow = st.delivery_stats(path, by=["carrier", "variant"])  # the per-recipient join
    summed = slow.fillna({"carrier": "?"}).groupby("carrier")[["submitted", "delivered"]].sum()
    assert {(None if k == "?" else k): v for k, v in summed.T.to_dict("list").items()} == {
        k: v[:2] for k, v in expected.items()
    }


# --------------------------------------------------------------------------- review fixes


def test_replies_before_receipts_cap_the_rate_and_say_why(store_url, smp):
    path = replies_before_receipts(store_url)
    s = st.reply_stats(path, campaign="early")
    r = s.iloc[0]
    assert (r.delivered, r.repliers, r.repliers_without_receipt) == (1, 5, 4)
    assert r.reply_rate == 1.0  # not 500%
    assert r.reply_ci_low <= r.reply_rate <= r.reply_ci_high
    assert r.opt_out_rate == 1.0
    both = st.reply_stats(path, by="campaign")
    assert rows(both, "campaign", ["repliers_without_receipt"]) == {"early": [4], "late": [0]}


def test_compare_reply_rate_when_repliers_outnumber_the_delivered(store_url, smp):
    path = replies_before_receipts(store_url)
    r = st.compare(path, "early", "late", metric="reply_rate").iloc[0]  # was a math domain error
    assert (r.successes_a, r.trials_a, r.successes_b, r.trials_b) == (1, 1, 2, 8)
    assert r.rate_a == 1.0
    z, p = smp.proportions_ztest([1, 2], [1, 8])
    assert (r.z, r.p_value) == pytest.approx((z, p))
    assert 0 <= r.p_value <= 1


def test_two_proportion_test_caps_successes_at_trials():
    assert st.two_proportion_test(5, 1, 2, 8) == st.two_proportion_test(1, 1, 2, 8)


def test_voice_answer_rate_among_reported_calls(db, smp):
    s = st.voice_stats(db, campaign="voice1")
    r = s.iloc[0]
    # 5 calls, 4 with a receipt, 2 answered: the pending call is not counted as unanswered
    assert r.answer_rate == pytest.approx(2 / 5)
    assert r.reported_answer_rate == pytest.approx(2 / 4)
    low, high = smp.proportion_confint(2, 4, method="wilson")
    assert (r.reported_answer_ci_low, r.reported_answer_ci_high) == pytest.approx((low, high))


def test_unlinked_receipts_are_counted(store_url):
    s = StoreBuilder(store_url)
    s.campaign("x").batch("x", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    s.receipt("x", "13800000001", "delivered", "2024-11-11T10:00:05+08:00")
    assert len(st.unlinked_receipts(store_url)) == 0
    s.unlinked_receipt("veesing-sms", "T-lost", "13800000002")
    s.unlinked_receipt("veesing-sms", "T-lost", "13800000003")
    s.unlinked_receipt("jzyyun-sms", "J-1", "13800000004")
    u = st.unlinked_receipts(store_url)
    assert u.values.tolist() == [["veesing-sms", "T-lost", 2], ["jzyyun-sms", "J-1", 1]]
    assert u.attrs["by"] == ["vendor", "task_id"]
    only = st.unlinked_receipts(store_url, vendor="jzyyun-sms")
    assert only["receipts"].tolist() == [1]
    with pytest.raises(InputError, match=r"unknown vendor 'jzyyun'.*jzyyun-sms"):
        st.unlinked_receipts(store_url, vendor="jzyyun")
    s.close()


def test_compare_by_a_column_warns_when_it_pools_campaigns(same_engine_url, db):
    path = replies_before_receipts(same_engine_url)
    with pytest.warns(UserWarning, match="pools the campaigns early, late"):
        st.compare(path, "A", "B", column="variant")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st.compare(db, "A", "B", column="variant", campaign="double11")
        st.compare(path, "early", "late")
    with pytest.warns(UserWarning, match="double11, voice1"):  # variant A is in both
        st.compare(db, "A", "B", column="variant")


@pytest.mark.parametrize(
    ("function", "kwargs", "by"),
    [
        (st.delivery_stats, {}, ["carrier"]),
        (st.reply_stats, {}, ["variant"]),
        (st.replies_by_hour, {}, ["carrier"]),
        (st.latency_distribution, {}, ["carrier", "send_hour"]),
        (st.latency_stats, {}, ["carrier"]),
        (st.delivery_curve, {}, ["carrier"]),
        (st.failure_reasons, {}, ["tier"]),
        (st.voice_stats, {"campaign": "voice1"}, ["carrier"]),
        (st.talk_time_distribution, {"campaign": "voice1"}, ["carrier"]),
        (st.delivery_stats, {}, []),
    ],
)
def test_frames_name_their_group_columns(db, function, kwargs, by):
    frame = function(db, by=by or None, **kwargs)
    assert frame.attrs["by"] == by
    assert all(c in frame.columns for c in by)


def test_a_contact_list_column_named_like_a_computed_column_is_refused(store_url):
    with StoreBuilder(store_url) as s:
        s.campaign("h").batch(
            "h", 1, recipients=[("13800000001", "移动", "广东", "广州", {"hour": 9})]
        )
    assert st.delivery_stats(store_url, by="hour")["hour"].tolist() == [9]
    with pytest.raises(InputError, match="'hour' has the name of a column"):
        st.replies_by_hour(store_url, by="hour")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request):
    """The store ``campaign demo`` leaves, on each engine: conftest's SQLite file (one per
    session), or a copy of it in a PostgreSQL database (``copy_store``, once per module)."""
    path = request.getfixturevalue("demo_store")
    if request.param == "sqlite":
        yield path
        return
    with postgres_database(request.getfixturevalue("postgres_server")) as url:
        copy_store(path, url, progress=False)
        yield url


def test_an_unknown_place_is_none_in_every_table(demo):
    """Numbers without a known city read None everywhere, never NaN in some tables."""
    frames = {
        "delivery_stats": st.delivery_stats(demo, campaign="double11-A", by="city"),
        "reply_stats": st.reply_stats(demo, campaign="double11-A", by="city"),
        "latency_stats": st.latency_stats(demo, campaign="double11-A", by="city"),
        "voice_stats": st.voice_stats(demo, by=["carrier", "city"]),
        "delivery_curve": st.delivery_curve(demo, campaign="double11-A", by="city"),
    }
    for name, frame in frames.items():
        unknown = frame.loc[frame["city"].isna(), "city"]
        assert len(unknown), name
        assert all(value is None for value in unknown), name
        assert frame["city"].iloc[-1] is None, f"{name}: unknown sorts last"
    batches = st.latency_stats(demo, campaign="double11-A", by=["batch", "carrier"])
    assert str(batches["batch"].dtype) == "Int64"


# --------------------------------------------------------------------------- edges a review found


def two_campaigns_by_score(path):
    """Two campaigns of three numbers, batch 1 each; a whole-number ``score`` with a gap."""
    s = StoreBuilder(path)
    for name in ("spring", "autumn"):
        s.campaign(name).batch(
            name,
            1,
            recipients=[
                (f"1380000000{i}", "移动", "广东", None, {"score": i} if i < 3 else {"tier": "x"})
                for i in range(1, 4)
            ],
        )
        s.receipt(name, "13800000001", "delivered", "2024-11-11T10:00:30+08:00")
        s.receipt(name, "13800000002", "failed", "2024-11-11T10:01:00+08:00", code="UNDELIV")
    s.close()
    return path


def test_batch_over_several_campaigns_is_grouped_by_campaign_too(store_url):
    path = two_campaigns_by_score(store_url)
    out = st.delivery_stats(path, by="batch")
    assert out[["campaign", "batch", "submitted"]].values.tolist() == [
        ["autumn", 1, 3],
        ["spring", 1, 3],
    ]  # not one "batch 1" of 6 numbers from two campaigns
    assert out.attrs["by"] == ["campaign", "batch"]
    one = st.delivery_stats(path, by="batch", campaign="spring")
    assert list(one.columns[:2]) == ["batch", "submitted"]


def test_a_whole_number_contact_column_stays_whole_and_gaps_are_missing(store_url):
    path = two_campaigns_by_score(store_url)
    out = st.delivery_stats(path, campaign="spring", by="score")
    assert str(out["score"].dtype) == "Int64"
    assert out["score"].tolist()[:2] == [1, 2]
    assert out["score"].isna().tolist() == [False, False, True]
    tier = st.delivery_stats(path, campaign="spring", by="tier")
    assert tier["tier"].tolist() == ["x", None]
    c = st.compare(path, 1, 2, column="score", campaign="spring")
    assert (c.loc[0, "successes_a"], c.loc[0, "successes_b"]) == (1, 0)
    assert st.compare(path, "1", "2", column="score", campaign="spring").loc[0, "trials_a"] == 1


@pytest.mark.parametrize("campaign", [1, [], [None], "", ["spring", 2]])
def test_campaign_must_be_names(store_url, campaign):
    path = two_campaigns_by_score(store_url)
    with pytest.raises(InputError, match="campaign must be a campaign name"):
        st.delivery_stats(path, campaign=campaign)


def test_compare_refuses_a_value_against_itself(db):
    with pytest.raises(InputError, match="two different campaign values"):
        st.compare(db, "double11", "double11")


def test_tables_without_rows_keep_their_types(store_url):
    with StoreBuilder(store_url) as s:
        s.campaign("sms").batch("sms", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
        s.campaign("call", vendor="veesing-voice", channel="voice")
        s.batch("call", 1, recipients=[("13800000002", "移动", "广东", "广州", {})])
    path = store_url
    for by in (None, "carrier"):
        latency = st.latency_stats(path, campaign="sms", by=by)
        assert latency.empty  # no receipt yet: no row, grouped or not
        assert latency[["receipts", "mean", "p50"]].dtypes.tolist() == ["int64", *["float64"] * 2]
    voice = st.voice_stats(path, campaign="call", by="carrier")
    assert voice.loc[0, "calls"] == 1
    assert voice[["talk_mean", "talk_p50", "talk_p90"]].dtypes.tolist() == ["float64"] * 3
    reasons = st.failure_reasons(path, campaign="sms")
    assert reasons.empty
    assert reasons[["count", "share"]].dtypes.tolist() == ["int64", "float64"]
    assert st.delivery_stats(path, campaign="sms")["ci_low"].tolist() == [0.0]  # not 6.9e-18


def test_wilson_bounds_are_exact_at_none_and_all():
    n = np.arange(1, 40)
    low, high = st.wilson_interval(np.zeros_like(n), n)
    assert (low == 0.0).all()  # rounding gave 5.6e-17 for n = 3
    low, high = st.wilson_interval(n, n)
    assert (high == 1.0).all()  # and 0.9999999999999999 for n = 10
    low, high = st.wilson_interval(7, 9)
    assert 0 < low < high < 1


def test_failure_reasons_docstring_lists_every_reason():
    from campaign.reasons import REASONS

    for reason in REASONS:
        assert reason in st.failure_reasons.__doc__
