"""The `campaign` command, through click's CliRunner, as sqlite-utils tests its CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from campaign.cli import CREDENTIALS, main
from campaign.store import connect

DATA = Path(__file__).resolve().parent.parent / "data"


def test_load_prints_what_can_be_sent_and_why_not():
    result = CliRunner().invoke(main, ["load", str(DATA / "contacts.csv")])
    assert result.exit_code == 0, result.output
    assert "50 rows, phone column '手机号码'" in result.output
    assert "sendable: 40 (42 valid, 2 repeats)" in result.output
    assert "digits lost to Excel scientific notation" in result.output
    assert "中国移动" in result.output


def test_load_writes_a_tidy_csv_excel_can_open(tmp_path):
    out = tmp_path / "tidy.csv"
    result = CliRunner().invoke(main, ["load", str(DATA / "contacts_gbk.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    tidy = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(tidy.columns[-7:]) == [
        "phone",
        "valid",
        "reason",
        "carrier",
        "province",
        "city",
        "duplicate",
    ]
    assert len(tidy) == 40


def test_load_out_csv_keeps_phones_as_text_for_excel_and_reads_back(tmp_path):
    import csv

    import campaign as cp

    source = tmp_path / "list.csv"
    source.write_text("name,mobile\n甲,008613800138000\n乙,13900139000\n丙,\n", encoding="utf-8")
    out = tmp_path / "tidy.csv"
    result = CliRunner().invoke(main, ["load", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    # a leading tab makes Excel keep the cell as text: no number, no lost zeros or digits
    assert [r["mobile"] for r in rows] == ["\t008613800138000", "\t13900139000", ""]
    assert [r["phone"] for r in rows] == ["\t13800138000", "\t13900139000", ""]
    assert [r["name"] for r in rows] == ["甲", "乙", "丙"]
    again = cp.load_phones(out)
    first = cp.load_phones(source)
    assert again["phone"].tolist() == first["phone"].tolist()
    assert again["valid"].tolist() == first["valid"].tolist() == [True, True, False]
    gbk = tmp_path / "gbk.csv"
    assert CliRunner().invoke(main, ["load", str(DATA / "contacts_gbk.csv"), "--out",
                                     str(gbk)]).exit_code == 0  # fmt: skip
    original = cp.load_phones(DATA / "contacts_gbk.csv")
    assert cp.load_phones(gbk)["phone"].tolist() == original["phone"].tolist()


def test_load_xlsx_out_and_sheet(tmp_path):
    out = tmp_path / "tidy.xlsx"
    args = ["load", str(DATA / "contacts.xlsx"), "--sheet", "0", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_excel(out, engine="calamine")) == 40


def test_load_errors_are_one_clear_line():
    result = CliRunner().invoke(main, ["load", str(DATA / "contacts.csv"), "--column", "电话"])
    assert result.exit_code == 1
    assert "Error: " in result.output
    assert "has no column '电话'" in result.output
    assert "Traceback" not in result.output


def test_demo_runs_the_whole_journey_and_writes_the_reports(demo_run):
    result, folder = demo_run
    assert result.exit_code == 0, result.output
    out = result.output
    assert "loaded 20,000 members from data/demo_contacts.csv" in out
    for campaign in ["double11-A", "double11-B", "vip-jzyyun", "voice-notice"]:
        assert campaign in out
        page = (folder / f"{campaign}.html").read_text(encoding="utf-8")
        assert "<html" in page
    assert "A/B: delivery rate: double11-A" in out
    assert (folder / "campaign.db").exists()


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.output


SMS = "【云通信】双11会员专享,回T退订"


def test_plan_says_who_is_skipped_and_why(tmp_path):
    args = ["plan", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
            "--db", str(tmp_path / "campaign.db")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("plan: 40 numbers to send through jzyyun-sms\n")
    assert "  skipped:  10\n" in result.output
    assert "       1  invalid number: landline\n" in result.output
    assert "<Plan" not in result.output


def test_plan_reads_opt_outs_from_a_postgres_store(postgres_db):
    # a plan with --db postgresql://... used to skip the store: an opted-out number was planned
    from stats_fixtures import StoreBuilder

    with StoreBuilder(postgres_db) as s:
        s.reply(None, "19986180831", "退订", "2024-11-11T20:00:00+08:00", opt_out=True)
    args = ["plan", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
            "--db", postgres_db]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("plan: 39 numbers to send through jzyyun-sms\n")
    assert "       1  opted out\n" in result.output


def test_send_prints_a_plan_summary_not_a_repr(tmp_path, monkeypatch):
    from campaign import clock
    from campaign.simulator import serve

    monkeypatch.setenv("VEESING_APP_ID", "app")
    monkeypatch.setenv("VEESING_APP_KEY", "key")
    now = clock.current().replace(microsecond=0)
    at = (now + dt.timedelta(hours=2, minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    monkeypatch.setattr(clock, "current", lambda: now)
    with serve(seed=2) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "veesing-sms", "--content", SMS,
                "--campaign", "d11", "--db", str(tmp_path / "c.db"), "--base-url", sim.url,
                "--batch-size", "15", "--send-at", at]  # fmt: skip
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "plan: 40 numbers to send through veesing-sms, campaign d11\n"
        "  batches:  3 vendor calls (up to 15 numbers each)\n"
        "  billed:   40 messages (1 segment per number)\n"
        f"  schedule: {at} Asia/Shanghai (in 2 h 5 min)\n"
        "  skipped:  10\n"
    )
    assert "<Plan" not in result.output


def test_plan_content_error_is_one_line():
    args = ["plan", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", "双11"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "【signature】" in result.output


def test_send_through_the_simulator_then_resume(tmp_path, monkeypatch):
    from campaign.simulator import serve

    monkeypatch.setenv("JZYYUN_USERNAME", "user")
    monkeypatch.setenv("JZYYUN_PASSWORD", "s3cret-pw")
    db = tmp_path / "campaign.db"
    with serve(seed=2) as sim:
        args = ["send", str(DATA / "contacts_gbk.csv"), "--vendor", "jzyyun-sms", "--content",
                SMS, "--campaign", "d11", "--db", str(db), "--base-url", sim.url,
                "--batch-size", "10"]  # fmt: skip
        first = CliRunner().invoke(main, args)
        again = CliRunner().invoke(main, args)
        calls = len(sim.calls("jzyyun-sms", "send"))
    assert first.exit_code == 0, first.output
    assert "this run: submitted 3 batch(es), 30 numbers" in first.output
    assert "d11: 3 batches" in first.output
    assert "accepted" in first.output
    assert again.exit_code == 0, again.output
    assert "this run: nothing new to send, every batch was already submitted" in again.output
    assert calls == 3
    assert "s3cret" not in first.output + again.output


def test_send_fails_naming_the_batches_refused_or_unknown(tmp_path, monkeypatch):
    from campaign.simulator import serve

    monkeypatch.setenv("JZYYUN_USERNAME", "user")
    monkeypatch.setenv("JZYYUN_PASSWORD", "wrong")
    db = tmp_path / "campaign.db"
    with serve(seed=2, accounts={"jzyyun": {"username": "user", "password": "right"}}) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
                "--db", str(db), "--base-url", sim.url]  # fmt: skip
        refused = CliRunner().invoke(main, [*args, "--campaign", "refused"])
        monkeypatch.setenv("JZYYUN_PASSWORD", "right")
        sim.inject("drop_after", vendor="jzyyun-sms", operation="send", times=1)
        lost = CliRunner().invoke(main, [*args, "--campaign", "lost", "--batch-size", "20"])
    assert refused.exit_code == 1, refused.output
    assert "  batch 1 rejected, 40 numbers: [" in refused.stderr
    assert "用户名或密码错误" in refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        "Error: not everything was sent: 1 batch(es) rejected by the vendor: fix what it says "
        "(e.g. the credentials), then send again with --resend-rejected"
    )
    assert lost.exit_code == 1, lost.output
    assert "  batch 1 unknown, 20 numbers: VendorResponseUnknown: jzyyun-sms: no usable answer" in (
        lost.stderr
    )
    assert "batch 2" not in lost.stderr
    assert lost.stderr.splitlines()[-1] == (
        "Error: not everything was sent: 1 batch(es) with an unknown outcome: the vendor may "
        "have sent them; check its console, then --resend-unknown if it did not"
    )


def test_send_with_every_number_skipped_fails_saying_why_and_records_nothing(tmp_path, monkeypatch):
    from campaign.simulator import serve
    from campaign.store import connect

    monkeypatch.setenv("VEESING_APP_ID", "app")
    monkeypatch.setenv("VEESING_APP_KEY", "key")
    db = tmp_path / "campaign.db"
    with serve(seed=2) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "veesing-sms", "--content", SMS,
                "--db", str(db), "--base-url", sim.url]  # fmt: skip
        first = CliRunner().invoke(main, [*args, "--campaign", "a"])
        second = CliRunner().invoke(main, [*args, "--campaign", "b"])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 1
    assert "  skipped:  50\n" in second.stdout
    error = second.stderr.splitlines()[-1]
    assert error.startswith("Error: nothing to send in campaign 'b': all 50 numbers were skipped")
    assert "(40 sent too recently for the vendor's per-number interval; 2 repeat of an " in error
    assert "; 8 invalid number)" in error
    assert "billed" not in second.stdout
    assert "; the first can be sent at " in error
    assert error.endswith("Nothing was recorded")
    with connect(db) as store:
        assert store.rows("SELECT name FROM campaigns") == [("a",)]


def test_send_without_credentials_names_the_env_vars(tmp_path, monkeypatch):
    monkeypatch.delenv("JZYYUN_USERNAME", raising=False)
    monkeypatch.delenv("JZYYUN_PASSWORD", raising=False)
    args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
            "--campaign", "d11", "--db", str(tmp_path / "c.db")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "JZYYUN_USERNAME" in result.output


def test_send_without_credentials_names_options_and_variables_first(tmp_path, monkeypatch):
    monkeypatch.delenv("JZYYUN_USERNAME", raising=False)
    monkeypatch.delenv("JZYYUN_PASSWORD", raising=False)
    args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
            "--campaign", "d11", "--db", str(tmp_path / "c.db")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: jzyyun-sms: missing credentials: give --username (or set JZYYUN_USERNAME) and "
        "--password (or set JZYYUN_PASSWORD)"
    )  # the first thing printed: no plan before it
    assert "cp.vendor" not in result.output
    half = CliRunner().invoke(main, [*args, "--username", "user"])
    assert half.exit_code == 1
    assert "missing credential: give --password (or set JZYYUN_PASSWORD)" in half.output
    other = CliRunner().invoke(main, [*args[:3], "veesing-sms", *args[4:], "--username", "u"])
    assert other.exit_code == 1
    assert "veesing-sms does not take --username" in other.output
    assert not (tmp_path / "c.db").exists()
    pull = CliRunner().invoke(main, ["pull", "--db", str(tmp_path / "c.db")])
    assert pull.exit_code == 1
    assert "give --username (or set JZYYUN_USERNAME) and --password" in pull.output


def test_send_takes_credentials_as_options(tmp_path, monkeypatch):
    from campaign.simulator import serve

    monkeypatch.delenv("JZYYUN_USERNAME", raising=False)
    monkeypatch.delenv("JZYYUN_PASSWORD", raising=False)
    with serve(seed=2) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
                "--campaign", "d11", "--db", str(tmp_path / "c.db"), "--base-url", sim.url,
                "--username", "user", "--password", "s3cret-pw"]  # fmt: skip
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output


def test_help_names_every_vendors_credential_options_and_variables(monkeypatch):
    from campaign.errors import MissingCredential
    from campaign.vendors import vendor, vendor_keys, vendor_limits

    send_help = CliRunner().invoke(main, ["send", "--help"]).output
    pull_help = CliRunner().invoke(main, ["pull", "--help"]).output
    for key in vendor_keys():
        for _keyword, _vendors, env in CREDENTIALS:
            monkeypatch.delenv(env, raising=False)
        asked: dict[str, str] = {}  # every credential the vendor module asks for
        while True:
            try:
                vendor(key, **dict.fromkeys(asked, "x"))
                break
            except MissingCredential as exc:
                asked[exc.keyword] = exc.env
        assert asked, key
        for keyword, env in asked.items():
            option = "--" + keyword.replace("_", "-")
            helps = [send_help] + [pull_help] * (vendor_limits(key).delivery == "pull")
            for text in helps:
                assert option in text, (key, option)
                assert env in text, (key, env)


def test_receive_help_says_what_to_give_the_vendor_or_the_simulator():
    result = CliRunner().invoke(main, ["receive", "--help"])
    assert result.exit_code == 0
    assert "https://<this server>/push/veesing-sms?token=<the --token>" in result.output
    assert "campaign simulator --push-to http://127.0.0.1:8080" in result.output
    assert "`campaign pull` fetches its reports" in result.output


def test_an_unreachable_vendor_is_one_plain_line_per_retry(tmp_path):
    """As a user runs it: the library's log lines go through the command's own format."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "VEESING_APP_ID": "app", "VEESING_APP_KEY": "k3y-secret"}
    # --window none: any hour (a child process keeps the vendor's 08:00-21:00)
    args = [sys.executable, "-m", "campaign.cli", "send", str(DATA / "contacts.csv"),
            "--vendor", "veesing-sms", "--content", SMS, "--campaign", "d11",
            "--db", str(tmp_path / "c.db"), "--base-url", f"http://127.0.0.1:{port}",
            "--window", "none"]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", env=env,
                            check=False)  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    where = f"veesing-sms: cannot reach 127.0.0.1:{port} (connection refused); nothing was sent"
    assert [line for line in lines if "retry" in line] == [
        f"Warning: {where}; retry 1 of 2 in 0.5 s",
        f"Warning: {where}; retry 2 of 2 in 1.0 s",
    ]
    assert lines[-1] == (
        f"Error: veesing-sms: stopped: cannot reach 127.0.0.1:{port} (connection refused); "
        "nothing was sent; 1 batch(es) still planned: run send again to resume"
    )
    for internal in ["urllib3", "HTTPConnection", "Max retries", "Errno", "k3y"]:
        assert internal not in result.stderr + result.stdout


def test_simulator_command_serves_until_stopped():
    import signal
    import subprocess
    import sys

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "campaign.cli", "simulator", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "vendor simulator on http://127.0.0.1:" in line
        url = line.split()[3]
        answer = requests.post(f"{url}/smsApi/group/getBalance",
                               data={"appId": "a", "appKey": "k"}, timeout=5)  # fmt: skip
        assert answer.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_stats_tables_and_csv(demo_store, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["stats", "--db", str(demo_store), "--by", "campaign",
                                  "--by", "carrier", "--out", str(tmp_path / "s.csv")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "中国移动" in result.output
    assert "delivery_rate" in result.output
    table = pd.read_csv(tmp_path / "s.csv", encoding="utf-8-sig")
    assert set(table["campaign"]) >= {"double11-A", "double11-B"}
    for kind in ["reply", "voice", "latency", "reasons"]:
        result = runner.invoke(main, ["stats", "--db", str(demo_store), "--kind", kind])
        assert result.exit_code == 0, (kind, result.output)
        assert ("seconds from the batch's submission" in result.output) == (kind == "latency")
    bad = runner.invoke(main, ["stats", "--db", str(demo_store), "--by", "nope"])
    assert bad.exit_code == 1
    assert "unknown by= column 'nope'" in bad.output


def test_report_command_masks_phones(demo_store, tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", "--db", str(demo_store), "--campaign",
                                       "double11-A", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "****" in page
    import re

    # the charts' base64 can hold any run of digits by chance: search the text, not them
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)


def test_pull_command_through_the_simulator(tmp_path, monkeypatch):
    from campaign.simulator import serve

    monkeypatch.setenv("JZYYUN_USERNAME", "user")
    monkeypatch.setenv("JZYYUN_PASSWORD", "pw")
    db = tmp_path / "campaign.db"
    with serve(seed=4) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content", SMS,
                "--campaign", "c", "--db", str(db), "--base-url", sim.url]  # fmt: skip
        assert CliRunner().invoke(main, args).exit_code == 0
        sim.flush()
        result = CliRunner().invoke(main, ["pull", "--db", str(db), "--base-url", sim.url])
        again = CliRunner().invoke(main, ["pull", "--db", str(db), "--base-url", sim.url])
    assert result.exit_code == 0, result.output
    assert "reports: 40 new" in result.output
    assert "reports: 0 new" in again.output


def test_pull_from_a_pushed_vendor_says_to_receive_without_asking_for_credentials(monkeypatch):
    monkeypatch.delenv("VEESING_APP_ID", raising=False)
    result = CliRunner().invoke(main, ["pull", "--vendor", "veesing-sms"])
    assert result.exit_code == 1
    assert "veesing-sms pushes its receipts and replies" in result.output
    assert "campaign receive" in result.output
    assert "credential" not in result.output


def test_receive_command_serves_until_stopped(tmp_path):
    import signal
    import subprocess
    import sys

    import requests

    db = tmp_path / "campaign.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaign.cli", "receive", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "push receiver on http://127.0.0.1:" in line
        url = line.split()[3]
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_compare_two_campaigns_in_words(demo_store):
    args = ["compare", "double11-A", "double11-B", "--db", str(demo_store), "--metric",
            "reply_rate"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("reply rate: double11-A")
    assert "z = " in result.output


def test_compare_per_carrier_with_holm_prints_a_verdict_per_group(demo_store):
    args = ["compare", "double11-A", "double11-B", "--db", str(demo_store), "--metric",
            "reply_rate", "--by", "carrier", "--correction", "holm"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    verdicts = [line for line in result.output.splitlines() if line.startswith("reply rate")]
    assert len(verdicts) == 5  # four carriers and 未知
    assert all("adjusted (Holm, 5 comparisons)" in v for v in verdicts)
    assert "reply rate (carrier 中国移动): double11-A" in result.output
    one = CliRunner().invoke(main, ["compare", "double11-A", "--db", str(demo_store)])
    assert one.exit_code == 2
    assert "give two variants to compare" in one.output


def test_report_compare_with_names_the_campaigns_there_are(demo_store, tmp_path):
    args = ["report", "--db", str(demo_store), "--campaign", "double11-A", "--out",
            str(tmp_path / "r.html"), "--compare-with", "double11-C"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "compare_with='double11-C': no campaign 'double11-C' in this store" in result.output
    args[-1] = "double11-B"
    assert CliRunner().invoke(main, args).exit_code == 0
    assert "double11-B" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_stats_prints_an_unknown_place_as_未知_and_the_csv_leaves_it_empty(demo_store, tmp_path):
    out = tmp_path / "s.csv"
    args = ["stats", "--db", str(demo_store), "--by", "carrier", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert rows[0].split()[:2] == ["channel", "carrier"]  # the demo sends SMS and voice calls
    assert any(line.split()[1] == "未知" for line in rows[1:])
    assert "None" not in result.output
    assert "NaN" not in result.output
    table = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert "" in set(table["carrier"])  # machine-friendly: an empty cell, not 未知 or None
    assert not {"未知", "None"} & set(table["carrier"])


def test_stats_rates_print_as_percentages_never_in_scientific_notation(monkeypatch, demo_store):
    import campaign.stats as statistics

    def tiny(db, *, campaign=None, by=None):
        frame = pd.DataFrame({"carrier": ["中国移动", None], "submitted": [12, 0],
                              "delivery_rate": [0.0, float("nan")],
                              "ci_low": [6.9e-18, float("nan")],
                              "ci_high": [0.242494, float("nan")]})  # fmt: skip
        frame.attrs["by"] = ["carrier"]
        return frame

    monkeypatch.setattr(statistics, "delivery_stats", tiny)
    result = CliRunner().invoke(main, ["stats", "--db", str(demo_store), "--by", "carrier",
                                       "--campaign", "double11-A"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "e-" not in result.output
    first, unknown = result.output.splitlines()[1:]
    assert first.split() == ["中国移动", "12", "0.0%", "0.0%", "24.2%"]
    assert unknown.split() == ["未知", "0", "–", "–", "–"]
    real = CliRunner().invoke(main, ["stats", "--db", str(demo_store), "--kind", "reply",
                                     "--by", "city"])  # fmt: skip
    assert real.exit_code == 0, real.output
    assert "e-" not in real.output
    assert "%" in real.output


def test_stats_never_add_sms_messages_and_voice_calls_into_one_total(demo_store):
    import campaign.stats as statistics

    sms = ["double11-A", "double11-B", "vip-jzyyun"]
    for kind, by in [("delivery", []), ("reasons", []), ("delivery", ["--by", "carrier"])]:
        result = CliRunner().invoke(main, ["stats", "--db", str(demo_store), "--kind", kind, *by])
        assert result.exit_code == 0, result.output
        header, *rows = result.output.splitlines()
        assert header.split()[0] == "channel"
        assert {row.split()[0] for row in rows} == {"sms", "voice"}, kind
    total = CliRunner().invoke(main, ["stats", "--db", str(demo_store)]).output.splitlines()
    assert [line.split()[:2] for line in total[1:]] == [
        ["sms", str(statistics.delivery_stats(demo_store, campaign=sms)["submitted"].iloc[0])],
        ["voice", str(statistics.delivery_stats(demo_store, campaign="voice-notice")
                      ["submitted"].iloc[0])],
    ]  # fmt: skip
    per_campaign = CliRunner().invoke(main, ["stats", "--db", str(demo_store), "--by", "campaign"])
    assert per_campaign.output.split()[0] == "campaign"  # already apart: no channel column


def test_stats_without_rows_says_why_in_a_sentence(tmp_path):
    from stats_fixtures import StoreBuilder

    db = tmp_path / "campaign.db"
    s = StoreBuilder(db)
    s.campaign("sent").batch("sent", 1, recipients=[("13800000001", "移动", "广东", "广州", {})])
    s.campaign("planned")
    runner = CliRunner()
    cases = {
        ("--campaign", "planned"): "no data yet for campaign 'planned': no batch was sent",
        ("--campaign", "sent", "--kind", "latency"): (
            "no data yet for campaign 'sent': no batch was sent or no receipt has arrived"
        ),
        ("--kind", "reasons", "--by", "carrier"): "no failure yet for any campaign in",
    }
    for args, expected in cases.items():
        result = runner.invoke(main, ["stats", "--db", str(db), *args])
        assert result.exit_code == 0, (args, result.output)
        assert expected in result.output, args
        assert "Empty DataFrame" not in result.output
        assert "Index: []" not in result.output


def test_compare_pooling_warning_is_one_plain_line_on_stderr(demo_store):
    args = ["compare", "金卡", "银卡", "--db", str(demo_store), "--column", "会员等级"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("delivery rate: 金卡")
    assert result.stderr.startswith("Warning: compare(column='会员等级') without campaign= pools")
    assert len(result.stderr.splitlines()) == 1
    assert "UserWarning" not in result.output
    assert "cli.py" not in result.output


def test_plan_shows_a_content_warning_once_without_a_python_warning_line(tmp_path):
    """Run as a user would (python's own warning display is on outside pytest)."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "campaign.cli", "plan", str(DATA / "contacts.csv"),
            "--vendor", "jzyyun-sms", "--content", "【云通信】双11会员专享,全场五折",
            "--db", str(tmp_path / "campaign.db")]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", check=False)
    assert result.returncode == 0, result.stderr
    assert "warning: the content has no opt-out phrase" in result.stdout
    assert "UserWarning" not in result.stderr
    assert "opt-out phrase" not in result.stderr  # the plan already lists it


def test_conversions_import_then_funnel(tmp_path):
    from stats_fixtures import StoreBuilder, _r

    db = tmp_path / "c.db"
    with StoreBuilder(db) as s:
        s.campaign("d11")
        s.batch("d11", 1, submitted_at="2024-11-10T10:00:00+08:00",
                recipients=[_r("13800000001", "移动", "广东", "广州")])  # fmt: skip
        s.batch("d11", 2, state="held_out", submitted_at=None,
                recipients=[_r("13800000002", "移动", "广东", "广州")])  # fmt: skip
    orders = tmp_path / "orders.csv"
    orders.write_text("订单号,手机号,支付时间,实付金额\nA1,13800000001,2024-11-11 09:00,￥12.50\n"
                      "A2,13900000009,2024-11-11 09:00,8\nA3,bad,2024-11-11 09:00,1\n",
                      encoding="gbk")  # fmt: skip
    args = ["conversions", "import", str(orders), "--db", str(db)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == (
        "2 new conversions (1 attributed to a campaign, 1 to none), 0 already stored, "
        "1 rows kept in rejected\n"
    )
    again = CliRunner().invoke(main, args)
    assert again.output.startswith("0 new conversions (0 attributed to a campaign, 0 to none), 2")
    funnel = CliRunner().invoke(main, ["funnel", "--db", str(db)])
    assert funnel.exit_code == 0, funnel.output
    header, row = funnel.output.splitlines()[:2]
    assert header.split()[:6] == ["campaign", "recipients", "submitted", "delivered",
                                  "delivery_rate", "converted"]  # fmt: skip
    assert row.split()[:2] == ["d11", "1"]
    assert "100.0%" in row  # 1 of 1 submitted bought; the held-out number did not


def test_cost_sets_prices_and_prints_the_bill(demo_store, tmp_path):
    import shutil

    db = tmp_path / "c.db"
    shutil.copy(demo_store, db)
    result = CliRunner().invoke(main, ["cost", "--db", str(db), "--price", "veesing-sms=0.045",
                                       "--price", "jzyyun-sms=0.04/delivery"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["campaign", "submitted", "delivered", "billed"]
    a = next(line.split() for line in lines if line.split()[0] == "double11-A")
    assert a[:7] == ["double11-A", "8441", "7917", "8441", "0.0450", "submit", "379.85"]
    vip = next(line.split() for line in lines if line.split()[0] == "vip-jzyyun")
    assert vip[3:7] == ["548", "0.0400", "delivery", "21.92"]  # billed on delivery
    voice = next(line.split() for line in lines if line.split()[0] == "voice-notice")
    assert voice[3:7] == ["200", "0.1200", "submit", "24.00"]  # the demo's own price stays
    with connect(db) as store, store.transaction():
        store.execute("DELETE FROM prices WHERE vendor = 'veesing-voice'")
    unpriced = CliRunner().invoke(main, ["cost", "--db", str(db)])
    assert "(no price set for some vendors" in unpriced.output
    bad = CliRunner().invoke(main, ["cost", "--db", str(db), "--price", "veesing-sms"])
    assert bad.exit_code == 2
    assert "give VENDOR=YUAN" in bad.output
