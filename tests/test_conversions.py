"""Conversions in, each attributed to the campaign that reached the number (or none)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from stats_fixtures import StoreBuilder, _r

import campaign as cp
from campaign.errors import InputError
from campaign.store import connect

P, Q, H = "13800000001", "13800000002", "13800000003"


@pytest.fixture
def db(store_url):
    """'old' sent to P on Nov 1; 'new' sent to P and Q on Nov 10, and held H out."""
    with StoreBuilder(store_url) as s:
        s.campaign("old")
        s.batch("old", 1, submitted_at="2024-11-01T10:00:00+08:00",
                recipients=[_r(P, "移动", "广东", "广州")])  # fmt: skip
        s.campaign("new")
        both = [_r(P, "移动", "广东", "广州"), _r(Q, "联通", "北京", "北京")]
        s.batch("new", 1, submitted_at="2024-11-10T10:00:00+08:00", recipients=both)
        s.batch("new", 2, state="held_out", submitted_at=None,
                recipients=[_r(H, "移动", "广东", "广州")])  # fmt: skip
        s.batch("new", 3, state="rejected", submitted_at="2024-11-10T10:00:00+08:00",
                recipients=[_r("13800000009", "移动", "广东", "广州")])  # fmt: skip
    return store_url


def stored(db):
    with connect(db) as store:
        return store.rows(
            "SELECT order_id, phone, converted_at, value, campaign, held_out FROM conversions"
            " ORDER BY id"
        )


def orders(*rows):
    return pd.DataFrame(rows, columns=["订单号", "手机号", "支付时间", "实付金额"])


def test_each_order_goes_to_the_latest_campaign_that_reached_it_within_the_window(db):
    got = cp.ingest_conversions(db, orders(
        ("A1", P, "2024-11-05 12:00", "¥99.00"),     # after old, before new
        ("A2", P, "2024-11-12 09:30", "1,299.50"),   # after both: the latest, new
        ("A3", P, "2024-11-20 09:00", "10"),         # new + 7 days has passed
        ("A4", Q, "2024-11-10 09:59", "10"),         # before new sent to Q
        ("A5", H, "2024-11-11 08:00", ""),           # held out of new
        ("A6", "13800000009", "2024-11-11 08:00", "5"),  # in a refused batch: never reached
    ))  # fmt: skip
    assert got == cp.ConversionsResult(inserted=6, attributed=3, unattributed=3, duplicates=0,
                                       rejected=0)  # fmt: skip
    assert stored(db) == [
        ("A1", P, "2024-11-05T12:00:00+08:00", 99.0, "old", 0),
        ("A2", P, "2024-11-12T09:30:00+08:00", 1299.5, "new", 0),
        ("A3", P, "2024-11-20T09:00:00+08:00", 10.0, None, 0),
        ("A4", Q, "2024-11-10T09:59:00+08:00", 10.0, None, 0),
        ("A5", H, "2024-11-11T08:00:00+08:00", None, "new", 1),
        ("A6", "13800000009", "2024-11-11T08:00:00+08:00", 5.0, None, 0),
    ]


def test_a_longer_window_and_campaign_choose_otherwise(db):
    cp.ingest_conversions(db, orders(("B1", P, "2024-11-20 09:00", "10")), window="30d")
    cp.ingest_conversions(db, orders(("B2", P, "2024-11-12 09:30", "10")), window="30d",
                          campaign="old")  # fmt: skip
    assert [(o, c) for o, _, _, _, c, _ in stored(db)] == [("B1", "new"), ("B2", "old")]


def test_the_same_export_again_changes_nothing(db, tmp_path):
    path = tmp_path / "orders.csv"
    # a GBK export without order ids: a conversion is its phone, time and value
    pd.DataFrame({"收货人手机": [P, Q], "下单时间": ["2024-11-12 09:30", "2024/11/12 10:00"],
                  "订单金额": ["10", "20"]}).to_csv(path, index=False, encoding="gbk")  # fmt: skip
    first = cp.ingest_conversions(db, path)
    again = cp.ingest_conversions(db, path)
    assert (first.inserted, first.attributed) == (2, 2)
    assert again == cp.ConversionsResult(duplicates=2)
    assert len(stored(db)) == 2


def test_bad_rows_are_kept_with_their_row_and_reason_and_the_rest_go_in(db, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "订单号,手机号,支付时间,实付金额\n"
        f"C1,{P},2024-11-12 09:30,10\n"
        "C2,0755-1234567,2024-11-12 09:30,10\n"
        f"C3,{Q},yesterday,10\n"
        f"C4,{Q},2024-11-12 09:30,ten\n",
        encoding="utf-8",
    )
    got = cp.ingest_conversions(db, path)
    assert (got.inserted, got.rejected) == (1, 3)
    with connect(db) as store:
        kept = store.rows("SELECT source, body, error FROM rejected ORDER BY id")
    assert [e for _, _, e in kept] == [
        "row 3: phone '0755-1234567': not a mobile number; fix it in the export and ingest it"
        " again",
        "row 4: 支付时间 'yesterday' is not a date and time; fix it in the export and ingest it"
        " again",
        "row 5: 实付金额 'ten' is not an amount; fix it in the export and ingest it again",
    ]
    assert {s for s, _, _ in kept} == {f"file:{path}"}
    again = cp.ingest_conversions(db, path)  # the same export: nothing new, bad rows kept once
    assert (again.inserted, again.duplicates, again.rejected) == (0, 1, 3)
    with connect(db) as store:
        assert store.scalar("SELECT COUNT(*) FROM rejected") == 3
    body = kept[2][1]
    body = body.decode("utf-8") if isinstance(body, bytes) else body
    assert json.loads(body)["订单号"] == "C4"


def test_columns_named_in_english_or_by_argument(db):
    frame = pd.DataFrame({"mobile": [P], "paid_at": ["2024-11-12T09:30:00+08:00"],
                          "amount": [10], "order_id": ["D1"]})  # fmt: skip
    assert cp.ingest_conversions(db, frame).attributed == 1
    odd = pd.DataFrame({"tel": [Q], "when": ["2024-11-12 09:30"], "paid": ["7"]})
    got = cp.ingest_conversions(db, odd, phone="tel", time="when", value="paid")
    assert got.attributed == 1
    assert stored(db)[-1][1:] == (Q, "2024-11-12T09:30:00+08:00", 7.0, "new", 0)


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        (
            pd.DataFrame({"手机号": [P], "备注": ["x"]}),
            {},
            "no time column found among 手机号, 备注",
        ),
        (orders(("E1", P, "2024-11-12", "1")), {"time": "日期"}, "time='日期': no such column"),
        (orders(("E1", P, "2024-11-12", "1")), {"window": "soon"}, "window='soon'"),
        (orders(("E1", P, "2024-11-12", "1")), {"window": "-1d"}, "window='-1d'"),
        (orders(("E1", P, "2024-11-12", "1")), {"campaign": "nope"}, "campaign='nope': no such"),
    ],
)
def test_conversion_errors_say_what_to_give(db, frame, options, message):
    with pytest.raises(InputError, match=message):
        cp.ingest_conversions(db, frame, **options)
