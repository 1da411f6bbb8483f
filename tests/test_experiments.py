"""Splitting lists into variants and sizing tests: statsmodels is the oracle for the figures."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

import campaign as cp
from campaign.errors import InputError


def contacts(n: int, **columns) -> pd.DataFrame:
    return pd.DataFrame(
        {"phone": [f"1{380_000_0000 + i * 7919:010d}" for i in range(n)], **columns}
    )


# --------------------------------------------------------------------------- assign_variants


def test_a_split_has_the_weights_exactly_and_the_same_seed_makes_it_again():
    frame = contacts(10_000)
    split = cp.assign_variants(frame, {"A": 0.45, "B": 0.45, "holdout": 0.1}, seed=7)
    assert split["variant"].value_counts().to_dict() == {"A": 4500, "B": 4500, "holdout": 1000}
    assert split.attrs["seed"] == 7
    again = cp.assign_variants(frame, {"A": 0.45, "B": 0.45, "holdout": 0.1}, seed=7)
    assert again["variant"].equals(split["variant"])
    other = cp.assign_variants(frame, {"A": 0.45, "B": 0.45, "holdout": 0.1}, seed=8)
    assert not other["variant"].equals(split["variant"])
    assert "variant" not in frame.columns  # the input is left alone


def test_the_split_follows_the_numbers_not_the_row_order():
    frame = contacts(2_000)
    split = cp.assign_variants(frame, ["A", "B"], seed=3).set_index("phone")["variant"]
    shuffled = frame.sample(frac=1, random_state=1)
    again = cp.assign_variants(shuffled, ["A", "B"], seed=3).set_index("phone")["variant"]
    assert again.sort_index().equals(split.sort_index())


def test_without_a_seed_one_is_drawn_and_kept_so_the_split_can_be_made_again():
    frame = contacts(500)
    split = cp.assign_variants(frame, ["A", "B"])
    again = cp.assign_variants(frame, ["A", "B"], seed=split.attrs["seed"])
    assert again["variant"].equals(split["variant"])


def test_only_valid_first_numbers_get_a_variant_and_the_others_keep_their_reason(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("手机号\n13800138000\n13800138000\n0755-1234567\n13900139000\n", "utf-8")
    loaded = cp.load_phones(path)
    split = cp.assign_variants(loaded, ["A", "B"], seed=1)
    got = split[["phone", "valid", "duplicate", "variant"]]
    assert got["variant"].notna().tolist() == [True, False, False, True]
    assert split.loc[split["variant"].isna() & ~split["duplicate"], "reason"].notna().all()
    assert sorted(split["variant"].dropna()) == ["A", "B"]


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=5),
    shares=st.sampled_from([(0.5, 0.5), (0.45, 0.45, 0.1), (0.2, 0.3, 0.5), (0.9, 0.1)]),
    seed=st.integers(0, 2**63 - 1),
)
def test_every_stratum_is_split_in_the_same_proportions(sizes, shares, seed):
    carriers = [f"c{i}" for i, n in enumerate(sizes) for _ in range(n)]
    carriers[0] = None  # a row without a carrier is in the stratum 未知
    frame = contacts(len(carriers), carrier=carriers)
    weights = {f"v{i}": s for i, s in enumerate(shares)}
    split = cp.assign_variants(frame, weights, seed=seed, stratify="carrier")
    strata = split["carrier"].fillna("未知")
    for _, group in split.groupby(strata):
        counts = group["variant"].value_counts()
        for name, share in weights.items():
            # exact to one number in every stratum: the largest remainders
            assert abs(counts.get(name, 0) - share * len(group)) < 1
    total = split["variant"].value_counts()
    for name, share in weights.items():
        assert abs(total.get(name, 0) - share * len(split)) < len(sizes) + 1


@pytest.mark.parametrize(
    ("weights", "options", "message"),
    [
        ({"A": 0.5, "B": 0.4}, {}, "weights add up to 0.9, not 1"),
        ({"A": 1.0}, {}, "at least two variants"),
        ({"A": 0.5, "B": -0.5, "C": 1.0}, {}, "weights['B'] = -0.5"),
        ("AB", {}, "give a dict of shares or a list of names"),
        (["A", "B"], {"stratify": "province"}, "stratify='province': no such column"),
        (["A", "B"], {"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_split_errors_say_what_to_give(weights, options, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        cp.assign_variants(contacts(10), weights, **options)


def test_split_needs_phones_and_a_free_column():
    with pytest.raises(InputError, match="no 'phone' column"):
        cp.assign_variants(pd.DataFrame({"mobile": ["13800138000"]}), ["A", "B"])
    with pytest.raises(InputError, match="already have a 'variant' column: pass column="):
        cp.assign_variants(contacts(4, variant="x"), ["A", "B"])
    split = cp.assign_variants(contacts(4, variant="x"), ["A", "B"], column="arm", seed=1)
    assert split["arm"].value_counts().to_dict() == {"A": 2, "B": 2}


# --------------------------------------------------------------------------- sizing


@settings(max_examples=200, deadline=None)
@given(
    baseline=st.floats(0.005, 0.9),
    mde=st.floats(0.002, 0.09),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
    power=st.floats(0.5, 0.95),
    ratio=st.sampled_from([0.5, 1.0, 2.0, 9.0]),
    alternative=st.sampled_from(["two-sided", "larger"]),
)
def test_sample_size_is_statsmodels_normal_ind_power(baseline, mde, alpha, power, ratio,
                                                      alternative):  # fmt: skip
    effect = proportion_effectsize(baseline + mde, baseline)
    want = NormalIndPower().solve_power(
        effect, alpha=alpha, power=power, ratio=ratio, alternative=alternative
    )
    got = cp.sample_size(baseline, mde, alpha=alpha, power=power, ratio=ratio,
                         alternative=alternative)  # fmt: skip
    assert abs(got - want) < 1 + 1e-4 * want
    # the fewest that reach the power, by statsmodels' own (exact) power function
    reach = NormalIndPower().power
    assert reach(effect, got, alpha, ratio=ratio, alternative=alternative) >= power - 1e-9
    if got > 1:
        assert reach(effect, got - 1, alpha, ratio=ratio, alternative=alternative) < power


def test_a_drop_is_sized_two_sided_or_as_smaller():
    want = NormalIndPower().solve_power(
        proportion_effectsize(0.25, 0.3), alpha=0.05, power=0.8, alternative="smaller"
    )
    assert cp.sample_size(0.3, -0.05, alternative="smaller") == math.ceil(want)
    assert cp.sample_size(0.3, -0.05) > cp.sample_size(0.3, -0.05, alternative="smaller")
    with pytest.raises(InputError, match=r"alternative='larger' cannot detect a change of -0\.05"):
        cp.sample_size(0.3, -0.05, alternative="larger")


@settings(max_examples=200, deadline=None)
@given(
    n_a=st.integers(50, 2_000_000),
    share=st.floats(0.1, 10),
    baseline=st.floats(0.001, 0.9),
    alpha=st.sampled_from([0.01, 0.05]),
    power=st.floats(0.5, 0.95),
)
def test_detectable_effect_is_statsmodels_effect_back_as_a_rate(n_a, share, baseline, alpha,
                                                                  power):  # fmt: skip
    n_b = max(1, round(n_a * share))
    h = NormalIndPower().solve_power(None, nobs1=n_a, alpha=alpha, power=power, ratio=n_b / n_a)
    start = math.asin(math.sqrt(baseline))
    got = cp.detectable_effect(n_a, n_b, baseline, alpha=alpha, power=power)
    if start + h / 2 >= math.pi / 2:  # beyond a rate of 100%: nothing is detectable
        assert math.isnan(got)
    else:
        # statsmodels' root finder is loose (1e-3 of h at times); its power function is exact
        assert got == pytest.approx(math.sin(start + h / 2) ** 2 - baseline, rel=1e-2, abs=1e-9)
        mine = proportion_effectsize(baseline + got, baseline)
        assert NormalIndPower().power(mine, n_a, alpha, ratio=n_b / n_a) == pytest.approx(power)


def test_the_detectable_effect_of_the_sample_size_is_the_change_it_was_sized_for():
    n = cp.sample_size(0.02, 0.005)
    assert cp.detectable_effect(n, n, 0.02) == pytest.approx(0.005, abs=1e-5)
    assert cp.detectable_effect(n, n, 0.02) <= 0.005


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cp.sample_size(1.2, 0.01), r"baseline = 1.2: a rate is between 0 and 1"),
        (lambda: cp.sample_size(0.02, 2), r"baseline \+ mde = 2.02: .*absolute change"),
        (lambda: cp.sample_size(0.02, 0), "mde must not be 0"),
        (lambda: cp.sample_size(0.02, 0.01, alpha=5), "alpha=5: the significance level"),
        (lambda: cp.sample_size(0.02, 0.01, power=80), "power=80: the power is between"),
        (lambda: cp.sample_size(0.02, 0.01, ratio=0), "ratio=0"),
        (lambda: cp.sample_size(0.02, 0.01, alternative="bigger"), "alternative='bigger'"),
        (lambda: cp.detectable_effect(0, 10, 0.02), "n_a=0: give the numbers in the variant"),
    ],
)
def test_sizing_errors_say_what_to_give(call, message):
    with pytest.raises(InputError, match=message):
        call()
