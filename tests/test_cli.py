"""The `campaign` command, through click's CliRunner, as sqlite-utils tests its CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from campaign.cli import main

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


def test_demo_writes_the_tidy_sample_lists(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "contacts-csv.csv",
        "contacts-xlsx.csv",
        "contacts_gbk-csv.csv",
        "numbers-txt.csv",
    ]
    assert "data/contacts.xlsx: 40 rows" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.output
