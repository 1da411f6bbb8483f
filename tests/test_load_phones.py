"""load_phones on files and objects the way lists really arrive."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import campaign as cp
from campaign.phones import OUTPUT_COLUMNS

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

ROWS = [
    ("张伟", "138 0013 8000", "金卡"),
    ("李娜", "+86 139-0013-9000", "普通"),
    ("王芳", "1.38001E+10", "银卡"),
    ("刘洋", "", "普通"),
    ("陈静", "13800138000", "钻石"),
]


def write_csv(
    path: Path, rows=ROWS, *, header=("姓名", "手机号", "会员等级"), encoding="utf-8", sep=","
) -> Path:
    lines = [sep.join(header)] if header else []
    lines += [sep.join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def check_rows(df: pd.DataFrame, original: str = "手机号") -> None:
    """The ROWS above, as load_phones must return them."""
    assert list(df.columns[-len(OUTPUT_COLUMNS) :]) == list(OUTPUT_COLUMNS)
    assert list(df["姓名"]) == [r[0] for r in ROWS]  # every row, in order, original columns kept
    assert df[original].iloc[1] == "+86 139-0013-9000"
    assert df["phone"].tolist()[:2] == ["13800138000", "13900139000"]
    assert df["valid"].tolist() == [True, True, False, False, True]
    assert df["reason"].iloc[2] == "digits lost to Excel scientific notation"
    assert df["reason"].iloc[3] == "empty"
    assert df["duplicate"].tolist() == [False, False, False, False, True]
    assert df["carrier"].iloc[0] == "中国移动"
    assert df["province"].iloc[0] == "北京"
    assert df.attrs["phone_column"] == original


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_is_read_without_being_told(tmp_path, encoding):
    check_rows(cp.load_phones(write_csv(tmp_path / "list.csv", encoding=encoding)))


def test_gb18030_characters_beyond_gbk(tmp_path):
    rows = [("𠀀先生", "13800138000", "生僻字"), *ROWS[1:]]
    path = write_csv(tmp_path / "list.csv", rows, encoding="gb18030")
    assert cp.load_phones(path)["姓名"].iloc[0] == "𠀀先生"


def test_utf8_start_with_gbk_later_on(tmp_path):
    """The guess is made on the first 64 KiB; a GBK byte later on still reads right."""
    ascii_rows = [("name", f"138{i:08d}", "x") for i in range(5000)]
    path = write_csv(
        tmp_path / "list.csv", [*ascii_rows, ("张伟", "13900139000", "金卡")], encoding="gbk"
    )
    df = cp.load_phones(path)
    assert len(df) == 5001
    assert df["姓名"].iloc[-1] == "张伟"


def test_encoding_override(tmp_path):
    path = write_csv(tmp_path / "list.csv", encoding="gbk")
    check_rows(cp.load_phones(path, encoding="gbk"))
    with pytest.raises(cp.InputError, match=r"line 1 is not valid utf-8 text.*encoding="):
        cp.load_phones(path, encoding="utf-8")


@pytest.mark.parametrize("sep", ["\t", ";", "|"])
def test_other_separators(tmp_path, sep):
    check_rows(cp.load_phones(write_csv(tmp_path / "list.csv", sep=sep)))


def test_tsv_file(tmp_path):
    check_rows(cp.load_phones(write_csv(tmp_path / "list.tsv", sep="\t")))


def test_csv_without_header(tmp_path):
    df = cp.load_phones(write_csv(tmp_path / "list.csv", header=None))
    assert list(df.columns[:3]) == ["column_1", "column_2", "column_3"]
    assert df.attrs["phone_column"] == "column_2"
    assert df["valid"].sum() == 3


def test_single_column_without_header(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("13800138000\n139 0013 9000\n", encoding="utf-8")
    df = cp.load_phones(path)
    assert df.columns[0] == "phone_raw"
    assert df["phone"].tolist() == ["13800138000", "13900139000"]


def test_header_matching_picks_the_phone_column_over_lookalikes(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(
        "会员编号,手机,紧急联系人电话\n13800138000,13900139000,13700137000\n", encoding="utf-8"
    )
    df = cp.load_phones(path)
    assert df.attrs["phone_column"] == "手机"
    assert df["phone"].iloc[0] == "13900139000"


@pytest.mark.parametrize(
    "header",
    ["Phone", "MOBILE", "tel", "手机", "手机号码", "电话", "号码", "Phone Number", "phone_number"],
)
def test_header_names_people_use(tmp_path, header):
    path = tmp_path / "list.csv"
    path.write_text(f"name,{header},note\n张伟,13800138000,12345678901\n", encoding="utf-8")
    assert cp.load_phones(path).attrs["phone_column"] == header


def test_column_found_by_its_values_when_no_header_says_so(tmp_path):
    path = tmp_path / "list.csv"
    rows = "\n".join(f"客户{i},{13800138000 + i},{i * 7}" for i in range(50))
    path.write_text(f"客户,联系人,积分\n{rows}\n", encoding="utf-8")
    df = cp.load_phones(path)
    assert df.attrs["phone_column"] == "联系人"
    assert df["valid"].all()


def test_column_that_cannot_be_found_is_a_clear_error(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("客户,积分\n张伟,100\n李娜,200\n", encoding="utf-8")
    with pytest.raises(cp.ColumnNotFoundError) as info:
        cp.load_phones(path)
    message = str(info.value)
    assert "cannot tell which column holds the phone numbers" in message
    assert "column=" in message
    assert "'客户'" in message
    assert "'积分'" in message
    assert isinstance(info.value, cp.CampaignError)


def test_two_columns_of_phones_is_a_clear_error(tmp_path):
    path = tmp_path / "list.csv"
    rows = "\n".join(f"{13800138000 + i},{13900139000 + i}" for i in range(20))
    path.write_text(f"主联系人,备用联系人\n{rows}\n", encoding="utf-8")
    with pytest.raises(cp.ColumnNotFoundError, match="more than one column") as info:
        cp.load_phones(path)
    assert info.value.candidates[:2] == ["主联系人", "备用联系人"]


def test_column_given_by_name_or_position(tmp_path):
    path = write_csv(tmp_path / "list.csv")
    check_rows(cp.load_phones(path, column="手机号"))
    check_rows(cp.load_phones(path, column=1))
    with pytest.raises(cp.ColumnNotFoundError, match=r"no column '电话'.*'姓名', '手机号'"):
        cp.load_phones(path, column="电话")


@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_empty_file_gives_an_empty_frame_with_the_columns(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    df = cp.load_phones(path)
    assert len(df) == 0
    assert list(df.columns) == ["phone_raw", *OUTPUT_COLUMNS]


def test_header_only_file_keeps_its_columns(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("姓名,手机号\n", encoding="utf-8")
    df = cp.load_phones(path)
    assert len(df) == 0
    assert list(df.columns) == ["姓名", "手机号", *OUTPUT_COLUMNS]


def test_malformed_row_names_the_line(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("姓名,手机号\n张伟,13800138000\n李娜,139,00,139000\n", encoding="utf-8")
    with pytest.raises(cp.InputError, match=r"line 3.*fix that row or quote the field"):
        cp.load_phones(path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(cp.InputError, match="no such file"):
        cp.load_phones(tmp_path / "nope.csv")
    doc = tmp_path / "list.docx"
    doc.write_bytes(b"x")
    with pytest.raises(cp.InputError, match=r"cannot read '.docx' files; give a .csv"):
        cp.load_phones(doc)
    with pytest.raises(cp.InputError, match="is a folder"):
        cp.load_phones(tmp_path)
    with pytest.raises(cp.InputError, match="cannot load phones from int"):
        cp.load_phones(13800138000)


def test_txt_one_per_line_or_separated(tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text(
        "手机号\n13800138000\n139 0013 9000\n13700137000, 13600136000;13500135000\n"
        "13400134000 13300133000\n\n13800138000\n",
        encoding="gbk",
    )
    df = cp.load_phones(path)
    assert df["phone"].tolist() == [
        "13800138000",
        "13900139000",
        "13700137000",
        "13600136000",
        "13500135000",
        "13400134000",
        "13300133000",
        "13800138000",
    ]
    assert df["duplicate"].tolist() == [False] * 7 + [True]


def test_sample_files_in_data():
    for name, column in [
        ("contacts.csv", "手机号码"),
        ("contacts_gbk.csv", "联系电话"),
        ("contacts.xlsx", "手机"),
        ("numbers.txt", "phone_raw"),
    ]:
        df = cp.load_phones(DATA / name)
        assert df.attrs["phone_column"] == column
        assert df["valid"].sum() > 10
        invalid = df.loc[~df["valid"]]
        assert invalid["reason"].notna().all()
        assert df.loc[df["valid"], "reason"].isna().all()
    gbk = cp.load_phones(DATA / "contacts_gbk.csv")
    assert "双11" in set(gbk["备注"])


def test_xlsx_numeric_and_float_cells(tmp_path):
    path = tmp_path / "list.xlsx"
    pd.DataFrame(
        {
            "姓名": ["张伟", "李娜", "王芳", "刘洋"],
            "手机": [13800138000, 13900139000.0, "1.38001E+10", None],
        }
    ).to_excel(path, index=False, sheet_name="名单")
    df = cp.load_phones(path)
    assert df["phone"].tolist()[:2] == ["13800138000", "13900139000"]
    assert df["reason"].tolist()[2:] == ["digits lost to Excel scientific notation", "empty"]


def test_xlsx_sheet_choice(tmp_path):
    path = tmp_path / "list.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"说明": ["见第二张表"]}).to_excel(writer, sheet_name="说明", index=False)
        pd.DataFrame({"手机": ["13800138000"]}).to_excel(writer, sheet_name="名单", index=False)
    assert cp.load_phones(path, sheet="名单")["valid"].all()
    assert cp.load_phones(path, sheet=1)["valid"].all()
    with pytest.raises(cp.InputError, match=r"no sheet '客户'.*\['说明', '名单'\]"):
        cp.load_phones(path, sheet="客户")
    with pytest.raises(cp.InputError, match="no sheet 5"):
        cp.load_phones(path, sheet=5)


def test_legacy_xls():
    df = cp.load_phones(FIXTURES / "contacts.xls")
    assert df["phone"].tolist()[:3] == ["13912345678", "13923456789", "13934567890"]
    assert df["reason"].tolist()[3:] == ["empty", "digits lost to Excel scientific notation"]


def test_broken_workbook_is_a_clear_error(tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(cp.InputError, match="cannot open as an Excel workbook"):
        cp.load_phones(path)


def test_file_objects_binary_and_text(tmp_path):
    data = write_csv(tmp_path / "list.csv", encoding="gbk").read_bytes()
    check_rows(cp.load_phones(io.BytesIO(data)))
    check_rows(cp.load_phones(io.StringIO(data.decode("gbk"))))
    with open(DATA / "contacts.xlsx", "rb") as f:
        assert cp.load_phones(f).attrs["phone_column"] == "手机"


def test_lists_series_and_frames():
    listed = cp.load_phones(["13800138000", 13900139000, "x"])
    assert listed.columns[0] == "phone_raw"
    assert listed["valid"].tolist() == [True, True, False]

    series = pd.Series(["13800138000"], name="mobile", index=[10])
    assert cp.load_phones(series)["phone"].tolist() == ["13800138000"]

    frame = pd.DataFrame(
        {"name": ["a", "b"], "phone": ["138 0013 8000", "139-0013-9000"]}, index=[7, 3]
    )
    df = cp.load_phones(frame)
    assert list(df.index) == [7, 3]  # the caller's index is kept
    assert df["phone_raw"].tolist() == ["138 0013 8000", "139-0013-9000"]
    assert df["phone"].tolist() == ["13800138000", "13900139000"]
    assert list(frame.columns) == ["name", "phone"]  # the input is not modified


def test_loading_a_loaded_frame_again_changes_nothing():
    once = cp.load_phones(DATA / "contacts.csv")
    twice = cp.load_phones(once)
    pd.testing.assert_frame_equal(once, twice)


def test_user_columns_named_like_ours_are_kept(tmp_path):
    frame = pd.DataFrame({"mobile": ["13800138000"], "city": ["Shenzhen office"]})
    df = cp.load_phones(frame)
    assert df["city_raw"].tolist() == ["Shenzhen office"]
    assert df["city"].tolist() == ["北京"]


def test_unsupported_source_type():
    with pytest.raises(cp.InputError, match="give a file path"):
        cp.load_phones({"phone": "13800138000"})
