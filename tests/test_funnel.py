"""funnel_stats: planned to converted, and the lift over a holdout, against hand counts."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stats_fixtures import StoreBuilder, _r
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

import campaign as cp
from campaign.errors import InputError
from campaign.store import links

T = "2024-11-10T10:00:00+08:00"
SENT = [f"1380000{i:04d}" for i in range(10)]
HELD = [f"1390000{i:04d}" for i in range(5)]


@pytest.fixture
def d11(store_url):
    """d11 sent to 10 numbers (8 delivered, 3 bought) and held 5 out (1 bought); 'other'
    sent to one of them too, and its order is not d11's."""
    with StoreBuilder(store_url) as s:
        s.campaign("d11")
        s.batch("d11", 1, submitted_at=T,
                recipients=[_r(p, "移动" if i < 6 else "联通", "广东", "广州")
                            for i, p in enumerate(SENT)])  # fmt: skip
        s.batch("d11", 2, state="held_out", submitted_at=None,
                recipients=[_r(p, "移动", "广东", "广州") for p in HELD])  # fmt: skip
        for i, phone in enumerate(SENT):
            s.receipt("d11", phone, "delivered" if i < 8 else "failed", T)
        s.campaign("other")
        s.batch("other", 1, submitted_at="2024-11-12T10:00:00+08:00",
                recipients=[_r(SENT[9], "联通", "广东", "广州")])  # fmt: skip
    orders = pd.DataFrame(
        [
            ("o1", SENT[0], "2024-11-11 09:00", 10), ("o2", SENT[0], "2024-11-11 10:00", 5),
            ("o3", SENT[1], "2024-11-11 09:00", 20), ("o4", SENT[6], "2024-11-11 09:00", 30),
            ("o5", HELD[0], "2024-11-11 09:00", 50),
            ("o6", SENT[9], "2024-11-13 09:00", 99),  # after 'other' reached it: other's
        ],
        columns=["订单号", "手机号", "支付时间", "实付金额"],
    )  # fmt: skip
    cp.ingest_conversions(store_url, orders)
    return store_url


def test_the_funnel_and_the_lift_over_the_holdout_by_hand(d11):
    row = cp.funnel_stats(d11, campaign="d11").iloc[0]
    assert (row.recipients, row.submitted, row.delivered, row.converted) == (10, 10, 8, 3)
    assert row.revenue == 65.0  # SENT[0] bought twice: one converted number, both orders' value
    assert (row.held_out, row.held_out_converted, row.held_out_revenue) == (5, 1, 50.0)
    assert (row.delivery_rate, row.conversion_rate, row.held_out_rate) == (0.8, 0.3, 0.2)
    assert row.lift == pytest.approx(0.1)
    low, high = confint_proportions_2indep(3, 10, 1, 5, method="newcomb")
    assert (row.lift_ci_low, row.lift_ci_high) == pytest.approx((low, high))
    assert row.lift_p_value == pytest.approx(proportions_ztest([3, 1], [10, 5])[1])
    assert row.relative_lift == pytest.approx(0.5)
    assert row.incremental_conversions == pytest.approx(1.0)
    assert row.incremental_revenue == pytest.approx((65 / 10 - 50 / 5) * 10)
    other = cp.funnel_stats(d11, campaign="other").iloc[0]
    assert (other.converted, other.revenue, other.held_out) == (1, 99.0, 0)
    assert pd.isna(other.lift)
    assert pd.isna(other.held_out_rate)


def test_by_carrier_splits_the_same_numbers(d11):
    total = cp.funnel_stats(d11, campaign="d11")
    split = cp.funnel_stats(d11, campaign="d11", by="carrier")
    assert split["carrier"].tolist() == ["移动", "联通"]
    assert split["submitted"].tolist() == [6, 4]
    assert split["held_out"].tolist() == [5, 0]  # the holdout was all 移动
    for name in ("recipients", "submitted", "delivered", "converted", "revenue", "held_out"):
        assert split[name].sum() == total.loc[0, name]
    assert split.attrs["by"] == ["campaign", "carrier"]


def test_a_holdout_has_no_batch_or_send_time_to_group_by(d11):
    with pytest.raises(InputError, match="funnel_stats by batch: a holdout is never sent"):
        cp.funnel_stats(d11, by="batch")
    with pytest.raises(InputError, match="no campaign 'nope'"):
        cp.funnel_stats(d11, campaign="nope")


PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # campaign
        st.sampled_from(["accepted", "rejected", "held_out"]),  # its batch
        st.sampled_from([None, "delivered", "failed"]),  # latest receipt
        st.lists(st.integers(1, 500), max_size=3),  # order values, within the window
        st.lists(st.sampled_from(["mobile", "desktop", "bot", "other"]), max_size=3),  # clicks
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=PEOPLE)
def test_the_funnel_is_a_naive_recount(tmp_path_factory, people):
    """'a' gives each number it plans to send to a code of its own, 'b' one shared code."""
    db = tmp_path_factory.mktemp("funnel") / "campaign.db"
    rows, orders, codes, clicks = [], [], [], []
    with StoreBuilder(db) as s:
        for name in ("a", "b"):
            s.campaign(name)
            for number, state in enumerate(("accepted", "rejected", "held_out"), start=1):
                prefix = "138" if name == "a" else "139"
                mine = [(f"{prefix}{i:08d}", person) for i, person in enumerate(people)
                        if person[0] == name and person[1] == state]  # fmt: skip
                if not mine:
                    continue
                s.batch(name, number, state=state, submitted_at=None if state == "held_out" else T,
                        recipients=[_r(p, "移动", "广东", "广州") for p, _ in mine])  # fmt: skip
                for phone, (_, _, receipt, values, agents) in mine:
                    if receipt and state == "accepted":
                        s.receipt(name, phone, receipt, T)
                    orders += [(phone, "2024-11-11 09:00", v) for v in values]
                    if state != "held_out":
                        code = f"a{phone}" if name == "a" else "b-shared"
                        if name == "a" or not codes or codes[-1][0] != code:
                            codes.append((code, name, phone if name == "a" else None))
                        clicks += [(code, f"2024-11-11T20:00:00.{len(clicks) + i:06d}+08:00",
                                    agent) for i, agent in enumerate(agents)]  # fmt: skip
                    rows.append((name, state, receipt if state == "accepted" else None, values,
                                 agents if state != "held_out" else []))  # fmt: skip
        with s.store.transaction():
            links.write_links(s.store, [(code, name, phone, "https://shop.example.com", code, T)
                                        for code, name, phone in codes])  # fmt: skip
            links.write_clicks(s.store, [(*c, "test", T) for c in clicks])
    if orders:
        frame = pd.DataFrame(orders, columns=["手机号", "支付时间", "实付金额"])
        frame["订单号"] = [f"o{i}" for i in range(len(frame))]
        cp.ingest_conversions(db, frame)
    got = cp.funnel_stats(db).set_index("campaign")
    for name in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == name]
        sent = [r for r in mine if r[1] == "accepted"]
        held = [r for r in mine if r[1] == "held_out"]
        # a held-out number is exposed from the campaign's first send: with no send, none
        held_bought = [r for r in held if r[3]] if sent else []
        row = got.loc[name]
        assert row.recipients == len([r for r in mine if r[1] != "held_out"])
        assert row.submitted == len(sent)
        assert row.delivered == len([r for r in sent if r[2] == "delivered"])
        assert row.converted == len([r for r in sent if r[3]])
        assert row.revenue == sum(sum(r[3]) for r in sent)
        assert row.held_out == len(held)
        assert row.held_out_converted == len(held_bought)
        assert row.held_out_revenue == sum(sum(r[3]) for r in held_bought)
        people_clicks = [len([a for a in r[4] if a != "bot"]) for r in mine]
        if name == "a" and any(r[1] != "held_out" for r in mine):  # codes of its own
            sent_clicks = [len([a for a in r[4] if a != "bot"]) for r in sent]
            assert row.clicks == sum(sent_clicks)  # clicks on the codes of submitted numbers
            assert row.clicked == len([n for n in sent_clicks if n])
        elif name == "b" and any(r[1] != "held_out" for r in mine):  # one shared code
            assert row.clicks == sum(people_clicks)  # every click on it, not by whom
            assert pd.isna(row.clicked)
            assert pd.isna(row.click_rate)
        else:  # no link: nothing to count
            assert pd.isna(row.clicks)
            assert pd.isna(row.clicked)


def test_the_report_shows_the_results_and_the_lift(d11, tmp_path):
    from campaign.report import report

    page = report(d11, campaign="d11", path=tmp_path / "d11.html").read_text("utf-8")
    section = page.split('<section id="results">')[1].split("</section>")[0]
    assert "3 of 10 submitted" in section
    assert "30.0% (95% CI" in section
    assert "65.00" in section
    assert "1 of 5 held out: 20.0%" in section
    assert "+10.0 points (95% CI" in section
    assert "No lift shown" in section  # 3/10 against 1/5 could be chance
    assert '<img alt="Funnel" src="data:image/png;base64,' in section  # the funnel chart
    bare = report(d11, campaign="other", path=tmp_path / "other.html").read_text("utf-8")
    results = bare.split('<section id="results">')[1].split("</section>")[0]
    assert "1 of 1 submitted" in results  # 'other' has a conversion but no holdout
    assert "lift over the holdout" not in results


def test_the_demo_reports_show_clicks_by_person_or_on_the_shared_link(demo_store, tmp_path):
    from campaign.report import report

    def results(campaign):
        page = report(demo_store, campaign=campaign, path=tmp_path / f"{campaign}.html")
        return page.read_text("utf-8").split('<section id="results">')[1].split("</section>")[0]

    own = cp.funnel_stats(demo_store, campaign="vip-jzyyun").iloc[0]  # a link per number
    assert 0 < own.clicked <= own.clicks
    section = results("vip-jzyyun")
    assert f"{own.clicked:,} of {own.delivered:,} delivered clicked: " in section
    assert "per click " in section

    shared = cp.funnel_stats(demo_store, campaign="double11-A").iloc[0]  # one link for all
    assert shared.clicks > 0
    assert pd.isna(shared.clicked)
    section = results("double11-A")
    assert (
        f"{shared.clicks:,} clicks on the campaign&#39;s link (one link for every number" in section
    )
    assert "numbers delivered. Cost is" in section
