"""srm_check: the chi-square test of a split, against scipy, on counts and on a store."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from stats_fixtures import StoreBuilder, _r

import campaign as cp
from campaign.errors import InputError
from campaign.stats.srm import SampleRatioWarning, chi2_sf, warn_if_mismatched


@settings(max_examples=300, deadline=None)
@given(statistic=st.floats(0, 400), df=st.integers(1, 60))
def test_the_chi_square_tail_is_scipys(statistic, df):
    want = scipy_stats.chi2.sf(statistic, df)
    assert chi2_sf(statistic, df) == pytest.approx(want, rel=1e-9, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(counts=st.lists(st.integers(0, 200_000), min_size=2, max_size=6),
       weights=st.lists(st.floats(0.05, 1), min_size=6, max_size=6))  # fmt: skip
def test_srm_check_is_scipys_chisquare(counts, weights):
    if not sum(counts):
        return
    names = [f"v{i}" for i in range(len(counts))]
    shares = dict(zip(names, weights, strict=False))
    check = cp.srm_check(dict(zip(names, counts, strict=True)), expected=shares)
    total = sum(weights[: len(counts)])
    want = scipy_stats.chisquare(counts, [sum(counts) * w / total for w in weights[: len(counts)]])
    assert check.attrs["statistic"] == pytest.approx(want.statistic, rel=1e-9)
    assert check.attrs["p_value"] == pytest.approx(want.pvalue, rel=1e-7, abs=1e-300)
    assert check.attrs["df"] == len(counts) - 1
    assert check["expected_share"].sum() == pytest.approx(1)


def test_a_split_as_planned_and_a_skewed_one():
    fine = cp.srm_check({"A": 5_120, "B": 4_880})
    assert not fine.attrs["mismatch"]
    assert (
        fine.attrs["verdict"] == "the split is as planned (chi-square p = 0.016, not below 0.001)"
    )
    skewed = cp.srm_check({"A": 4_700, "B": 4_300, "holdout": 1_000},
                          expected={"A": 0.45, "B": 0.45, "holdout": 0.1})  # fmt: skip
    assert skewed.attrs["mismatch"]
    assert skewed.attrs["verdict"].startswith(
        "sample ratio mismatch: A 47.0% (planned 45.0%), B 43.0% (planned 45.0%), "
        "holdout 10.0% (planned 10.0%); chi-square p = 0.00014 < 0.001."
    )
    assert skewed[["variant", "submitted"]].values.tolist() == [
        ["A", 4700], ["B", 4300], ["holdout", 1000],
    ]  # fmt: skip
    with pytest.warns(SampleRatioWarning, match="sample ratio mismatch"):
        warn_if_mismatched(skewed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_mismatched(fine)


def test_shares_are_scaled_to_the_variants_checked():
    # the holdout is never sent: A and B are checked at 45:45, i.e. 50/50
    check = cp.srm_check({"A": 500, "B": 500}, expected={"A": 0.45, "B": 0.45, "holdout": 0.1})
    assert check["expected_share"].tolist() == [0.5, 0.5]
    assert check.attrs["p_value"] == 1.0


def test_srm_check_reads_a_store_and_its_planned_split(store_url):
    with StoreBuilder(store_url) as s:
        for name, size, prefix in (("A", 1000, 1380000), ("B", 1000, 1390000)):
            s.campaign(name)
            phones = [f"{prefix}{i:04d}" for i in range(size)]
            s.batch(name, 1, recipients=[_r(p, "移动", "广东", "广州") for p in phones[:800]])
            # B's second batch was refused by the vendor: its 200 numbers were never submitted
            s.batch(name, 2, state="accepted" if name == "A" else "rejected",
                    recipients=[_r(p, "移动", "广东", "广州") for p in phones[800:]])  # fmt: skip
    check = cp.srm_check(store_url, ["A", "B"])
    assert check[["variant", "submitted", "expected_share"]].values.tolist() == [
        ["A", 1000, 0.5], ["B", 800, 0.5],
    ]  # fmt: skip
    assert check.attrs["mismatch"]
    # the same from delivery_stats' table
    table = cp.delivery_stats(store_url, campaign=["A", "B"], by="campaign")
    assert cp.srm_check(table).attrs["p_value"] == pytest.approx(check.attrs["p_value"])
    with pytest.raises(InputError, match="no campaign 'C' in this store; it has: A, B"):
        cp.srm_check(store_url, ["A", "C"])


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        ({"A": 10}, {}, "two or more variants"),
        ({"A": 10, "B": -1}, {}, "the count of 'B' is -1: give a whole number"),
        ({"A": 10, "B": 2.5}, {}, "the count of 'B' is 2.5"),
        ({"A": 10, "B": 10}, {"expected": {"A": 0.5}}, "expected has no share for 'B'"),
        ({"A": 10, "B": 10}, {"expected": {"A": 0.5, "B": 0}}, "planned share of 'B' is 0"),
        (pd.DataFrame({"name": ["A"], "n": [1]}), {}, "a 'variant' \\(or 'campaign'\\)"),
        (pd.DataFrame({"variant": ["A", "A"], "submitted": [1, 2]}), {}, "repeats a variant"),
        ("campaign.db", {}, r"srm_check\(db, campaigns\): name the campaigns"),
    ],
)
def test_srm_errors_say_what_to_give(source, options, message):
    with pytest.raises(InputError, match=message):
        cp.srm_check(source, **options)
