"""Failure reasons and opt-out detection: the taxonomy, its sources, whole-reply matching."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.reasons import (
    CODE_REASONS,
    CODE_SOURCES,
    OPT_OUT_WORDS,
    OTHER,
    REASONS,
    failure_reason,
    is_opt_out,
    normalise_reply,
    opt_out_flags,
)

WORDS = ["退订", "TD", "T", "N", "R", "拒收", "取消"]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("EXPIRED", "过期未送达"),
        ("UNDELIV", "停机"),
        ("REJECTD", "黑名单/拦截"),
        ("MK:0001", "空号"),
        ("mk:0001", "空号"),
        (" DB:0141 ", "黑名单/拦截"),
        ("MI:0013", "关机/不在服务区"),
        ("MA:0001", "黑名单/拦截"),
        ("MN:0001", OTHER),  # ambiguous in the source: not guessed
        ("0", OTHER),  # jzyyun: status only
        (None, OTHER),
        ("SOMETHING-NEW", OTHER),
    ],
)
def test_codes_map_to_the_taxonomy(code, reason):
    assert failure_reason(code) == reason


def test_every_mapping_names_its_source_and_a_known_reason():
    assert set(CODE_REASONS) == set(CODE_SOURCES)
    assert set(CODE_SOURCES.values()) <= {"seed", "cmpp", "tencent", "aggregator"}
    assert set(CODE_REASONS.values()) <= set(REASONS)


def test_only_failed_receipts_have_a_reason():
    assert failure_reason("DELIVRD", status="delivered") is None
    assert failure_reason("EXPIRED", status="unknown") is None


def test_voice_remarks_and_overrides():
    assert failure_reason("NOANSWER", remark="用户未接听") == "未接听"
    assert failure_reason("POWEROFF", remark="关机") == "关机/不在服务区"
    assert failure_reason("X:1", reasons={"x:1": "空号"}) == "空号"
    assert failure_reason("EXPIRED", reasons={"EXPIRED": "其他"}) == "其他"


PADS = st.sampled_from(["", " ", "　", "\n", "\u200b", "\ufeff", "\u200e"])  # + invisible
TAILS = st.sampled_from(["", "。", "!", "！", ".", "~", "…"])


@given(st.sampled_from(WORDS), PADS, TAILS, st.booleans(), st.booleans())
def test_opt_out_words_in_any_width_case_and_trailing_punctuation(word, pad, tail, wide, lower):
    text = word.lower() if lower else word
    text = full_width(text) if wide else text
    assert is_opt_out(f"{pad}{text}{tail}{pad}")


@given(st.sampled_from(WORDS), st.text(min_size=1, max_size=8))
def test_an_opt_out_word_inside_a_sentence_is_not_an_opt_out(word, other):
    folded = normalise_reply(other)
    if not folded or folded in OPT_OUT_WORDS:
        return
    for sentence in (f"{other}{word}", f"{word}{other}"):
        if normalise_reply(sentence) not in OPT_OUT_WORDS:
            assert not is_opt_out(sentence)


@pytest.mark.parametrize(
    "text",
    ["我不想退订", "T恤多少钱", "回T退订", "TDD", "NO", "取消了吗?好的", "收到", "", None, "R R"],
)
def test_sentences_are_not_opt_outs(text):
    assert not is_opt_out(text)


@given(st.text(max_size=20))
def test_normalise_is_idempotent_and_never_fails(text):
    once = normalise_reply(text)
    assert normalise_reply(once) == once
    assert once == unicodedata.normalize("NFKC", once)


def test_flags_computed_per_distinct_text():
    assert opt_out_flags(["TD", "好的", "TD", None]) == [1, 0, 1, 0]
