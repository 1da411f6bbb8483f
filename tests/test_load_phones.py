"""load_phones on files and objects the way lists really arrive."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
import zlib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import campaign as cp
from campaign.phones import OUTPUT_COLUMNS
from campaign.phones._filetype import SIGNATURES, sniff

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
@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "is empty (0 bytes)"),
        (b"  \r\n\n\t\n", "is blank"),
        (b"\xef\xbb\xbf", "is blank"),  # Notepad's BOM, nothing else
        (b"\xef\xbb\xbf\r\n", "is blank"),
    ],
)
def test_an_empty_file_is_an_error_naming_it(tmp_path, suffix, content, said):
    """Not 0 rows under an internal column name (phone_raw) that hide the wrong file."""
    path = tmp_path / f"名单{suffix}"
    path.write_bytes(content)
    with pytest.raises(cp.InputError) as info:
        cp.load_phones(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the file {said}")
    assert "no phone numbers to load" in message
    assert "phone_raw" not in message
    with open(path, "rb") as f, pytest.raises(cp.InputError, match=re.escape(said)):
        cp.load_phones(f)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("list.csv", "姓名,手机号\n"),
        ("list.csv", "姓名,手机号\r\n\r\n\r\n"),  # blank lines below are no rows
        ("list.txt", "手机号\n"),
    ],
)
def test_a_header_without_rows_is_an_error_naming_the_file_and_the_header(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(cp.InputError) as info:
        cp.load_phones(path)
    assert str(info.value).startswith(f"{path}: has a header (")
    assert "手机号" in str(info.value)
    assert "but no rows below it" in str(info.value)


def test_an_empty_or_header_only_sheet_is_an_error_naming_the_sheet(tmp_path):
    path = tmp_path / "list.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"手机号": []}).to_excel(writer, sheet_name="名单", index=False)
        pd.DataFrame().to_excel(writer, sheet_name="空表")
        pd.DataFrame({"手机号": ["13800138000"]}).to_excel(writer, sheet_name="有号码", index=False)
    with pytest.raises(cp.InputError) as info:
        cp.load_phones(path)
    assert str(info.value).startswith(f"{path}, sheet '名单': has a header (手机号) but no rows")
    assert "pass sheet=" in str(info.value)
    with pytest.raises(cp.InputError, match=r"sheet '空表' is empty.*no phone numbers to load"):
        cp.load_phones(path, sheet="空表")
    assert cp.load_phones(path, sheet="有号码")["phone"].tolist() == ["13800138000"]


def test_an_empty_list_or_frame_is_still_an_empty_result():
    """Code that filters a frame to nothing gets nothing back; only files are refused."""
    assert len(cp.load_phones([])) == 0
    assert list(cp.load_phones(pd.DataFrame({"手机号": []})).columns) == ["手机号", *OUTPUT_COLUMNS]


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return out.getvalue()


# the first bytes of files people rename to .csv, with a little of what follows
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 9 /Filter /FlateDecode >>\nstream\n"
PDF += zlib.compress(b"13800138000 13900139000") + b"\nendstream\nendobj\n"
NOT_TEXT = [
    (PDF, "a PDF document", "export the list as CSV (UTF-8) or Excel"),
    (PDF.replace(b"\n", b"\r\n")[:40], "a PDF document", "export the list"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "a PNG image", "export"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image", "export"),
    (zipped({"名单/a.csv": b"13800138000\n"}), "a ZIP archive", "unpack it"),
    (zipped({"word/document.xml": b"<w:document/>"}), "a Word document (.docx)", "export"),
    (gzip.compress(b"13800138000\n", mtime=0), "a gzip archive", "unpack it"),
    (b"PK\x03\x04 not really a zip", "a damaged ZIP archive", "export"),
    (bytes(range(256)) * 4, "binary data", "export"),
    ("手机号\n13800138000\n".encode("utf-16-le"), "UTF-16 text", "encoding='utf-16-le'"),
]


@pytest.mark.parametrize(("data", "looks", "advice"), NOT_TEXT, ids=[x[1] for x in NOT_TEXT])
def test_a_file_that_is_not_text_is_named_for_what_it_looks_like(tmp_path, data, looks, advice):
    """A PDF renamed .csv is not advice to re-save it as UTF-8, nor rows of garbage."""
    path = tmp_path / "名单.csv"
    path.write_bytes(data)
    with pytest.raises(cp.InputError) as info:
        cp.load_phones(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a text or Excel file: it starts like {looks}")
    assert advice in message
    assert "Save As > CSV UTF-8" not in message
    with open(path, "rb") as f, pytest.raises(cp.InputError, match=re.escape(looks)):
        cp.load_phones(f)


def test_utf16_text_without_a_bom_loads_when_told_so(tmp_path):
    path = tmp_path / "名单.txt"
    path.write_bytes("手机号\r\n13800138000\r\n".encode("utf-16-le"))
    assert cp.load_phones(path, encoding="utf-16-le")["phone"].tolist() == ["13800138000"]


def test_a_workbook_renamed_csv_is_read_as_the_workbook(tmp_path, caplog):
    book = tmp_path / "名单.xlsx"
    pd.DataFrame({"姓名": ["张伟", "李娜"], "手机": ["13800138000", "139 0013 9000"]}).to_excel(
        book, index=False
    )
    renamed = tmp_path / "名单.csv"
    renamed.write_bytes(book.read_bytes())
    with caplog.at_level("WARNING", logger="campaign.phones"):
        df = cp.load_phones(renamed)
    assert df["phone"].tolist() == ["13800138000", "13900139000"]
    assert df["姓名"].tolist() == ["张伟", "李娜"]
    assert f"{renamed} is an Excel workbook (.xlsx)" in caplog.text
    with open(renamed, "rb") as f:
        assert cp.load_phones(f)["phone"].tolist() == ["13800138000", "13900139000"]


def test_an_old_office_file_that_is_no_workbook_says_so(tmp_path):
    path = tmp_path / "名单.csv"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504))
    with pytest.raises(cp.InputError, match=r"old-format Office file.*does not open as an Excel"):
        cp.load_phones(path)


TEXT_CHARS = st.characters(codec="gbk", exclude_characters="\x00")


@given(st.text(TEXT_CHARS, max_size=300), st.sampled_from(["utf-8", "utf-8-sig", "gbk"]))
def test_text_in_utf8_or_gbk_is_never_called_binary(text, encoding):
    data = text.encode(encoding)
    assume(not data.startswith(SIGNATURES))  # a "text" that begins "%PDF-" is a PDF's start
    assert sniff(data) == sniff(data, encoding=encoding) == ("text", None, None)


@given(st.sampled_from(SIGNATURES), st.binary(max_size=64))
def test_bytes_that_start_like_another_format_are_never_read_as_text(signature, rest):
    assert sniff(signature + rest).kind != "text"


# cells pandas' CSV readers take for missing values (its default na_values): not about encodings
PANDAS_NA = {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"}
PANDAS_NA |= {"1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
NAMES = st.text(
    st.characters(codec="gbk", exclude_categories=("Cc", "Zl", "Zp"), exclude_characters=",;|\"'"),
    min_size=1,
    max_size=6,
).filter(lambda name: name.strip() == name and not name.startswith("#") and name not in PANDAS_NA)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(NAMES, st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["utf-8", "gbk"]),
)
def test_a_real_csv_in_utf8_or_gbk_still_loads(tmp_path_factory, rows, encoding):
    path = tmp_path_factory.mktemp("csv") / "名单.csv"
    path.write_bytes(("姓名,手机号\n" + "".join(f"{n},{p}\n" for n, p in rows)).encode(encoding))
    df = cp.load_phones(path, column="手机号")
    assert df["phone"].tolist() == [p for _, p in rows]
    assert df["姓名"].tolist() == [n for n, _ in rows]


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


# --------------------------------------------------------------------------- header rows


def test_title_line_above_the_header_is_skipped_and_kept_in_attrs(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(
        "客户名单2024\n姓名,手机号,备注\n张三,13800138000,a\n李四,13900139000,b\n", encoding="utf-8"
    )
    df = cp.load_phones(path)
    assert list(df.columns[:3]) == ["姓名", "手机号", "备注"]
    assert df["姓名"].tolist() == ["张三", "李四"]
    assert df["valid"].all()
    assert df.attrs["skipped_lines"] == {1: "客户名单2024"}


def test_title_lines_padded_with_separators_and_blank_lines(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(
        "\n会员名单,,\n导出日期 2024-11-01,,\n\n姓名,联系电话,积分\n张三,13800138000,5\n",
        encoding="gbk",
    )
    df = cp.load_phones(path)
    assert df.attrs["phone_column"] == "联系电话"
    assert df["phone"].tolist() == ["13800138000"]
    assert df.attrs["skipped_lines"] == {2: "会员名单,,", 3: "导出日期 2024-11-01,,"}


def test_title_line_with_a_header_that_names_no_phone_column(tmp_path):
    path = tmp_path / "list.csv"
    rows = "\n".join(f"客户{i},{13800138000 + i},{i * 7}" for i in range(20))
    path.write_text(f"客户名单\n客户,联系人,积分\n{rows}\n", encoding="utf-8")
    df = cp.load_phones(path)
    assert df.attrs["phone_column"] == "联系人"
    assert len(df) == 20
    assert df["valid"].all()


def test_no_title_means_no_skipped_lines(tmp_path):
    df = cp.load_phones(write_csv(tmp_path / "list.csv"))
    assert df.attrs["skipped_lines"] == {}
    check_rows(df)
    assert cp.load_phones(["13800138000"]).attrs["skipped_lines"] == {}


@settings(max_examples=60, deadline=None)
@given(
    titles=st.lists(st.from_regex(r"[客户名单导出日期0-2 ]{1,12}", fullmatch=True), max_size=2),
    numbers=st.lists(st.integers(0, 99_999_999), min_size=1, max_size=15),
    blank_after_titles=st.booleans(),
)
def test_any_title_lines_leave_every_row_in_order(titles, numbers, blank_after_titles):
    titles = [t for t in titles if t.strip()]
    lines = [*titles, *([""] if blank_after_titles else []), "姓名,手机号,备注"]
    lines += [f"客户{i},138{n:08d},x" for i, n in enumerate(numbers)]
    df = cp.load_phones(io.BytesIO(("\n".join(lines) + "\n").encode("utf-8")))
    assert df["姓名"].tolist() == [f"客户{i}" for i in range(len(numbers))]
    assert df["phone"].tolist() == [f"138{n:08d}" for n in numbers]
    assert list(df.attrs["skipped_lines"].values()) == titles


def test_first_data_row_with_an_extra_field_is_a_clear_error(tmp_path):
    """pandas' C reader would take the extra field for an index and shift every column."""
    path = tmp_path / "list.csv"
    path.write_text("姓名,手机\n张三,13800138000,extra\n李四,13900139000\n", encoding="utf-8")
    with pytest.raises(
        cp.InputError, match=r"line 2 has 3 fields where the header has 2; fix that row"
    ):
        cp.load_phones(path)


def test_every_data_row_with_an_extra_field_is_a_clear_error(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("手机\n13800138000,a\n13900139000,b\n", encoding="gbk")
    with pytest.raises(cp.InputError, match=r"line 2 has 2 fields where the header has 1"):
        cp.load_phones(path)


def test_title_directly_above_data_without_a_header_is_a_clear_error(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("客户名单\n张三,13800138000\n", encoding="utf-8")
    with pytest.raises(cp.InputError, match=r"line 2 has 2 fields.*title.*header row under it"):
        cp.load_phones(path)


def test_extra_field_after_a_title_names_the_line_as_an_editor_shows_it(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(
        "客户名单\n\n姓名,手机\n张三,13800138000\n李四,13900139000,x\n", encoding="utf-8"
    )
    with pytest.raises(cp.InputError, match=r"line 5 has 3 fields where the header has 2"):
        cp.load_phones(path)


def test_short_rows_are_kept_with_missing_fields(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("姓名,手机,备注\n张三,13800138000\n李四,13900139000,b\n", encoding="utf-8")
    df = cp.load_phones(path)
    assert df["valid"].all()
    assert df["备注"].isna().tolist() == [True, False]


def merged_header_workbook(path: Path) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["客户", None, "联系方式", None])
    sheet.merge_cells("C1:D1")
    sheet.append(["姓名", "性别", "邮箱", "手机"])
    sheet.append(["张三", "男", "zs@example.com", 13800138000])
    sheet.append(["李四", "女", "ls@example.com", "139 0013 9000"])
    sheet.append(["王五", "男", "ww@example.com", None])
    book.save(path)
    return path


def test_xlsx_merged_two_row_header(tmp_path):
    df = cp.load_phones(merged_header_workbook(tmp_path / "list.xlsx"))
    assert list(df.columns[:4]) == ["姓名", "性别", "邮箱", "手机"]
    assert df.attrs["phone_column"] == "手机"
    assert df["姓名"].tolist() == ["张三", "李四", "王五"]
    assert df["phone"].tolist()[:2] == ["13800138000", "13900139000"]
    assert df["valid"].tolist() == [True, True, False]
    assert df["reason"].iloc[2] == "empty"
    assert df.attrs["skipped_lines"] == {1: "客户,,联系方式,"}


def test_phone_header_over_a_column_without_phones_is_a_clear_error(tmp_path):
    """A header name must not win when its values say another column holds the phones."""
    path = tmp_path / "list.csv"
    rows = "\n".join(f"客户{i},c{i}@example.com,{13800138000 + i}" for i in range(10))
    path.write_text(f"姓名,联系方式,备注\n{rows}\n", encoding="utf-8")
    with pytest.raises(cp.ColumnNotFoundError) as info:
        cp.load_phones(path)
    message = str(info.value)
    assert "header '联系方式' names a phone column, but 0% of its values" in message
    assert "100% of column '备注'" in message
    assert "Pass column='备注'" in message
    assert info.value.candidates[:2] == ["备注", "联系方式"]
    assert cp.load_phones(path, column="备注")["valid"].all()


def test_xlsx_blank_rows_inside_the_list_are_kept_trailing_ones_dropped(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    for row in [["姓名", "手机"], ["张三", "13800138000"], [None, None], ["李四", "13900139000"]]:
        sheet.append(row)
    sheet["A6"] = None  # trailing formatted but blank rows: formatting, not rows
    sheet["B7"].font = openpyxl.styles.Font(bold=True)
    sheet["A8"] = ""
    book.save(path)
    df = cp.load_phones(path)
    assert len(df) == 3  # spreadsheet rows 2-4, so row n of the sheet is df.iloc[n - 2]
    assert df["phone"].iloc[[0, 2]].tolist() == ["13800138000", "13900139000"]
    assert df["reason"].iloc[1] == "empty"
    assert not df["valid"].iloc[1]


# --------------------------------------------------------------------------- encodings


def mixed_list(rows: int) -> bytes:
    """UTF-8 lines with Chinese names, then one line saved in GBK."""
    lines = ["姓名,手机号"] + [f"客户{i},{13800000000 + i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode("utf-8") + "张伟,13900139000\n".encode("gbk")


@pytest.mark.parametrize("rows", [50, 5000], ids=["small", "over-64KiB"])
def test_utf8_file_with_a_gbk_line_later_on_reads_every_line(tmp_path, rows):
    path = tmp_path / "list.csv"
    path.write_bytes(mixed_list(rows))
    df = cp.load_phones(path)
    assert len(df) == rows + 1
    assert df["姓名"].iloc[0] == "客户0"  # the UTF-8 lines are not read as GBK
    assert df["姓名"].iloc[-1] == "张伟"
    assert df["valid"].all()


def test_mixed_file_with_encoding_utf8_names_the_line(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(mixed_list(5000))
    with pytest.raises(cp.InputError, match=r"line 5002 is not valid utf-8 text.*UTF-8"):
        cp.load_phones(path, encoding="utf-8")


@pytest.mark.parametrize("rows", [50, 5000], ids=["small", "over-64KiB"])
def test_line_in_no_known_encoding_names_the_line(tmp_path, rows):
    path = tmp_path / "list.csv"
    path.write_bytes(mixed_list(rows) + b"\x80\x80,13700137000\n")
    with pytest.raises(cp.InputError, match=rf"line {rows + 3} is neither UTF-8 nor GBK.*UTF-8"):
        cp.load_phones(path)


def test_bom_before_gbk_text_reads_and_the_advice_works(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "姓名,手机号\n张三,13800138000\n".encode("gbk"))
    assert cp.load_phones(path, encoding="gbk")["姓名"].tolist() == ["张三"]
    assert cp.load_phones(path)["姓名"].tolist() == ["张三"]


def test_bom_with_an_explicit_encoding(tmp_path):
    path = write_csv(tmp_path / "list.csv", encoding="utf-8-sig")
    check_rows(cp.load_phones(path, encoding="utf-8"))
    big = tmp_path / "big.csv"
    big.write_bytes(b"\xef\xbb\xbf" + mixed_list(5000)[: -len("张伟,13900139000\n".encode("gbk"))])
    df = cp.load_phones(big, encoding="utf-8")
    assert df.columns[0] == "姓名"
    assert len(df) == 5000


def test_title_line_above_a_large_crlf_file(tmp_path):
    """The fast reader gets the bytes after the title; line endings do not matter."""
    path = tmp_path / "list.csv"
    lines = ["客户名单2024", "姓名,手机号"] + [f"客户{i},{13800000000 + i}" for i in range(10_000)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    df = cp.load_phones(path)
    assert df.attrs["skipped_lines"] == {1: "客户名单2024"}
    assert len(df) == 10_000
    assert df["姓名"].iloc[[0, -1]].tolist() == ["客户0", "客户9999"]
    assert df["valid"].all()


# --------------------------------------------------------------------------- the list's own carrier


@pytest.fixture(autouse=True)
def _no_prefix_file_from_the_environment(monkeypatch):
    """These tests check libphonenumber's own answers, whatever $CAMPAIGN_PREFIXES says."""
    monkeypatch.delenv(cp.phones.PREFIXES_ENV, raising=False)


PORTED = pd.DataFrame(
    {
        "手机号": ["13800138000", "13900139000", "16212345678", "18912345678", "17012345678", "无"],
        # e.g. a vendor's number-lookup export: 13800138000 moved to 中国联通 (携号转网)
        "运营商": ["联通", "", None, " China Telecom ", "虚拟运营商", "CMCC"],
    }
)


def test_the_lists_own_carrier_column_is_kept_where_given():
    df = cp.load_phones(PORTED)
    assert df["carrier"].tolist()[:5] == [
        "中国联通",
        "中国移动",
        "中国电信",
        "中国电信",
        "虚拟运营商",
    ]
    assert df["运营商"].tolist() == PORTED["运营商"].tolist()  # the list's column as it was
    assert df.attrs["carrier_column"] == "运营商"
    by_range = cp.load_phones(PORTED.drop(columns="运营商"))
    assert by_range["carrier"].iloc[0] == "中国移动"  # the range's original carrier
    assert by_range.attrs["carrier_column"] is None


def test_a_carrier_column_is_also_kept_as_written_and_loads_again_the_same(tmp_path):
    path = tmp_path / "ported.csv"
    PORTED.rename(columns={"运营商": "carrier"}).to_csv(path, index=False)
    df = cp.load_phones(path)
    assert df["carrier_raw"].iloc[0] == "联通"
    assert df["carrier"].iloc[0] == "中国联通"
    assert df["carrier"].iloc[1] == "中国移动"  # blank in the list: by range
    assert df.attrs["carrier_column"] == "carrier_raw"
    pd.testing.assert_frame_equal(cp.load_phones(df), df)


def test_plans_and_statistics_use_the_lists_carrier(tmp_path):
    contacts = cp.load_phones(PORTED)
    plan = cp.plan_batches(contacts, vendor="jzyyun-sms", content="【云通信】双11会员专享,回T退订")
    assert plan.recipients["carrier"].tolist()[0] == "中国联通"
    db = tmp_path / "campaign.db"
    with cp.simulator.serve(seed=1) as sim:
        client = cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url)
        cp.send(plan, client, db=db, campaign="ported", progress=False)
    stats = cp.delivery_stats(db, campaign="ported", by="carrier")
    assert dict(zip(stats["carrier"], stats["submitted"], strict=True)) == {
        "中国联通": 1, "中国移动": 1, "中国电信": 2, "虚拟运营商": 1,
    }  # fmt: skip
