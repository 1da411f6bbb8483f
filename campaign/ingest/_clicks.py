"""Clicks exported from another link shortener into the store, once each.

The receiver stores the clicks on campaign's own short links as they happen. A campaign whose
links went through another shortener (a vendor's, the shop's) has its clicks in that
service's export: a DataFrame, CSV or Excel file, UTF-8 or GBK. Its columns are found by the
names such exports carry (or named by the caller): the code, or the short URL it ends in; the
time of the click; the user agent or device, read as one class of :mod:`campaign.agents`.
Only the code, the time and the class are stored, as for the receiver's clicks.

A row that cannot be stored (no code, a code the store has no link for, no time or one that
is not a time) is kept in ``rejected`` with its row number and what is wrong, once however
often the export is imported.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from campaign.agents import AGENTS, BOT, DESKTOP, MOBILE, OTHER, agent_class
from campaign.clock import SHANGHAI, now
from campaign.errors import InputError
from campaign.store import DbLike, connect, links, records
from campaign.text import utf8_or_gbk

__all__ = ["ClicksResult", "ingest_clicks"]

#: Header names (compared without case, spaces, underscores or dashes), best first.
CODE_HEADERS = (
    "code", "短码", "shortcode", "linkcode", "短链", "短链接", "短网址", "shorturl", "shortlink",
    "链接", "url", "link",
)  # fmt: skip
TIME_HEADERS = (
    "clickedat", "点击时间", "访问时间", "clicktime", "clickedtime", "visittime", "time",
    "时间", "timestamp", "datetime", "date", "createdat",
)  # fmt: skip
AGENT_HEADERS = (
    "useragent", "ua", "agent", "设备", "设备类型", "终端", "device", "devicetype", "浏览器",
    "browser", "platform", "平台",
)  # fmt: skip

#: What an export's device column says, as a class (anything else is read as a user agent).
_DEVICE_WORDS = {
    **{a: a for a in AGENTS},
    "手机": MOBILE, "移动端": MOBILE, "移动设备": MOBILE, "平板": MOBILE, "phone": MOBILE,
    "tablet": MOBILE, "ios": MOBILE, "安卓": MOBILE, "苹果": MOBILE, "微信": MOBILE,
    "电脑": DESKTOP, "pc": DESKTOP, "pc端": DESKTOP, "桌面": DESKTOP, "桌面端": DESKTOP,
    "computer": DESKTOP, "mac": DESKTOP, "爬虫": BOT, "机器人": BOT, "robot": BOT,
    "crawler": BOT, "spider": BOT, "其他": OTHER, "未知": OTHER, "unknown": OTHER,
}  # fmt: skip

_EXCEL = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
_TEXT = {".csv", ".tsv", ".txt", ".text", ""}
#: Clicks written per statement batch (the progress bar moves by these).
_CHUNK = 5000


@dataclasses.dataclass(frozen=True)
class ClicksResult:
    """What :func:`ingest_clicks` did: ``inserted`` new clicks, ``duplicates`` already stored
    (or repeated in the export), ``rejected`` rows kept in ``rejected`` with their reason."""

    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0


def ingest_clicks(
    db: DbLike,
    source: pd.DataFrame | str | os.PathLike,
    *,
    code: str | None = None,
    time: str | None = None,
    agent: str | None = None,
    progress: bool = False,
) -> ClicksResult:
    """Store clicks exported from another link shortener, once each.

    ``source`` is a DataFrame or a CSV/Excel export (UTF-8 or GBK). Its columns are found by
    name: the code (code, 短码, 短链, 链接, url, short_url, link ...: a URL counts by its last
    path segment, ``https://t.example.com/c/AbCdEfG`` is ``AbCdEfG``), the time (clicked_at,
    点击时间, 访问时间, time, timestamp ...; a time without a zone is Asia/Shanghai time, a
    number of 10 or 13 digits is Unix seconds or milliseconds) and the user agent (user_agent,
    UA, 设备, agent ...: a browser's user agent string, or a device word such as 手机, 电脑,
    mobile, PC). ``code=``, ``time=`` and ``agent=`` name them instead. Without an agent
    column every click is ``other``: counted as a person's, since nothing says it is a bot.

    Only the code, the time and the agent's class (:func:`campaign.agents.agent_class`) are
    stored, never the user agent string or any IP address the export carries. A click is
    stored once per (code, time, class): importing the same export again adds nothing. A row
    with no code, a code that is no link in this store, or no readable time is kept in
    ``rejected`` with its row number and the reason (once, however often it is imported),
    keeping only its code, time and agent class. ``progress`` shows a progress bar while storing.

    Returns a :class:`ClicksResult` (inserted, duplicates, rejected).

    >>> clicks = pd.DataFrame({"短链": ["https://t.cn/c/NOPE123"],
    ...                        "点击时间": ["2024-11-11 20:01"], "UA": ["Mozilla/5.0 (iPhone)"]})
    >>> cp.ingest_clicks("campaign.db", clicks)  # the demo's store has no link NOPE123
    ClicksResult(inserted=0, duplicates=0, rejected=1)
    """
    frame, label, file = _read(source)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for name, given in (("code", code), ("time", time), ("agent", agent)):
        if given is not None and given not in columns:
            raise InputError(
                f"{name}={given!r}: no such column; the export has: {', '.join(columns)}"
            )
    code_columns = [code] if code else _find_all(columns, CODE_HEADERS)
    if not code_columns:
        raise InputError(
            f"no code or short-link column found among {', '.join(columns)}: name it with "
            f"code=, e.g. code={columns[0]!r}"
        )
    when = time or _find(columns, TIME_HEADERS, exclude=code_columns)
    if when is None:
        raise InputError(
            f"no click time column found among {', '.join(columns)}: name it with time=, "
            f"e.g. time={columns[-1]!r}"
        )
    device = agent or _find(columns, AGENT_HEADERS, exclude=(*code_columns, when))
    codes = _codes(frame, code_columns)
    times = _times(frame[when])
    agents = pd.Series(OTHER, index=frame.index) if device is None else frame[device].map(_agent)
    with connect(db) as store:
        known = links.known_codes(store, [c for c in codes if c is not None])
        good, bad = [], []
        stamp = now()
        for position, index in enumerate(frame.index):
            where = f"row {position + 2}" if file else f"row {index!r}"
            problem = _problem(codes[position], times[position], frame.at[index, when], when,
                               known, code_columns)  # fmt: skip
            if problem is None:
                good.append((codes[position], times[position], agents[index], label, stamp))
                continue
            # what it takes to fix the row, and nothing of the client: no user agent string,
            # no IP address or other column the export carries
            kept = {c: _plain(frame.at[index, c]) for c in (*code_columns, when)}
            body = json.dumps({**kept, "agent": agents[index]}, ensure_ascii=False)
            bad.append((stamp, label, body, f"{where}: {problem}"))
        inserted = 0
        with (
            store.transaction(),
            tqdm(total=len(good), unit="clicks", disable=None if progress else True) as bar,
        ):
            for start in range(0, len(good), _CHUNK):
                chunk = good[start : start + _CHUNK]
                inserted += links.write_clicks(store, chunk)
                bar.update(len(chunk))
            # an export imported again keeps each bad row once, as captured pushes do
            records.write_records(store, rejected=bad)
    return ClicksResult(inserted=inserted, duplicates=len(good) - inserted, rejected=len(bad))


# --------------------------------------------------------------------------- reading


def _read(source: Any) -> tuple[pd.DataFrame, str, bool]:
    """The export as a frame of strings, the label of its rejected rows, and whether its rows
    are a file's (numbered from 2, under the header) or a DataFrame's (by index)."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), "ingest:clicks", False
    if not isinstance(source, str | os.PathLike):
        raise InputError(
            f"cannot read clicks from {type(source).__name__}: give a DataFrame or the path "
            "of a .csv or .xlsx export"
        )
    path = Path(source)
    label = f"file:{source}"
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path} is a folder")
    suffix = path.suffix.lower()
    if suffix in _EXCEL:
        try:
            frame = pd.read_excel(path, dtype=str, engine="calamine")
        except Exception as exc:
            raise InputError(
                f"{path}: cannot open as an Excel workbook ({exc}); save the export as .xlsx "
                "or CSV (UTF-8) and import that"
            ) from exc
        return frame, label, True
    if suffix not in _TEXT:
        raise InputError(f"{path}: cannot read {suffix!r} files; give a .csv, .tsv or .xlsx file")
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        text = utf8_or_gbk(data)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: neither UTF-8 nor GBK text; re-save it as CSV UTF-8 and import that"
        ) from exc
    sep = "\t" if suffix == ".tsv" or ("\t" in text.split("\n", 1)[0] and "," not in text) else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            skipinitialspace=True)  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot read it as CSV: {str(exc).strip()}") from exc
    return frame, label, True


def _key(name: Any) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def _find_all(columns: list[str], names: tuple[str, ...], exclude=()) -> list[str]:
    keyed: dict[str, list[str]] = {}
    for column in columns:
        if column not in exclude:
            keyed.setdefault(_key(column), []).append(column)
    return [c for name in names for c in keyed.get(name, [])]


def _find(columns: list[str], names: tuple[str, ...], exclude=()) -> str | None:
    found = _find_all(columns, names, exclude)
    return found[0] if found else None


def _blank(value: Any) -> bool:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return True
    return not str(value).strip()


def _code(value: Any) -> str | None:
    """A cell as a code: a URL (with or without its scheme) by its last path segment."""
    if _blank(value):
        return None
    text = str(value).strip()
    if "/" in text:
        parts = urllib.parse.urlsplit(text if "//" in text else f"//{text}")
        text = parts.path.rstrip("/").rsplit("/", 1)[-1] if parts.path.strip("/") else ""
    return text or None


def _codes(frame: pd.DataFrame, columns: list[str]) -> list[str | None]:
    """Each row's code: from the first of ``columns`` that has one."""
    found: list[str | None] = [None] * len(frame)
    for column in columns:
        for i, value in enumerate(frame[column].tolist()):
            if found[i] is None:
                found[i] = _code(value)
    return found


_EPOCH = re.compile(r"\d{10}(?:\d{3})?(?:\.\d+)?")
#: A cell that could be a date: digits with separators, or YYYYMMDD (so never "now").
_DATELIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{8}")
_CHINESE_DATE = str.maketrans({"年": "-", "月": "-", "日": " ", "号": " ", "时": ":", "分": ":",
                               "秒": " "})  # fmt: skip


def _clean_time(value: Any) -> str | None:
    """A time cell as text pandas can read (2024年11月11日 20时01分 as 2024-11-11 20:01)."""
    if _blank(value):
        return None
    text = str(value).strip().translate(_CHINESE_DATE)
    return re.sub(r"\s+", " ", re.sub(r":(?=\s|$)", "", text)).strip()


def _time(text: str | None) -> str | None:
    """One cleaned cell as the stored time (ISO-8601, Asia/Shanghai, microseconds)."""
    if text is None:
        return None
    if _EPOCH.fullmatch(text):  # Unix time: 10 digits of seconds, 13 of milliseconds
        whole, _, _ = text.partition(".")
        unit = "ms" if len(whole) == 13 else "s"
        moment = pd.Timestamp(int(whole) if whole == text else float(text), unit=unit, tz="UTC")
    elif not _DATELIKE.search(text):
        return None
    else:
        try:
            moment = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            return None
    if pd.isna(moment):
        return None
    if moment.tzinfo is None:
        moment = moment.tz_localize(SHANGHAI)
    return moment.tz_convert(SHANGHAI).isoformat(timespec="microseconds")


def _times(column: pd.Series) -> list[str | None]:
    """Each cell as the stored time, None where it is not a time. A time without a zone is
    Asia/Shanghai; read column-wise where pandas can, else cell by cell."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return _iso(column)
    text = [_clean_time(v) for v in column.tolist()]
    plain = [t is not None and not _EPOCH.fullmatch(t) and bool(_DATELIKE.search(t)) for t in text]
    given = pd.Series([t if p else None for t, p in zip(text, plain, strict=True)], dtype=object)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(given, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):  # zones mixed with none: one by one
        return [_time(t) for t in text]
    if not pd.api.types.is_datetime64_any_dtype(stamps):
        return [_time(t) for t in text]
    return [f if p else _time(t) for f, t, p in zip(_iso(stamps), text, plain, strict=True)]


def _iso(stamps: pd.Series) -> list[str | None]:
    """Datetimes as stored; naive ones are Asia/Shanghai time."""
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(SHANGHAI, ambiguous="NaT", nonexistent="NaT")
    stamps = stamps.dt.tz_convert(SHANGHAI)
    return [None if pd.isna(t) else t.isoformat(timespec="microseconds") for t in stamps]


def _agent(value: Any) -> str:
    """An agent cell as a class: a device word (手机, PC, mobile) or a user agent string."""
    if _blank(value):
        return OTHER
    text = str(value).strip()
    return _DEVICE_WORDS.get(text.lower()) or agent_class(text)


def _problem(code, clicked_at, raw_time, when: str, known: set[str],
             code_columns: list[str]) -> str | None:  # fmt: skip
    if code is None:
        return f"no code in {' or '.join(code_columns)}; fill it in and import the export again"
    if code not in known:
        return (
            f"code {code!r} is not a link in this store (a link of another store, or of a "
            "campaign not planned here?); import it into the store that planned it"
        )
    if clicked_at is None:
        shown = "empty" if _blank(raw_time) else repr(_plain(raw_time))
        return f"{when} {shown} is not a date and time; fix it in the export and import it again"
    return None


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value if isinstance(value, str | int | float | bool) else str(value)
