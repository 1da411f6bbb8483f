"""Adjusted p-values for many comparisons: statsmodels' multipletests is the oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from campaign.errors import InputError
from campaign.stats._intervals import adjust_p_values

P_VALUES = st.lists(
    st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.05, 0.05, 1e-12])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(p=P_VALUES, method=st.sampled_from([("holm", "holm"), ("bh", "fdr_bh")]))
def test_adjusted_p_values_are_statsmodels(p, method):
    ours, theirs = method
    want = multipletests(p, method=theirs)[1]
    assert adjust_p_values(p, method=ours) == pytest.approx(want, rel=1e-12, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(p=P_VALUES, gaps=st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_missing_p_value_is_no_test(p, gaps):
    # a group with nothing to compare has no p-value: it neither counts nor gets one
    given_p = [math.nan if gap else v for v, gap in zip(p, gaps, strict=False)]
    known = [v for v in given_p if not math.isnan(v)]
    got = adjust_p_values(given_p, method="holm")
    assert np.isnan(got).tolist() == [math.isnan(v) for v in given_p]
    if known:
        assert got[~np.isnan(got)] == pytest.approx(multipletests(known, method="holm")[1])


def test_an_unknown_correction_names_the_ones_there_are():
    with pytest.raises(InputError, match="correction='bonferoni': one of 'holm', 'bh', or None"):
        adjust_p_values([0.1, 0.2], method="bonferoni")
