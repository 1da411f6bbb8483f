"""cost_stats: billed messages (segments included), cost and cost per result, by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from stats_fixtures import StoreBuilder, _r

import campaign as cp
from campaign.errors import InputError
from campaign.store import connect

T = "2024-11-10T10:00:00+08:00"
LONG = [f"1380000{i:04d}" for i in range(4)]
JZ = [f"1390000{i:04d}" for i in range(5)]


@pytest.fixture
def db(store_url):
    """'long': 4 numbers sent a 2-segment SMS by veesing (3 delivered, 1 replied, 1 bought for
    100) and 2 held out; 'jz': 5 numbers sent a 3-segment SMS by jzyyun (2 delivered); 'free':
    one number through veesing-code, which has no price set."""
    with StoreBuilder(store_url) as s:
        s.campaign("long")
        mobile = [_r(p, "移动", "广东", "广州") for p in LONG]
        s.batch("long", 1, submitted_at=T, recipients=mobile)
        held = [_r(f"1370000000{i}", "移动", "广东", "广州") for i in range(2)]
        s.batch("long", 2, state="held_out", submitted_at=None, recipients=held)
        for i, phone in enumerate(LONG):
            s.receipt("long", phone, "delivered" if i < 3 else "failed", T)
        s.reply("long", LONG[0], "好的", T)
        s.campaign("jz", vendor="jzyyun-sms")
        unicom = [_r(p, "联通", "北京", "北京") for p in JZ]
        s.batch("jz", 1, submitted_at=T, recipients=unicom)
        for i, phone in enumerate(JZ):
            s.receipt("jz", phone, "delivered" if i < 2 else "failed", T)
        s.campaign("free", vendor="veesing-code")
        telecom = [_r("13600000000", "电信", "广东", "广州")]
        s.batch("free", 1, submitted_at=T, recipients=telecom)
        with s.store.transaction():
            s.store.execute("UPDATE batches SET segments = 2 WHERE campaign = 'long'")
            s.store.execute("UPDATE batches SET segments = 3 WHERE campaign = 'jz'")
    orders = pd.DataFrame(
        {"手机号": [LONG[1]], "支付时间": ["2024-11-11 09:00"], "实付金额": [100]}
    )
    cp.ingest_conversions(store_url, orders)
    cp.set_prices(store_url, {"veesing-sms": 0.05, "jzyyun-sms": {"price": 0.04,
                              "billed_on": "delivery"}})  # fmt: skip
    return store_url


def test_cost_per_result_by_hand(db):
    got = cp.cost_stats(db).set_index("campaign")
    long = got.loc["long"]
    # every submitted number billed its 2 segments; the holdout costs nothing
    assert (long.submitted, long.delivered, long.billed) == (4, 3, 8)
    assert (long.price, long.billed_on) == (0.05, "submit")
    assert long.cost == pytest.approx(0.4)
    assert long.cost_per_delivered == pytest.approx(0.4 / 3)
    assert (long.repliers, long.cost_per_reply) == (1, pytest.approx(0.4))
    assert (long.converted, long.revenue) == (1, 100.0)
    assert long.cost_per_conversion == pytest.approx(0.4)
    assert long.return_on_spend == pytest.approx(250.0)
    jz = got.loc["jz"]  # billed on delivery: 2 delivered x 3 segments
    assert (jz.billed, jz.billed_on) == (6, "delivery")
    assert jz.cost == pytest.approx(6 * 0.04)
    assert pd.isna(jz.cost_per_reply)
    assert pd.isna(jz.cost_per_conversion)
    free = got.loc["free"]  # no price: billed as submitted, no cost
    assert free.billed == 1
    assert pd.isna(free.price)
    assert pd.isna(free.cost)
    assert free.billed_on is None


def test_a_price_set_again_replaces_the_old_one_and_by_splits_the_bill(db):
    cp.set_prices(db, {"veesing-sms": 0.06})
    with connect(db) as store:
        assert store.rows("SELECT vendor, price, billed_on FROM prices ORDER BY vendor") == [
            ("jzyyun-sms", 0.04, "delivery"), ("veesing-sms", 0.06, "submit"),
        ]  # fmt: skip
    assert cp.cost_stats(db, campaign="long").loc[0, "cost"] == pytest.approx(0.48)
    split = cp.cost_stats(db, by="carrier")
    assert split.groupby("campaign")["billed"].sum().to_dict() == {"free": 1, "jz": 6, "long": 8}


@pytest.mark.parametrize(
    ("prices", "options", "message"),
    [
        ({}, {}, "give a dict of vendor key -> price"),
        ({"veesing-sms": -1}, {}, r"prices\['veesing-sms'\] = -1: a price is a number"),
        ({"veesing-sms": "cheap"}, {}, "a price is a number of yuan"),
        ({"veesing-sms": {"price": 1, "per": "sms"}}, {}, r"give only 'price' and 'billed_on'"),
        ({"veesing-sms": 0.05}, {"billed_on": "month"}, "billed_on='month' for veesing-sms"),
        ({"nope-sms": 0.05}, {}, "nope-sms"),
    ],
)
def test_price_errors_say_what_to_give(db, prices, options, message):
    with pytest.raises(InputError, match=message):
        cp.set_prices(db, prices, **options)


def test_the_report_shows_the_cost_and_the_cost_per_result(db, tmp_path):
    from campaign.report import report

    page = report(db, campaign="long", path=tmp_path / "long.html").read_text("utf-8")
    results = page.split('<section id="results">')[1].split("</section>")[0]
    assert "0.40 (8 messages at 0.05, billed on submit)" in results
    assert "per delivered 0.1333, per reply 0.4000, per conversion 0.4000" in results
    assert "250.00x" in results
    # a vendor without a price: no cost line, and no Results section when nothing else
    free = report(db, campaign="free", path=tmp_path / "free.html").read_text("utf-8")
    assert '<section id="results">' not in free
