"""compare per group, with corrections, several variants against a control, and what an
underpowered or skewed test says; statsmodels is the oracle for the numbers."""

from __future__ import annotations

import warnings

import pytest
from stats_fixtures import StoreBuilder, _r
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import campaign as cp
from campaign.errors import InputError

CARRIERS = ("移动", "联通", "电信")


def variants(db, plan):
    """Campaigns of one batch each: ``plan`` maps name -> {carrier: (delivered, submitted)};
    ``planned`` numbers beyond the submitted ones sit in a refused batch."""
    with StoreBuilder(db) as s:
        for c, (name, groups) in enumerate(plan.items()):
            s.campaign(name)
            phones, delivered, refused = [], [], []
            for carrier, (ok, total, *more) in groups.items():
                start = len(phones) + len(refused)
                mine = [
                    f"1{38 + c}{start + i:08d}" for i in range(total + (more[0] if more else 0))
                ]
                phones += [(p, carrier) for p in mine[:total]]
                refused += [(p, carrier) for p in mine[total:]]
                delivered += mine[:ok]
            s.batch(name, 1, recipients=[_r(p, k, "广东", "广州") for p, k in phones])
            if refused:
                s.batch(name, 2, state="rejected",
                        recipients=[_r(p, k, "广东", "广州") for p, k in refused])  # fmt: skip
            with s.store.transaction():
                s.store.executemany(
                    "INSERT INTO deliveries (campaign, phone, batch, vendor, status, received_at,"
                    " carrier, province, city, receipt_id) VALUES (?, ?, 1, 'veesing-sms', ?,"
                    " '2024-11-11T10:01:00+08:00', ?, '广东', '广州', ?)",
                    [(name, p, "delivered" if p in set(delivered) else "failed", k, i)
                     for i, (p, k) in enumerate(phones)],
                )  # fmt: skip
    return db


PLAN = {
    "A": {"移动": (470, 500), "联通": (180, 200), "电信": (90, 100)},
    "B": {"移动": (440, 500), "联通": (186, 200), "电信": (91, 100)},
    "C": {"移动": (455, 500), "联通": (170, 200), "电信": (80, 100)},
}


@pytest.fixture
def three(store_url):
    return variants(store_url, PLAN)


def test_by_carrier_with_holm_and_bh_matches_statsmodels(three):
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        got = cp.compare(three, "A", "B", by="carrier", correction=ours)
        assert sorted(got["carrier"]) == sorted(CARRIERS)
        raw = []
        for row in got.itertuples():
            (ka, na), (kb, nb) = PLAN["A"][row.carrier], PLAN["B"][row.carrier]
            assert (row.successes_a, row.trials_a, row.successes_b, row.trials_b) == (
                ka, na, kb, nb,
            )  # fmt: skip
            _, p = proportions_ztest([ka, kb], [na, nb])
            assert row.p_value == pytest.approx(p)
            raw.append(p)
        assert got["p_adjusted"].tolist() == pytest.approx(
            list(multipletests(raw, method=theirs)[1])
        )
        assert set(got["correction"]) == {ours}
    # 移动: 94% vs 88%, p = 0.0009 raw, still below 0.05 after Holm over 3 groups
    mobile = got[got["carrier"] == "移动"].iloc[0]
    assert "A is really higher" in mobile.verdict
    assert "adjusted (Benjamini-Hochberg, 3 comparisons)" in mobile.verdict


def test_the_verdicts_use_the_adjusted_p_values(store_url):
    # 联通: 60% vs 50%, p = 0.044 alone; asked in three groups, Holm makes it 0.13
    db = variants(store_url, {
        "A": {"移动": (90, 100), "联通": (120, 200), "电信": (50, 100)},
        "B": {"移动": (90, 100), "联通": (100, 200), "电信": (50, 100)},
    })  # fmt: skip
    alone = cp.compare(db, "A", "B", by="carrier")
    corrected = cp.compare(db, "A", "B", by="carrier", correction="holm")
    assert "p_adjusted" not in alone.columns
    before = alone[alone["carrier"] == "联通"].iloc[0]
    after = corrected[corrected["carrier"] == "联通"].iloc[0]
    assert before.p_value == after.p_value == pytest.approx(0.0444, abs=1e-4)
    assert "A is really higher" in before.verdict
    assert after.p_adjusted == pytest.approx(3 * after.p_value)
    assert "adjusted (Holm, 3 comparisons): no difference shown" in after.verdict


def test_several_variants_against_a_control_are_corrected_by_holm(three):
    got = cp.compare(three, ["A", "B", "C"], control="A")
    assert got[["a", "b"]].values.tolist() == [["B", "A"], ["C", "A"]]
    raw = []
    for row in got.itertuples():
        k = [sum(v[0] for v in PLAN[x].values()) for x in (row.a, row.b)]
        n = [sum(v[1] for v in PLAN[x].values()) for x in (row.a, row.b)]
        raw.append(proportions_ztest(k, n)[1])
    assert got["p_adjusted"].tolist() == pytest.approx(list(multipletests(raw, method="holm")[1]))
    assert (got["correction"] == "holm").all()
    assert "2 comparisons" in got.loc[0, "verdict"]
    # the first variant is the control unless named
    assert cp.compare(three, ["B", "A"])[["a", "b"]].values.tolist() == [["A", "B"]]
    none = cp.compare(three, ["A", "B", "C"], control="A", correction="bh")
    assert (none["correction"] == "bh").all()


def test_an_underpowered_test_says_what_it_could_have_detected(store_url):
    db = variants(store_url, {"A": {"移动": (93, 100)}, "B": {"移动": (90, 100)}})
    got = cp.compare(db, "A", "B")
    row = got.iloc[0]
    assert row.p_value > 0.05
    assert row.detectable_difference == pytest.approx(cp.detectable_effect(100, 100, 0.9))
    assert row.verdict.endswith(
        f"no difference shown; with these numbers only a change of at least "
        f"{row.detectable_difference * 100:.1f} points could have been detected."
    )
    assert 5 < row.detectable_difference * 100 < 15


def test_comparing_a_skewed_split_warns(store_url):
    # B planned 1,000 like A, but 200 of its numbers sat in a batch the vendor refused
    db = variants(store_url, {"A": {"移动": (900, 1000)}, "B": {"移动": (720, 800, 200)}})
    with pytest.warns(cp.SampleRatioWarning, match="sample ratio mismatch: A 55.6%"):
        got = cp.compare(db, "A", "B")
    assert got.attrs["srm"]["mismatch"]


def test_an_even_split_gives_no_warning(three):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = cp.compare(three, "A", "B")
    assert not got.attrs["srm"]["mismatch"]


def test_a_group_one_side_lacks_is_said_not_compared(store_url):
    db = variants(store_url, {"A": {"移动": (90, 100), "联通": (10, 10)},
                              "B": {"移动": (80, 100)}})  # fmt: skip
    got = cp.compare(db, "A", "B", by="carrier", correction="holm")
    unicom = got[got["carrier"] == "联通"].iloc[0]
    assert unicom.trials_b == 0
    assert unicom.verdict == (
        "delivery rate (carrier 联通): A or B has no submitted here, nothing to compare."
    )
    assert unicom.p_value != unicom.p_value  # NaN, and not counted in the correction
    mobile = got[got["carrier"] == "移动"].iloc[0]
    assert mobile.p_adjusted == pytest.approx(mobile.p_value)


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        ((["A", "B"], "C"), {}, "give several variants as one list and the control as control="),
        ((["A", "B"],), {"control": "Z"}, "control='Z' is not one of the variants"),
        (("A", "B"), {"control": "A"}, "control= goes with a list of variants"),
        (("A",), {}, "compare needs what to compare"),
        ((["A"],), {}, "two or more different variants"),
        (("A", "B"), {"by": "campaign"}, "by='campaign' is what is compared"),
        (("A", "B"), {"correction": "bonferroni"}, "correction='bonferroni': one of 'holm', 'bh'"),
        (("A", "Z"), {}, "no campaign 'Z'"),
    ],
)
def test_compare_errors_say_what_to_give(three, args, options, message):
    with pytest.raises(InputError, match=message):
        cp.compare(three, *args, **options)
