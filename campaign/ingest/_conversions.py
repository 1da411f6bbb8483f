"""Orders and sign-ups into the store, each attributed to the campaign that reached it.

A shop's export (DataFrame, CSV or Excel, UTF-8 or GBK) is read with ``load_phones``' rules,
its time, value and order-id columns found by the names exports really carry (or named by
the caller). Each conversion goes to the most recent campaign that sent to the number, or
held it out, within ``window`` before it; one that matches none is stored all the same, with
no campaign, and counted. A row that cannot be read (no valid phone, no time, a value that is
not a number) is kept in ``rejected`` with its row and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

import pandas as pd

from campaign.clock import now
from campaign.errors import InputError
from campaign.phones import load_phones
from campaign.store import DbLike, connect, outcomes, records

__all__ = ["ConversionsResult", "ingest_conversions"]

SHANGHAI = "Asia/Shanghai"

#: Header names (compared without case, spaces, underscores or dashes), best first.
TIME_HEADERS = (
    "支付时间", "付款时间", "成交时间", "下单时间", "订单时间", "创建时间", "注册时间", "时间",
    "paidat", "paymenttime", "paytime", "ordertime", "orderdate", "createdat", "created",
    "convertedat", "time", "datetime", "date", "timestamp",
)  # fmt: skip
VALUE_HEADERS = (
    "实付金额", "实付款", "支付金额", "付款金额", "实收金额", "订单金额", "金额", "amount", "value",
    "revenue", "total", "price",
)  # fmt: skip
ORDER_HEADERS = (
    "订单号",
    "订单编号",
    "订单id",
    "orderid",
    "orderno",
    "ordernumber",
    "order",
)  # not a bare "id": often the customer's, and orders would merge


@dataclasses.dataclass(frozen=True)
class ConversionsResult:
    """What :func:`ingest_conversions` did: ``inserted`` new conversions, of which
    ``attributed`` to a campaign and ``unattributed`` (kept, counted); ``duplicates`` already
    stored; ``rejected`` rows kept in ``rejected`` with their reason."""

    inserted: int = 0
    attributed: int = 0
    unattributed: int = 0
    duplicates: int = 0
    rejected: int = 0


def ingest_conversions(
    db: DbLike,
    source: Any,
    *,
    window: str | pd.Timedelta = "7d",
    campaign: str | None = None,
    phone: str | None = None,
    time: str | None = None,
    value: str | None = None,
    order_id: str | None = None,
) -> ConversionsResult:
    """Store orders or sign-ups, each attributed to the campaign that reached its number.

    ``source`` is a DataFrame or a CSV/Excel export (phones read as ``load_phones`` reads
    them). Its columns are found by name: time (支付时间, 付款时间, 下单时间 ... paid_at, time),
    value (实付金额, 订单金额, 金额 ... amount, value) and order id (订单号, 订单编号 ... order_id);
    ``phone=``, ``time=``, ``value=`` and ``order_id=`` name them instead. A time without a
    zone is Asia/Shanghai time.

    Each conversion is attributed to the most recent campaign that sent to the number (a
    batch the vendor took) or held it out, at most ``window`` (``"7d"``, ``"48h"``) before
    it; with ``campaign=`` only that campaign is considered. One that matches none is kept
    with no campaign. Stored once by order id, else by phone, time and value: ingesting the
    same export again changes nothing.

    >>> orders = pd.DataFrame({"手机号": ["13800138000"], "支付时间": ["2024-11-12 10:00"],
    ...                        "实付金额": ["¥199.00"], "订单号": ["T1001"]})
    >>> cp.ingest_conversions("campaign.db", orders)
    ConversionsResult(inserted=1, attributed=0, unattributed=1, duplicates=0, rejected=0)
    """
    span = _window(window)
    label = _label(source)
    loaded = load_phones(source, column=phone)
    columns = [c for c in loaded.columns if c not in _ADDED]
    when = time or _find(columns, TIME_HEADERS, "time", required=True)
    amount = value or _find(columns, VALUE_HEADERS, "value")
    order = order_id or _find(columns, ORDER_HEADERS, "order id", exclude=(when, amount))
    for name, given in (("time", time), ("value", value), ("order_id", order_id)):
        if given is not None and given not in loaded.columns:
            raise InputError(
                f"{name}={given!r}: no such column; the export has: {', '.join(columns)}"
            )
    good, bad = _rows(loaded, when=when, amount=amount, order=order, file=label.startswith("file:"))
    with connect(db) as store:
        if (
            campaign is not None
            and store.one("SELECT 1 FROM campaigns WHERE name = ?", [campaign]) is None
        ):
            raise InputError(f"campaign={campaign!r}: no such campaign in this store")
        good = _attribute(store, good, span, campaign)
        stamp = now()
        with store.transaction():
            inserted, attributed = outcomes.write_conversions(
                store,
                (
                    (r.order_id, r.phone, r.converted_at,
                     None if pd.isna(r.value) else float(r.value), r.campaign, int(r.held_out),
                     label, stamp)
                    for r in good.itertuples()
                ),
            )  # fmt: skip
            # an export ingested again keeps each bad row once, as captured pushes do
            records.write_records(store, rejected=[(stamp, label, body, e) for body, e in bad])
    return ConversionsResult(
        inserted=inserted,
        attributed=attributed,
        unattributed=inserted - attributed,
        duplicates=len(good) - inserted,
        rejected=len(bad),
    )


_ADDED = ("phone", "valid", "reason", "carrier", "province", "city", "duplicate")


def _label(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return f"file:{source}"
    return "ingest:conversions"


def _window(window: str | pd.Timedelta) -> pd.Timedelta:
    given = window
    if isinstance(window, str):  # pandas spells a day 'D' ('d' is deprecated); 7天, 48小时
        window = re.sub(r"(?<=\d)\s*(?:d|days?|天)$", "D", window.strip())
        window = re.sub(r"(?<=\d)\s*(?:小时)$", "h", window)
    try:
        span = pd.Timedelta(window)
    except (TypeError, ValueError):
        span = None
    if span is None or pd.isna(span) or span <= pd.Timedelta(0):
        raise InputError(f"window={given!r}: give a length of time such as '7d' or '48h'")
    return span


def _key(name: Any) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def _find(columns, names, what: str, *, required: bool = False, exclude=()) -> str | None:
    keyed = {_key(c): c for c in reversed(columns) if c not in exclude}
    for name in names:
        if name in keyed:
            return keyed[name]
    if required:
        raise InputError(
            f"no {what} column found among {', '.join(map(str, columns))}: name it with "
            f"{what.split()[0]}=, e.g. {what.split()[0]}={columns[-1]!r}"
        )
    return None


def _rows(frame: pd.DataFrame, *, when, amount, order, file: bool):
    """(the readable rows as a frame, [(body, error)] of the others)."""
    times = pd.to_datetime(
        frame[when].astype("string").str.strip(), errors="coerce", format="mixed"
    )
    if getattr(times.dt, "tz", None) is None:
        times = times.dt.tz_localize(SHANGHAI, ambiguous="NaT", nonexistent="NaT")
    else:
        times = times.dt.tz_convert(SHANGHAI)
    values = pd.Series(None, index=frame.index, dtype="float64")
    if amount is not None:
        text = frame[amount].astype("string").str.replace(r"[¥￥,，\s元]", "", regex=True)
        values = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
    keep, bad = [], []
    for position, (index, row) in enumerate(frame.iterrows()):
        where = f"row {position + 2}" if file else f"row {index!r}"
        problem = None
        if not row["valid"]:
            problem = (
                f"phone {row.get(frame.attrs.get('phone_column', 'phone'))!r}: {row['reason']}"
            )
        elif pd.isna(times[index]):
            problem = f"{when} {row[when]!r} is not a date and time"
        elif (
            amount is not None
            and pd.notna(row[amount])
            and str(row[amount]).strip()
            and pd.isna(values[index])
        ):
            problem = f"{amount} {row[amount]!r} is not an amount"
        if problem:
            body = json.dumps({str(k): _plain(v) for k, v in row.items() if k not in _ADDED[1:]},
                              ensure_ascii=False)  # fmt: skip
            bad.append((body, f"{where}: {problem}; fix it in the export and ingest it again"))
            continue
        keep.append(
            {
                "order_id": None
                if order is None or pd.isna(row[order])
                else str(row[order]).strip(),
                "phone": row["phone"],
                "at": times[index],
                "converted_at": times[index].isoformat(),
                "value": None if pd.isna(values[index]) else float(values[index]),
            }
        )
    return pd.DataFrame(keep, columns=["order_id", "phone", "at", "converted_at", "value"]), bad


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value if isinstance(value, str | int | float | bool) else str(value)


def _attribute(store, good: pd.DataFrame, span: pd.Timedelta, campaign: str | None) -> pd.DataFrame:
    """``campaign`` and ``held_out`` for each conversion: the latest exposure within ``span``
    before it."""
    good = good.assign(campaign=None, held_out=0)
    if not len(good):
        return good
    seen = pd.DataFrame(
        outcomes.exposures(store, good["phone"].tolist(), campaign=campaign),
        columns=["phone", "exposed", "exposed_held_out", "exposed_at"],
    ).dropna(subset=["exposed_at"])
    if not len(seen):
        return good
    seen["exposed_time"] = pd.to_datetime(seen["exposed_at"], format="ISO8601").dt.tz_convert(
        SHANGHAI
    )
    seen = seen.sort_values(["exposed_time", "exposed"], kind="stable")
    ordered = good.reset_index(drop=True).reset_index().sort_values("at", kind="stable")
    matched = pd.merge_asof(
        ordered, seen[["phone", "exposed", "exposed_held_out", "exposed_time"]],
        left_on="at", right_on="exposed_time", by="phone", direction="backward",
        tolerance=span, allow_exact_matches=True,
    ).sort_values("index")  # fmt: skip
    good = good.reset_index(drop=True)
    good["campaign"] = pd.Series(
        [c if isinstance(c, str) else None for c in matched["exposed"]], dtype=object
    )
    good["held_out"] = matched["exposed_held_out"].fillna(0).astype(int).tolist()
    return good
