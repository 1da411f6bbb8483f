"""Balance reconciliation: send records the vendor's balance around each run, cost_stats sets
the vendor's own count beside the expected one and flags a gap (issue 17).

Runs against the real simulator on 127.0.0.1, on both store engines.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from click.testing import CliRunner

import campaign as cp
from campaign.cli import main
from campaign.simulator import serve
from campaign.store import connect

SMS = "【云通信】双11会员专享,全场五折,回T退订"
LONG = "【云通信】" + "双11会员专享全场五折" * 7 + "回T退订"  # 2 segments of 67
KEY = "app-key-secret-7731"
PASSWORD = "jz-password-secret-4412"


def numbers(n: int, start: int = 13800000000) -> list[str]:
    return [str(start + i) for i in range(n)]


def runs(db) -> list[dict]:
    with connect(db) as store:
        cursor = store.execute(
            "SELECT campaign, vendor, balance_before, balance_after, expected, started_at,"
            " finished_at FROM balances ORDER BY id"
        )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def veesing(sim, **kw):
    return cp.vendor("veesing-sms", app_id="acct", app_key=KEY, base_url=sim.url, **kw)


def jzyyun(sim, **kw):
    return cp.vendor("jzyyun-sms", username="u", password=PASSWORD, base_url=sim.url, **kw)


def test_long_sms_is_counted_per_number_and_segment_and_after_comes_from_remain_point(
    store_url,
):
    assert cp.count_segments(LONG, cp.vendor_limits("veesing-sms")) == 2
    with serve(seed=1) as sim:
        plan = cp.plan_batches(numbers(5), vendor="veesing-sms", content=LONG, batch_size=2)
        sent = cp.send(plan, veesing(sim), db=store_url, campaign="long", progress=False)
        assert sent["state"].tolist() == ["accepted"] * 3
        assert sim.balance("veesing-sms", "acct") == 100_000 - 10
        # one query before; the answers' remainPoint gave the after side
        assert len(sim.calls("veesing-sms", "balance")) == 1
    (run,) = runs(store_url)
    assert run["campaign"] == "long"
    assert run["vendor"] == "veesing-sms"
    assert (run["balance_before"], run["balance_after"], run["expected"]) == (100_000, 99_990, 10)
    assert run["started_at"].endswith("+08:00")
    assert run["started_at"] <= run["finished_at"]

    row = cp.cost_stats(store_url).iloc[0]
    assert (row.vendor_count, row.expected_count, row.count_gap) == (10, 10, 0)
    assert not row.balance_gap


def test_jzyyun_and_ihuyi_voice_record_their_balances(store_url):
    with serve(seed=1, jzyyun_balance_interval=0) as sim:
        plan = cp.plan_batches(numbers(4), vendor="jzyyun-sms", content=LONG, batch_size=3)
        cp.send(plan, jzyyun(sim), db=store_url, campaign="jz", progress=False)
        voice = cp.vendor("ihuyi-voice", account="C1", api_key=KEY, base_url=sim.url)
        plan = cp.plan_batches(numbers(3, 13900000000), vendor="ihuyi-voice", content="1234")
        cp.send(plan, voice, db=store_url, campaign="voice", progress=False)
        assert len(sim.calls("jzyyun-sms", "balance")) == 2  # getRestMoney before and after
        assert len(sim.calls("ihuyi-voice", "balance")) == 2  # GetNum before and after
    jz, call = runs(store_url)
    # jzyyun draws on the gateway pool (smstype 1): 4 numbers x 2 segments
    assert (jz["vendor"], jz["balance_before"], jz["balance_after"], jz["expected"]) == (
        "jzyyun-sms", 100_000, 99_992, 8,
    )  # fmt: skip
    assert (call["vendor"], call["balance_before"], call["balance_after"], call["expected"]) == (
        "ihuyi-voice", 100_000, 99_997, 3,
    )  # fmt: skip
    stats = cp.cost_stats(store_url, by="vendor").set_index("campaign")
    assert stats.loc["jz", "vendor"] == "jzyyun-sms"
    assert stats["count_gap"].tolist() == [0, 0]
    assert stats["balance_gap"].tolist() == [False, False]


def test_overbilling_shows_a_gap_in_cost_stats_and_the_cli(store_url, tmp_path):
    with serve(seed=1, overbill=0.1) as sim:
        plan = cp.plan_batches(numbers(20), vendor="veesing-sms", content=SMS, batch_size=10)
        cp.send(plan, veesing(sim), db=store_url, campaign="over", progress=False)
    (run,) = runs(store_url)
    assert run["balance_before"] - run["balance_after"] == 22  # 20 billed, 10% more drawn
    row = cp.cost_stats(store_url, campaign="over").iloc[0]
    assert (row.vendor_count, row.expected_count, row.count_gap) == (22, 20, 2)
    assert row.balance_gap

    result = CliRunner().invoke(main, ["cost", "--db", str(store_url)])
    assert result.exit_code == 0, result.output
    assert "over: the vendor drew 2 more units (22) than the messages submitted (20)" in (
        result.output
    )
    assert "another campaign on the same account" in result.output
    assert "overbilling" in result.output


def test_no_gap_no_line_and_other_groups_are_na(store_url):
    with serve(seed=1) as sim:
        plan = cp.plan_batches(numbers(6), vendor="veesing-sms", content=SMS, batch_size=3)
        cp.send(plan, veesing(sim), db=store_url, campaign="fair", progress=False)
    result = CliRunner().invoke(main, ["cost", "--db", str(store_url)])
    assert result.exit_code == 0, result.output
    assert "the vendor drew" not in result.output
    by_carrier = cp.cost_stats(store_url, by="carrier")
    for name in ("vendor_count", "expected_count", "count_gap", "balance_gap"):
        assert by_carrier[name].isna().all()
    assert cp.cost_stats(store_url, by="campaign")["vendor_count"].tolist() == [6]


def test_a_refused_balance_query_still_sends_and_records_none(store_url, caplog):
    with serve(seed=1) as sim:
        sim.inject("vendor_error", vendor="veesing-sms", operation="balance", times=None)
        plan = cp.plan_batches(numbers(4), vendor="veesing-sms", content=SMS, batch_size=2)
        with caplog.at_level(logging.WARNING):
            sent = cp.send(plan, veesing(sim), db=store_url, campaign="c", progress=False)
        assert sent["state"].tolist() == ["accepted", "accepted"]
    (run,) = runs(store_url)
    assert run["balance_before"] is None
    assert run["balance_after"] == 99_996  # the answers still said
    assert run["expected"] == 4
    assert "the before balance could not be read" in caplog.text
    assert "未知原因" in caplog.text  # the vendor's own words
    assert KEY not in caplog.text
    row = cp.cost_stats(store_url).iloc[0]
    assert pd.isna(row.vendor_count)  # one side unknown: the run cannot be reconciled
    assert pd.isna(row.balance_gap)


def test_an_unreachable_balance_still_sends_and_records_none(store_url, caplog):
    dead = cp.vendor("jzyyun-sms", username="u", password=PASSWORD, base_url="http://127.0.0.1:9",
                     timeout=(0.5, 0.5), retries=0)  # fmt: skip
    with serve(seed=1, jzyyun_balance_interval=0) as sim:
        client = jzyyun(sim)
        client.balance = dead.balance  # balances asked of an address nothing listens on
        plan = cp.plan_batches(numbers(3), vendor="jzyyun-sms", content=SMS)
        with caplog.at_level(logging.DEBUG):
            sent = cp.send(plan, client, db=store_url, campaign="c", progress=False)
        assert sent["state"].tolist() == ["accepted"]
    (run,) = runs(store_url)
    assert (run["balance_before"], run["balance_after"], run["expected"]) == (None, None, 3)
    assert "the after balance could not be read" in caplog.text
    assert "cannot reach 127.0.0.1:9" in caplog.text
    for secret in (PASSWORD, cp.vendors.jzyyun_sms.encode_password(PASSWORD)):
        assert secret not in caplog.text


def test_jzyyun_asked_too_soon_is_not_waited_for(store_url, caplog):
    """查询频繁 after a run shorter than the vendor's interval: one query, no retry, None."""
    with serve(seed=1, jzyyun_balance_interval=3600) as sim:
        plan = cp.plan_batches(numbers(3), vendor="jzyyun-sms", content=SMS)
        with caplog.at_level(logging.INFO):
            sent = cp.send(plan, jzyyun(sim), db=store_url, campaign="c", progress=False)
        assert sent["state"].tolist() == ["accepted"]
        assert len(sim.calls("jzyyun-sms", "balance")) == 2  # before, after: never again
    (run,) = runs(store_url)
    assert (run["balance_before"], run["balance_after"]) == (100_000, None)
    assert "查询频繁" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # expected: no alarm
    assert PASSWORD not in caplog.text


def test_balance_false_asks_and_records_nothing(store_url):
    with serve(seed=1) as sim:
        plan = cp.plan_batches(numbers(4), vendor="veesing-sms", content=SMS)
        cp.send(plan, veesing(sim), db=store_url, campaign="c", balance=False, progress=False)
        assert sim.calls("veesing-sms", "balance") == []
    assert runs(store_url) == []
    assert pd.isna(cp.cost_stats(store_url).iloc[0].vendor_count)


def test_nothing_to_send_records_no_run(store_url):
    with serve(seed=1) as sim:
        plan = cp.plan_batches(numbers(2), vendor="veesing-sms", content=SMS)
        client = veesing(sim)
        cp.send(plan, client, db=store_url, campaign="c", progress=False)
        cp.send(plan, client, db=store_url, campaign="c", progress=False)  # all sent already
        assert len(sim.calls("veesing-sms", "balance")) == 1
    assert len(runs(store_url)) == 1


def test_a_resumed_send_records_a_second_run_and_cost_stats_sums_both(store_url):
    with serve(seed=1) as sim:
        sim.set_balance("veesing-sms", "acct", 3)
        plan = cp.plan_batches(numbers(5), vendor="veesing-sms", content=SMS, batch_size=3)
        client = veesing(sim)
        first = cp.send(plan, client, db=store_url, campaign="c", progress=False)
        assert first["state"].tolist() == ["accepted", "rejected"]  # 余额不足
        sim.set_balance("veesing-sms", "acct", 100)  # topped up between the runs
        again = cp.send(plan, client, db=store_url, campaign="c", resend_rejected=True,
                        progress=False)  # fmt: skip
        assert again["state"].tolist() == ["accepted", "accepted"]
    one, two = runs(store_url)
    assert (one["balance_before"], one["balance_after"], one["expected"]) == (3, 0, 3)
    assert (two["balance_before"], two["balance_after"], two["expected"]) == (100, 98, 2)
    row = cp.cost_stats(store_url).iloc[0]
    assert (row.vendor_count, row.expected_count, row.count_gap) == (5, 5, 0)
    assert not row.balance_gap


def test_overbill_must_be_a_share():
    with pytest.raises(ValueError, match="overbill must be a share"):
        serve(overbill=-0.1)
    with pytest.raises(ValueError, match="overbill must be a share"):
        serve(overbill="2%")
