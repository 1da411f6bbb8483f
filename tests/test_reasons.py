"""Failure reasons and opt-out detection: the taxonomy, its sources, whole-reply matching."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.reasons import (
    CODE_REASONS,
    CODE_SOURCES,
    EMPTY_SUSPENDED_OR_OFF,
    OPT_OUT_WORDS,
    OTHER,
    REASONS,
    STATUS_ONLY_VENDORS,
    carries_reason,
    failure_reason,
    is_opt_out,
    normalise_reply,
    opt_out_flags,
)
from campaign.vendors import jzyyun_sms, veesing_sms

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
        ("0", OTHER),  # jzyyun: status only
        (None, OTHER),
        ("SOMETHING-NEW", OTHER),
        ("IA:0054", OTHER),  # a carrier-internal timeout: no reason of the taxonomy
    ],
)
def test_codes_map_to_the_taxonomy(code, reason):
    assert failure_reason(code) == reason


@pytest.mark.parametrize(
    ("code", "reason", "source"),
    [
        # China Mobile (CMPP): the gateway says 空号, 停机 or 关机 without saying which
        ("MN:0001", "空号/停机/关机", "tencent"),
        ("MN:0054", "空号/停机/关机", "tencent"),
        ("MK:0005", "空号/停机/关机", "tencent"),
        ("MI:0059", "空号/停机/关机", "huawei"),
        ("MN:0051", "空号", "tencent"),
        ("MI:0073", "空号", "huawei"),
        ("DB:0101", "空号", "cmpp"),
        ("DB:0102", "停机", "cmpp"),
        ("MB:1038", "停机", "tencent"),
        ("MK:0043", "关机/不在服务区", "tencent"),
        ("MI:0082", "关机/不在服务区", "huawei"),
        ("MN:0036", "关机/不在服务区", "tencent"),
        ("MK:0010", "关机/不在服务区", "tencent"),
        ("MB:1077", "黑名单/拦截", "tencent"),
        ("MK:0118", "黑名单/拦截", "tencent"),
        # China Unicom (SGIP)
        ("SGIP:1", "空号", "tencent"),
        ("SGIP:5", "停机", "tencent"),
        ("SGIP:-37", "关机/不在服务区", "tencent"),
        ("SGIP:4", "空号/停机/关机", "tencent"),
        ("LT:0001", "空号", "tencent"),
        # China Telecom (SMGP)
        ("SMGP640", "空号", "tencent"),
        ("SMGP705", "停机", "tencent"),
        ("SMGP702", "关机/不在服务区", "tencent"),
        ("SMGP601", "空号/停机/关机", "tencent"),
    ],
)
def test_common_gateway_codes_of_the_three_carriers_are_read(code, reason, source):
    """Codes that used to land in 其他, each read as its source documents it."""
    assert failure_reason(code) == reason
    assert CODE_SOURCES[code] == source


def test_every_mapping_names_its_source_and_a_known_reason():
    assert set(CODE_REASONS) == set(CODE_SOURCES)
    assert set(CODE_SOURCES.values()) <= {"seed", "cmpp", "tencent", "huawei", "aggregator"}
    assert set(CODE_REASONS.values()) <= set(REASONS)
    assert all(code == code.strip().upper() for code in CODE_REASONS)


def test_the_ambiguous_reason_is_its_own_and_shown_after_the_three_it_joins():
    assert EMPTY_SUSPENDED_OR_OFF == "空号/停机/关机"
    assert REASONS.index(EMPTY_SUSPENDED_OR_OFF) == REASONS.index("关机/不在服务区") + 1


def test_a_status_only_vendor_carries_no_reason():
    """jzyyun reports 0 (failed) and nothing else: the report can say the vendor gives none."""
    body = (
        b"<smsreport><psreport><mobile>13800138000</mobile><smslogid>66</smslogid>"
        b"<status>0</status><sendtime>2024-11-11 10:00:00.0</sendtime></psreport></smsreport>"
    )
    (receipt,) = jzyyun_sms.parse_reports(body)
    assert receipt.status == "failed"
    assert not carries_reason(receipt.code, vendor=receipt.vendor)
    assert "jzyyun-sms" in STATUS_ONLY_VENDORS
    assert failure_reason(receipt.code) == OTHER  # still counted, as 其他


def test_a_gateway_code_or_a_remark_carries_a_reason():
    form = {"mobile": "13800138000", "taskid": "1", "status": "0", "code": "MN:0001"}
    receipt = veesing_sms.parse_push({**form, "receivetime": "2024-11-11 10:00:00"})
    assert carries_reason(receipt.code, vendor=receipt.vendor)
    assert carries_reason("SOMETHING-NEW", vendor="veesing-sms")  # unread, but a reason
    assert carries_reason(None, vendor="veesing-voice", remark="用户关机")
    assert not carries_reason(None, vendor="veesing-sms")
    assert not carries_reason("  ", vendor="veesing-sms", remark="")


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
