"""cp.delivery_stats on a store of 10,000,000 receipts, against the ways people write it by hand.

    python benchmarks/bench_stats.py [--rebuild] [--quick] [--db postgresql://...]
    python benchmarks/bench_stats.py --all [--only name,name] [--no-duckdb]

The store (benchmarks/_data/stats-10m.db, git-ignored, built once and reused; about 4 GB and
a few minutes to build) holds one campaign of 9,500,000 numbers in 475 batches of 20,000:
9,025,000 got a first receipt (90% delivered, 7% failed, 3% unknown), 975,000 of those a
second one, half of them later (the latest wins: it replaces the first) and half earlier
(arriving out of order: the first stays) -- 10,000,000 receipts, 9,025,000 deliveries.
It is generated in SQL (recursive CTEs, INSERT ... SELECT), and the deliveries go through
the store's triggers that keep ``delivery_counts``, as at ingest.

Each method runs in a fresh child process, so that its peak memory (VmHWM, including the
Python interpreter, pandas and SQLite's page cache) is its own; "imports" is that peak
before the method starts. All must give the same numbers per carrier:
- cp.delivery_stats(by="carrier"): the roll-ups kept by the store;
- sql, deliveries: the hand-written aggregate over the resolved per-number table;
- sql, receipts: the hand-written aggregate that resolves "latest wins" from the raw
  receipts itself (a window function) and joins recipients for the carrier;
- pandas: pd.read_sql of receipts and recipients, then sort / drop_duplicates / merge /
  groupby.
Goal (issue 7): cp.delivery_stats under 2 s and 500 MB, at least 5x faster than pandas.
``--quick`` leaves out the two slow raw ways (sql, receipts and pandas).

``--db postgresql://user@host/dbname`` also copies the store into that database (once:
``cp.copy_store``, skipped when it already holds the 10,000,000 receipts) and times
cp.delivery_stats there, by carrier and by the other dimensions, beside SQLite's in the same
run, with the same numbers required. Goal (issue 11): under 2 s on PostgreSQL too.

``--all`` (issue 18; ``--only name,name`` for some of them, ``--no-duckdb`` for ours alone)
times every public statistic (delivery_stats by carrier, carrier and city, send_hour and the
contact-list column ``variant``; latency_stats, latency_distribution, delivery_curve,
failure_reasons, reply_stats, replies_by_hour, voice_stats, talk_time_distribution, compare,
funnel_stats, cost_stats, unlinked_receipts) and cp.report, each once in a fresh child, and
beside each DuckDB reading the same file through its sqlite extension and computing the same
numbers, which must equal ours. It needs the ``bench`` extra (duckdb and duckdb-ext-sqlite
of one version: the extension is loaded from that package's file, nothing is downloaded). The
10M store has one SMS campaign and no replies, conversions, prices or voice calls: those
figures time the queries over empty tables. Goal: each under 2 s (the report 5 s) and 500 MB,
and no slower than DuckDB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).parent / "_data"
PATH = DATA / "stats-10m.db"
RECIPIENTS = 9_500_000
BATCH = 20_000
RECEIPTS = 10_000_000
CARRIERS = ["移动"] * 55 + ["联通"] * 25 + ["电信"] * 19 + ["广电"]
PROVINCES = [
    "广东",
    "江苏",
    "山东",
    "浙江",
    "河南",
    "四川",
    "湖北",
    "湖南",
    "河北",
    "福建",
    "上海",
    "北京",
    "安徽",
    "辽宁",
    "陕西",
    "江西",
    "重庆",
    "广西",
    "云南",
    "内蒙古",
    "黑龙江",
    "山西",
    "吉林",
    "贵州",
    "天津",
    "新疆",
    "甘肃",
    "海南",
    "宁夏",
    "青海",
    "西藏",
]
REASONS = [("空号", "UNDELIV"), ("停机", "MK:0005"), ("关机", "MK:0001"), ("黑名单", "DB:0141"),
           ("拦截", "MI:0013"), ("过期未送达", "EXPIRED")]  # fmt: skip

# cheap per-row hashes of i (high bits of multiplicative hashes, 0-65535), independent enough
# for the choices they drive, and repeatable from build to build
H = "((i * 2654435761) % 4294967296 / 65536)"  # carrier, province, city
G = "((i * 1103515245 + 12345) % 4294967296 / 65536)"  # status, failure reason
L = "((i * 69069 + 1) % 4294967296 / 65536)"  # latency, tier
N = "SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i <"


def build(path: Path) -> None:
    from campaign.store import open_db

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    open_db(path).conn.close()  # the real schema, with its triggers
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000;"
        " PRAGMA temp_store = MEMORY;"
    )

    def step(label: str, sql: str, params=()) -> None:
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(sql, params)
        conn.execute("COMMIT")
        print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)

    print(f"building {path} ...", flush=True)
    conn.execute("CREATE TEMP TABLE carriers (k INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO carriers VALUES (?, ?)", enumerate(CARRIERS))
    conn.execute("CREATE TEMP TABLE provinces (k INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO provinces VALUES (?, ?)", enumerate(PROVINCES))
    conn.execute("CREATE TEMP TABLE reasons (k INTEGER PRIMARY KEY, reason TEXT, code TEXT)")
    conn.executemany(
        "INSERT INTO reasons VALUES (?, ?, ?)", [(k, *r) for k, r in enumerate(REASONS)]
    )
    conn.execute(
        "INSERT INTO campaigns (name, vendor, channel, content, created_at) VALUES ('bench',"
        " 'jzyyun-sms', 'sms', '【云通信】双11会员专享,回T退订', '2024-11-11T08:00:00+08:00')"
    )
    batches = RECIPIENTS // BATCH
    step(
        "batches",
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?)"
        " INSERT INTO batches (campaign, batch, vendor, size, state, task_id, accepted,"
        " submitted_at, attempts) SELECT 'bench', n, 'jzyyun-sms', ?, 'accepted', 'T' || n, ?,"
        " strftime('%Y-%m-%dT%H:%M:%S+08:00', '2024-11-11 08:00:00', '+' || (n * 60) ||"
        " ' seconds'), 1 FROM k",
        [batches, BATCH, BATCH],
    )
    step(
        "recipients",
        f"WITH RECURSIVE s(i) AS ({N} {RECIPIENTS - 1})"
        " INSERT INTO recipients (campaign, phone, batch, carrier, province, city, attrs)"
        " SELECT 'bench', printf('138%08d', i), i / ? + 1, c.name, p.name,"
        f" p.name || '-' || ({H} / 3100 % 10), json_object('variant', CASE WHEN i % 2 THEN 'B'"
        f" ELSE 'A' END, 'tier', CASE {L} / 1000 % 3 WHEN 0 THEN 'gold' ELSE 'silver' END)"
        f" FROM s JOIN carriers c ON c.k = {H} % 100 JOIN provinces p ON p.k = {H} / 100 % 31",
        [BATCH],
    )
    step(
        "recipient_counts",
        "INSERT INTO recipient_counts SELECT campaign, batch, COALESCE(carrier, ''),"
        " COALESCE(province, ''), COALESCE(city, ''), COUNT(*) FROM recipients GROUP BY 1, 2, 3,"
        " 4, 5",
    )
    # first receipts: every number but one in 20; status by hash; latency 5-900 s
    status = (f"CASE WHEN {G} % 100 < 90 THEN 'delivered' WHEN {G} % 100 < 97 THEN"
              " 'failed' ELSE 'unknown' END")  # fmt: skip
    step(
        "receipts (first)",
        f"WITH RECURSIVE s(i) AS ({N} {RECIPIENTS - 1})"
        " INSERT INTO receipts (vendor, task_id, phone, status, code, reason, received_at,"
        " campaign, batch, ingested_at, matched)"
        f" SELECT 'jzyyun-sms', 'T' || (i / {BATCH} + 1), printf('138%08d', i), st,"
        " CASE st WHEN 'delivered' THEN 'DELIVRD' WHEN 'failed' THEN r.code ELSE 'UNKNOWN' END,"
        " CASE st WHEN 'failed' THEN r.reason END,"
        " strftime('%Y-%m-%dT%H:%M:%S+08:00', '2024-11-11 08:00:00', '+' ||"
        f" ((i / {BATCH} + 1) * 60 + 5 + {L} % 896) || ' seconds'), 'bench',"
        f" i / {BATCH} + 1, '2024-11-11T12:00:00+08:00', 1"
        f" FROM (SELECT i, {status} AS st FROM s WHERE i % 20 != 0) JOIN reasons r"
        f" ON r.k = {G} / 100 % 6",
    )
    second = RECEIPTS - conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    step(
        "receipts (second: later ones win, earlier ones arrive out of order)",
        "INSERT INTO receipts (vendor, task_id, phone, status, code, reason, received_at,"
        " campaign, batch, ingested_at, matched)"
        " SELECT vendor, task_id, phone, CASE WHEN id % 2 THEN 'delivered' ELSE 'unknown' END,"
        " CASE WHEN id % 2 THEN 'DELIVRD' ELSE 'ACCEPTD' END, NULL,"
        " strftime('%Y-%m-%dT%H:%M:%S+08:00', received_at, CASE WHEN id % 2 THEN '+120 seconds'"
        " ELSE '-3 seconds' END), campaign, batch, ingested_at, 1"
        " FROM receipts WHERE id % 9 = 1 ORDER BY id LIMIT ?",
        [second],
    )
    step(
        "deliveries (latest receipt per number; triggers keep delivery_counts)",
        "INSERT INTO deliveries (campaign, phone, batch, vendor, task_id, status, code, reason,"
        " received_at, talk_seconds, carrier, province, city, receipt_id)"
        " SELECT x.campaign, x.phone, x.batch, x.vendor, x.task_id, x.status, x.code, x.reason,"
        " x.received_at, x.talk_seconds, r.carrier, r.province, r.city, x.id FROM receipts x"
        " JOIN recipients r ON r.campaign = x.campaign AND r.phone = x.phone"
        " WHERE NOT EXISTS (SELECT 1 FROM receipts y WHERE y.vendor = x.vendor AND y.task_id ="
        " x.task_id AND y.phone = x.phone AND (y.received_at > x.received_at OR"
        " (y.received_at = x.received_at AND y.id > x.id))) ORDER BY x.phone",
    )
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    print(f"  {path.stat().st_size / 1e9:.1f} GB", flush=True)


# --------------------------------------------------------------------------- the methods


def m_delivery_stats(path: str):
    import campaign.stats as stats

    frame = stats.delivery_stats(path, by="carrier")
    return {r.carrier: [r.submitted, r.delivered, r.failed, r.unknown] for r in frame.itertuples()}


def m_sql_deliveries(path: str):
    conn = sqlite3.connect(path)
    out: dict[str, list[int]] = {}
    for carrier, n in conn.execute(
        "SELECT r.carrier, COUNT(*) FROM recipients r JOIN batches b ON b.campaign = r.campaign"
        " AND b.batch = r.batch WHERE b.state = 'accepted' GROUP BY r.carrier"
    ):
        out[carrier] = [n, 0, 0, 0]
    index = {"delivered": 1, "failed": 2, "unknown": 3}
    for carrier, status, n in conn.execute(
        "SELECT carrier, status, COUNT(*) FROM deliveries GROUP BY carrier, status"
    ):
        out[carrier][index[status]] = n
    return out


def m_sql_receipts(path: str):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA cache_size = -1000000")
    out: dict[str, list[int]] = {}
    for carrier, n in conn.execute(
        "SELECT r.carrier, COUNT(*) FROM recipients r JOIN batches b ON b.campaign = r.campaign"
        " AND b.batch = r.batch WHERE b.state = 'accepted' GROUP BY r.carrier"
    ):
        out[carrier] = [n, 0, 0, 0]
    index = {"delivered": 1, "failed": 2, "unknown": 3}
    for carrier, status, n in conn.execute(
        "WITH latest AS (SELECT campaign, phone, status, ROW_NUMBER() OVER (PARTITION BY"
        " campaign, phone ORDER BY received_at DESC, id DESC) AS k FROM receipts"
        " WHERE matched = 1)"
        " SELECT r.carrier, l.status, COUNT(*) FROM latest l JOIN recipients r"
        " ON r.campaign = l.campaign AND r.phone = l.phone WHERE l.k = 1 GROUP BY 1, 2"
    ):
        out[carrier][index[status]] = n
    return out


def m_pandas(path: str):
    import pandas as pd

    conn = sqlite3.connect(path)
    receipts = pd.read_sql(
        "SELECT id, campaign, phone, status, received_at FROM receipts WHERE matched = 1", conn
    )
    recipients = pd.read_sql("SELECT campaign, phone, batch, carrier FROM recipients", conn)
    batches = pd.read_sql("SELECT campaign, batch, state FROM batches", conn)
    recipients = recipients.merge(batches, on=["campaign", "batch"])
    recipients = recipients[recipients["state"] == "accepted"]
    latest = receipts.sort_values(["received_at", "id"]).drop_duplicates(
        ["campaign", "phone"], keep="last"
    )
    merged = recipients.merge(latest, on=["campaign", "phone"], how="left")
    submitted = merged.groupby("carrier").size()
    status = merged.groupby(["carrier", "status"]).size().unstack(fill_value=0)
    return {
        c: [int(submitted[c])]
        + [int(status.loc[c].get(s, 0)) for s in ("delivered", "failed", "unknown")]
        for c in submitted.index
    }


def _by(by):
    def method(path: str):
        import campaign.stats as stats

        return len(stats.delivery_stats(path, by=by))

    return method


#: not compared: how the other dimensions fare (a contact-list column joins every recipient)
OTHERS = {
    "by=province": _by("province"),
    "by=send_hour": _by("send_hour"),
    "by=[carrier, city]": _by(["carrier", "city"]),
    "by=variant (attrs)": _by("variant"),
}

METHODS = {
    "cp.delivery_stats": m_delivery_stats,
    "sql, deliveries": m_sql_deliveries,
    "sql, receipts": m_sql_receipts,
    "pandas": m_pandas,
}


# --------------------------------------------------------------------------- --all (issue 18)
#
# Every public statistic on the 10M store, each in a fresh process, beside DuckDB reading the
# same SQLite file (its sqlite extension) and computing the same numbers. Each case gives:
# ours (the campaign call, its numbers as plain rows), and where written the DuckDB query
# giving the same rows, which must match (floats to 1e-9). Data the 10M store does not have
# (replies, conversions, prices, voice campaigns) makes those numbers empty or zero on both
# sides: their figures then time the queries over the empty tables and the joins around them.

CAMPAIGN = "bench"
COUNTS = ["submitted", "delivered", "failed", "unknown"]
BENCH_EXTRA = (
    "--all needs DuckDB and its sqlite extension, of the same version: "
    "pip install -e '.[bench]' (duckdb and duckdb-ext-sqlite, see pyproject.toml)"
)


def _plain(value):
    """A cell as JSON has it: None for missing (None, NA, NaN), int, float, str, bool."""
    import decimal

    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        value = float(value)
        return None if math.isnan(value) else value
    return value


def _row_key(row):
    return [(2, 0, "") if v is None else (0, v, "") if isinstance(v, (int, float))
            else (1, 0, str(v)) for v in row]  # fmt: skip


def _rows(rows) -> list[list]:
    """Rows as sorted lists of plain cells, the form both sides are compared in."""
    return sorted(([_plain(v) for v in row] for row in rows), key=_row_key)


def _frame_rows(frame, columns: list[str]) -> list[list]:
    return _rows(frame[columns].itertuples(index=False))


def _same(ours: list, theirs: list) -> str | None:
    """None when the two sides' rows match (floats to 1e-9), else where they differ."""
    if len(ours) != len(theirs):
        return f"{len(ours)} rows vs {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if len(a) != len(b) or not all(
            x == y
            or (isinstance(x, (int, float)) and isinstance(y, (int, float))
                and not isinstance(x, bool) and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9))
            for x, y in zip(a, b, strict=True)
        ):  # fmt: skip
            return f"row {i}: {a} vs {b}"
    return None


def _extension() -> str:
    """The file of DuckDB's sqlite extension inside the duckdb-ext-sqlite package, for this
    DuckDB version and platform; exits with what to install when it is not there."""
    from importlib import metadata

    try:
        import duckdb

        files = metadata.files("duckdb-ext-sqlite") or []
        carried = metadata.version("duckdb-ext-sqlite")
    except (ImportError, metadata.PackageNotFoundError) as e:
        raise SystemExit(f"{BENCH_EXTRA} ({e})") from None
    platform = duckdb.connect().execute("PRAGMA platform").fetchone()[0]
    for f in files:
        if f.name == "sqlite_scanner.duckdb_extension" and f.parts[-3:-1] == (
            f"v{duckdb.__version__}",
            platform,
        ):
            return str(f.locate())
    raise SystemExit(
        f"duckdb-ext-sqlite {carried} has no sqlite extension for DuckDB {duckdb.__version__}"
        f" on {platform}: install the versions that match ({BENCH_EXTRA})"
    )


def _duckdb_threads() -> str:
    import duckdb

    return duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]


def _duckdb(path: str):
    """A DuckDB connection with the store attached read-only (and USEd), the extension loaded
    from the package's file; DuckDB may neither download nor autoload extensions."""
    import duckdb

    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute(f"LOAD '{_extension()}'")
    con.execute(f"ATTACH '{path}' AS store (TYPE sqlite, READ_ONLY)")
    con.execute("USE store")
    return con


# -- the DuckDB SQL: the definitions of campaign/stats/__init__.py, over the base tables
# (recipients, deliveries, batches; the roll-ups only to tell the sent batches, as ours does)

SENT = (
    "sent AS (SELECT b.campaign, b.batch, b.vendor, b.submitted_at FROM batches b"
    " WHERE b.state = 'accepted' OR EXISTS (SELECT 1 FROM delivery_counts x"
    " WHERE x.campaign = b.campaign AND x.batch = b.batch AND x.n > 0))"
)
#: latency in whole seconds, never below 0 (SQLite: julianday difference x 86400, rounded)
LATENCY = (
    "greatest(0, CAST(round(epoch(CAST(d.received_at AS TIMESTAMPTZ))"
    " - epoch(CAST(b.submitted_at AS TIMESTAMPTZ))) AS BIGINT))"
)
LATENCY_ROWS = (
    "FROM deliveries d JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
    " WHERE d.received_at IS NOT NULL AND b.submitted_at IS NOT NULL"
    " AND d.status = 'delivered'"
)
#: a dimension over recipients r and batches b ('' is unknown, as ours reads it)
DUCK_DIMS = {
    "carrier": "NULLIF(r.carrier, '')",
    "province": "NULLIF(r.province, '')",
    "city": "NULLIF(r.city, '')",
    "send_hour": "CAST(substr(b.submitted_at, 12, 2) AS INTEGER)",
}


def _duck_dim(name: str) -> str:
    return DUCK_DIMS.get(name, f"json_extract_string(r.attrs, '$.{name}')")


def d_delivery(dims: list[str], campaign: str | None = None):
    def query(con):
        select = "".join(f"{_duck_dim(d)}, " for d in dims)
        where = f" WHERE r.campaign = '{campaign}'" if campaign else ""
        return con.execute(
            f"WITH {SENT} SELECT {select}count(*),"
            " count(*) FILTER (WHERE d.status = 'delivered'),"
            " count(*) FILTER (WHERE d.status = 'failed'),"
            " count(*) FILTER (WHERE d.status = 'unknown')"
            " FROM recipients r JOIN sent b ON b.campaign = r.campaign AND b.batch = r.batch"
            " LEFT JOIN deliveries d ON d.campaign = r.campaign AND d.phone = r.phone"
            f"{where} GROUP BY ALL"
        ).fetchall()

    return query


def d_latency_stats(con):
    rows = con.execute(
        "SELECT carrier, count(*), avg(lat), quantile_disc(lat, [0.5, 0.9, 0.99])"
        f" FROM (SELECT NULLIF(d.carrier, '') AS carrier, {LATENCY} AS lat {LATENCY_ROWS})"
        " GROUP BY 1"
    ).fetchall()
    return [(c, n, mean, *qs) for c, n, mean, qs in rows]


def d_latency_distribution(con):
    return con.execute(f"SELECT {LATENCY}, count(*) {LATENCY_ROWS} GROUP BY 1").fetchall()


def d_delivery_curve(con):
    return con.execute(
        f"WITH {SENT}, h AS (SELECT NULLIF(d.carrier, '') AS c, {LATENCY} AS seconds,"
        f" count(*) AS n {LATENCY_ROWS} GROUP BY 1, 2),"
        " sub AS (SELECT NULLIF(r.carrier, '') AS c, count(*) AS n FROM recipients r"
        " JOIN sent b ON b.campaign = r.campaign AND b.batch = r.batch GROUP BY 1),"
        " cum AS (SELECT c, seconds, sum(n) OVER (PARTITION BY c ORDER BY seconds) AS delivered"
        " FROM h)"
        " SELECT cum.c, cum.seconds, cum.delivered, coalesce(sub.n, 0),"
        " cum.delivered / NULLIF(sub.n, 0) FROM cum LEFT JOIN sub"
        " ON sub.c IS NOT DISTINCT FROM cum.c"
    ).fetchall()


def d_failure_reasons(con):
    return con.execute(
        "WITH f AS (SELECT COALESCE(NULLIF(d.reason, ''), '其他') AS reason,"
        " COALESCE(d.code, '') AS code, count(*) AS n FROM deliveries d"
        " JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
        " WHERE d.status = 'failed' GROUP BY 1, 2)"
        " SELECT reason, sum(n), sum(n) / sum(sum(n)) OVER (),"
        " string_agg(CASE WHEN code = '' THEN '(none)' ELSE code END || ' (' || n || ')', ', '"
        " ORDER BY n DESC, code) FROM f GROUP BY reason"
    ).fetchall()


def d_reply_stats(con):
    key = "p.campaign || ' ' || p.phone"
    return con.execute(
        f"WITH {SENT}, dl AS (SELECT NULLIF(d.carrier, '') AS c,"
        " count(*) FILTER (WHERE d.status = 'delivered') AS delivered FROM deliveries d"
        " JOIN sent b ON b.campaign = d.campaign AND b.batch = d.batch GROUP BY 1),"
        f" rp AS (SELECT NULLIF(r.carrier, '') AS c, count(DISTINCT {key}) AS repliers,"
        f" count(*) AS replies, count(DISTINCT CASE WHEN p.opt_out = 1 THEN {key} END) AS opt,"
        " count(DISTINCT CASE WHEN d.status IS NULL OR d.status <> 'delivered' THEN"
        f" {key} END) AS lag FROM replies p"
        " JOIN recipients r ON r.campaign = p.campaign AND r.phone = p.phone"
        " JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
        " LEFT JOIN deliveries d ON d.campaign = p.campaign AND d.phone = p.phone GROUP BY 1)"
        " SELECT coalesce(dl.c, rp.c), coalesce(dl.delivered, 0), coalesce(rp.repliers, 0),"
        " coalesce(rp.replies, 0), coalesce(rp.opt, 0), coalesce(rp.lag, 0)"
        " FROM dl FULL JOIN rp ON rp.c IS NOT DISTINCT FROM dl.c"
    ).fetchall()


def d_replies_by_hour(con):
    return con.execute(
        "SELECT CAST(substr(p.received_at, 12, 2) AS INTEGER), count(*),"
        " count(*) FILTER (WHERE p.opt_out = 1) FROM replies p"
        " JOIN recipients r ON r.campaign = p.campaign AND r.phone = p.phone"
        " JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
        " WHERE p.received_at IS NOT NULL GROUP BY 1"
    ).fetchall()


VOICE = "(SELECT name FROM campaigns WHERE channel = 'voice')"


def d_voice_stats(con):
    rows = con.execute(
        f"WITH {SENT} SELECT count(*), count(d.status),"
        " count(*) FILTER (WHERE d.talk_seconds > 0),"
        " avg(d.talk_seconds) FILTER (WHERE d.talk_seconds > 0),"
        " quantile_disc(d.talk_seconds, [0.5, 0.9]) FILTER (WHERE d.talk_seconds > 0)"
        " FROM recipients r JOIN sent b ON b.campaign = r.campaign AND b.batch = r.batch"
        " LEFT JOIN deliveries d ON d.campaign = r.campaign AND d.phone = r.phone"
        f" WHERE r.campaign IN {VOICE} HAVING count(*) > 0"
    ).fetchall()
    return [(*row[:4], *(row[4] or (None, None))) for row in rows]


def d_talk_time_distribution(con):
    return con.execute(
        "SELECT d.talk_seconds, count(*) FROM deliveries d"
        " JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
        f" WHERE d.talk_seconds > 0 AND d.campaign IN {VOICE} GROUP BY 1"
    ).fetchall()


def d_compare(con):
    sides = {v: (k, n) for v, n, k, *_ in d_delivery(["variant"], CAMPAIGN)(con)}
    return [(*sides["A"], *sides["B"])]


PER_RECIPIENT = (
    f"WITH {SENT}, conv AS (SELECT campaign, phone, SUM(COALESCE(value, 0)) AS revenue"
    f" FROM conversions WHERE campaign = '{CAMPAIGN}' GROUP BY 1, 2),"
    f" repl AS (SELECT DISTINCT campaign, phone FROM replies WHERE campaign = '{CAMPAIGN}')"
    " SELECT r.campaign, {measures}"
    " FROM recipients r JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
    " LEFT JOIN sent s ON s.campaign = r.campaign AND s.batch = r.batch"
    " LEFT JOIN deliveries d ON d.campaign = r.campaign AND d.phone = r.phone"
    " LEFT JOIN conv c ON c.campaign = r.campaign AND c.phone = r.phone{joins}"
    f" WHERE r.campaign = '{CAMPAIGN}'{{where}} GROUP BY 1"
)
SUBMITTED = "count(s.batch)"
DELIVERED = "count(*) FILTER (WHERE s.batch IS NOT NULL AND d.status = 'delivered')"
CONVERTED = "count(*) FILTER (WHERE s.batch IS NOT NULL AND c.phone IS NOT NULL)"
REVENUE = "sum(CASE WHEN s.batch IS NOT NULL THEN coalesce(c.revenue, 0) ELSE 0 END)"


def d_funnel_stats(con):
    measures = [
        "count(*) FILTER (WHERE b.state <> 'held_out')", SUBMITTED, DELIVERED, CONVERTED,
        REVENUE, "count(*) FILTER (WHERE b.state = 'held_out')",
        "count(*) FILTER (WHERE b.state = 'held_out' AND c.phone IS NOT NULL)",
        "sum(CASE WHEN b.state = 'held_out' THEN coalesce(c.revenue, 0) ELSE 0 END)",
    ]  # fmt: skip
    sql = PER_RECIPIENT.format(measures=", ".join(measures), joins="", where="")
    return con.execute(sql).fetchall()


def d_cost_stats(con):
    billed = (
        "CASE WHEN s.batch IS NULL THEN 0 WHEN pr.billed_on = 'delivery'"
        " AND coalesce(d.status, '') <> 'delivered' THEN 0 ELSE coalesce(b.segments, 1) END"
    )
    measures = [
        SUBMITTED, DELIVERED, f"sum({billed})", f"sum(({billed}) * pr.price)",
        "count(*) FILTER (WHERE s.batch IS NOT NULL AND q.phone IS NOT NULL)", CONVERTED,
        REVENUE,
    ]  # fmt: skip
    joins = (
        " LEFT JOIN repl q ON q.campaign = r.campaign AND q.phone = r.phone"
        " LEFT JOIN prices pr ON pr.vendor = b.vendor"
    )
    sql = PER_RECIPIENT.format(
        measures=", ".join(measures), joins=joins, where=" AND b.state <> 'held_out'"
    )
    return con.execute(sql).fetchall()


def d_unlinked_receipts(con):
    return con.execute(
        "SELECT vendor, task_id, count(*) FROM receipts"
        " WHERE matched = 0 OR campaign IS NULL GROUP BY 1, 2"
    ).fetchall()


# -- ours: the public calls, and the columns of theirs compared


def o_delivery(by):
    dims = [by] if isinstance(by, str) else by

    def call(path: str):
        import campaign.stats as stats

        return _frame_rows(stats.delivery_stats(path, by=by), [*dims, *COUNTS])

    return call


def o_call(function: str, columns: list[str], **kwargs):
    def call(path: str):
        import campaign.stats as stats

        return _frame_rows(getattr(stats, function)(path, **kwargs), columns)

    return call


def o_compare(path: str):
    import campaign.stats as stats

    ab = stats.compare(path, "A", "B", column="variant", campaign=CAMPAIGN)
    return _frame_rows(ab, ["successes_a", "trials_a", "successes_b", "trials_b"])


def o_report(path: str):
    import tempfile

    import campaign as cp

    with tempfile.TemporaryDirectory() as scratch:
        out = cp.report(path, campaign=CAMPAIGN, path=Path(scratch) / "report.html")
        return [[out.stat().st_size]]


REPLY = ["delivered", "repliers", "replies", "opt_outs", "repliers_without_receipt"]
FUNNEL = ["campaign", "recipients", "submitted", "delivered", "converted", "revenue",
          "held_out", "held_out_converted", "held_out_revenue"]  # fmt: skip
COST = ["campaign", "submitted", "delivered", "billed", "cost", "repliers", "converted",
        "revenue"]  # fmt: skip

#: name -> (ours, DuckDB's or None, goal in seconds); every goal is also under 500 MB
CASES = {
    "delivery_stats by=carrier": (o_delivery("carrier"), d_delivery(["carrier"]), 2),
    "delivery_stats by=[carrier, city]": (
        o_delivery(["carrier", "city"]), d_delivery(["carrier", "city"]), 2),
    "delivery_stats by=send_hour": (o_delivery("send_hour"), d_delivery(["send_hour"]), 2),
    "delivery_stats by=variant (list)": (o_delivery("variant"), d_delivery(["variant"]), 2),
    "latency_stats by=carrier": (
        o_call("latency_stats", ["carrier", "receipts", "mean", "p50", "p90", "p99"],
               by="carrier"), d_latency_stats, 2),
    "latency_distribution": (
        o_call("latency_distribution", ["seconds", "receipts"]), d_latency_distribution, 2),
    "delivery_curve by=carrier": (
        o_call("delivery_curve", ["carrier", "seconds", "delivered", "submitted", "share"],
               by="carrier"), d_delivery_curve, 2),
    "failure_reasons": (
        o_call("failure_reasons", ["reason", "count", "share", "codes"]), d_failure_reasons, 2),
    "reply_stats by=carrier": (
        o_call("reply_stats", ["carrier", *REPLY], by="carrier"), d_reply_stats, 2),
    "replies_by_hour": (
        o_call("replies_by_hour", ["hour", "replies", "opt_outs"]), d_replies_by_hour, 2),
    "voice_stats": (
        o_call("voice_stats", ["calls", "reported", "answered", "talk_mean", "talk_p50",
                               "talk_p90"]), d_voice_stats, 2),
    "talk_time_distribution": (
        o_call("talk_time_distribution", ["talk_seconds", "calls"]), d_talk_time_distribution,
        2),
    "compare variant A/B": (o_compare, d_compare, 2),
    "funnel_stats": (o_call("funnel_stats", FUNNEL, campaign=CAMPAIGN), d_funnel_stats, 2),
    "cost_stats": (o_call("cost_stats", COST, campaign=CAMPAIGN), d_cost_stats, 2),
    "unlinked_receipts": (
        o_call("unlinked_receipts", ["vendor", "task_id", "receipts"]), d_unlinked_receipts, 2),
    "report": (o_report, None, 5),
}  # fmt: skip
#: What each case reads, for the notes under the table.
NOTES = {
    "compare variant A/B": "delivery_rate of the contact-list column variant, A vs B, in"
    " campaign bench (the store has one campaign: two campaigns cannot be compared)",
    "report": "cp.report(campaign='bench') to a temporary file; DuckDB has no equivalent"
    " (it is many of the other tables plus charts)",
}


def all_cases(path: Path, only: list[str] | None, duck: bool) -> None:
    """``--all``: each case of :data:`CASES` in a fresh process, ours and DuckDB's."""
    names = only or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"--only: no case {unknown}; the cases: {', '.join(CASES)}")
    if duck:
        extension = _extension()  # fails here, with what to install, before anything runs
        from importlib import metadata

        import duckdb

        carried = metadata.version("duckdb-ext-sqlite")
        print(f"DuckDB {duckdb.__version__} (threads {_duckdb_threads()}),"
              f" duckdb-ext-sqlite {carried}: {extension}")  # fmt: skip
    print(f"{os.cpu_count()} CPUs; load average at the start {_load()}")
    started = time.perf_counter()
    _warm(path)
    print(f"read the store once ({path.stat().st_size / 1e9:.1f} GB, into the page cache)"
          f" in {time.perf_counter() - started:.0f} s\n")  # fmt: skip
    head = (f"{'function':<34} {'ours s':>7} {'MB':>5} {'goal':>5} {'met':>4}"
            f" {'DuckDB s':>8} {'MB':>5} {'x DuckDB':>8} {'same':>5} {'load':>5}")  # fmt: skip
    print(head, flush=True)
    lines = [head]
    for name in names:
        _, query, goal = CASES[name]
        load = _load()
        ours = _run_case(f"ours:{name}", path)
        theirs = _run_case(f"duckdb:{name}", path) if duck and query is not None else None
        met = ours.get("seconds") is not None and ours["seconds"] < goal and (
            ours["peak_mb"] < 500)  # fmt: skip
        line = (f"{name:<34} {_num(ours.get('seconds'), 7, 1)} {_num(ours.get('peak_mb'), 5, 0)}"
                f" {goal:>4}s {'yes' if met else 'NO':>4}")  # fmt: skip
        if query is None:
            line += f" {'(no DuckDB equivalent written)':>34}"
        elif theirs is None:
            line += f" {'(DuckDB not run)':>34}"
        else:
            ratio = (
                ours["seconds"] / theirs["seconds"]
                if ours.get("seconds") and theirs.get("seconds")
                else None
            )
            differ = (
                _same(ours["result"], theirs["result"])
                if "result" in ours and "result" in theirs
                else "failed"
            )
            line += (f" {_num(theirs.get('seconds'), 8, 1)} {_num(theirs.get('peak_mb'), 5, 0)}"
                     f" {_num(ratio, 8, 2)} {'yes' if differ is None else 'NO':>5}")  # fmt: skip
        line += f" {load:>5}"
        print(line, flush=True)
        lines.append(line)
        for side, r in (("ours", ours), ("DuckDB", theirs)):
            if r is not None and "error" in r:
                print(f"    {side} failed: {r['error']}", flush=True)
        if theirs is not None and "result" in theirs and "result" in ours:
            differ = _same(ours["result"], theirs["result"])
            if differ:
                print(f"    DIFFERENT NUMBERS: {differ}", flush=True)
    print(f"\nload average at the end {_load()}; {time.perf_counter() - started:.0f} s in all")
    print("goal (issue 18): each under 2 s (report 5 s) and 500 MB, in a fresh process, and no"
          " slower than DuckDB (x DuckDB <= 1); 'same': DuckDB's numbers equal ours"
          " (percentiles: DuckDB's quantile_disc, numpy's inverted_cdf as ours)")  # fmt: skip
    for name in names:
        if name in NOTES:
            print(f"  {name}: {NOTES[name]}")


def _run_case(name: str, path: Path) -> dict:
    """One case in a fresh child; its figures, or the error it ended with."""
    out = subprocess.run([sys.executable, __file__, "--child", name, str(path)],
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _warm(path: Path) -> None:
    """Read the store once, so that the first function timed does not pay for the disk."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _num(value, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def all_child(name: str, path: str) -> dict:
    """The figures of one side of one case, in this (fresh) process."""
    side, case = name.split(":", 1)
    ours, query, _ = CASES[case]
    if side == "ours":
        import pandas  # noqa: F401  (as the methods: the imports before the clock)

        import campaign.stats  # noqa: F401  (imports campaign, and the report's modules too)

        before = _peak_mb()
        started = time.perf_counter()
        result = ours(path)
    else:
        import duckdb  # noqa: F401

        before = _peak_mb()
        started = time.perf_counter()
        con = _duckdb(path)  # loading the extension and attaching the store are timed
        result = _rows(query(con))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": _peak_mb(), "base_mb": before, "result": result}


def child(name: str, path: str) -> None:
    if name.startswith(("ours:", "duckdb:")):
        print(json.dumps(all_child(name, path), ensure_ascii=False))
        return
    import pandas  # noqa: F401  (every method pays for the same imports before the clock)

    import campaign.stats  # noqa: F401

    before = _peak_mb()
    started = time.perf_counter()
    result = {**METHODS, **OTHERS}[name](path)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "base_mb": before,
                      "result": result}, ensure_ascii=False))  # fmt: skip


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB.

    Not getrusage's ru_maxrss: Linux carries that over from the parent through fork and
    exec, so a child of a big parent would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def run(name: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", name, str(path)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--quick", action="store_true", help="leave out the two slow raw ways")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--db", help="a PostgreSQL database to time cp.delivery_stats on too")
    parser.add_argument(
        "--all", action="store_true", help="every statistic and the report, beside DuckDB"
    )
    parser.add_argument("--only", help="with --all: these cases only, comma-separated")
    parser.add_argument("--no-duckdb", action="store_true", help="with --all: ours only")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.rebuild or not PATH.exists() or _receipts(PATH) != RECEIPTS:
        build(PATH)
    if args.all or args.only:
        print(f"store: {PATH} ({_receipts(PATH):,} receipts)")
        only = [n.strip() for n in args.only.split(",")] if args.only else None
        all_cases(PATH, only, duck=not args.no_duckdb)
        return
    print(f"store: {PATH} ({_receipts(PATH):,} receipts)")
    names = ["cp.delivery_stats", "sql, deliveries"]
    if not args.quick:
        names += ["sql, receipts", "pandas"]
    results = {}
    for name in names:
        run(name, PATH)  # warm the page cache once, so that no method pays for the disk
        results[name] = run(name, PATH)
    ours = results["cp.delivery_stats"]
    print(f"\n{'method':<20} {'seconds':>8} {'peak MB':>8} {'imports MB':>11} {'x ours':>7}")
    for name, r in results.items():
        same = "" if r["result"] == ours["result"] else "   DIFFERENT NUMBERS"
        print(f"{name:<20} {r['seconds']:>8.3f} {r['peak_mb']:>8.0f} {r['base_mb']:>11.0f}"
              f" {r['seconds'] / ours['seconds']:>7.1f}{same}")  # fmt: skip
    print("\nper carrier [submitted, delivered, failed, unknown]:",
          json.dumps(ours["result"], ensure_ascii=False))  # fmt: skip
    ok = ours["seconds"] < 2 and ours["peak_mb"] < 500
    if "pandas" in results:
        ok = ok and results["pandas"]["seconds"] >= 5 * ours["seconds"]
    if any(r["result"] != ours["result"] for r in results.values()):
        ok = False
    if not args.quick:
        print("\nother dimensions with cp.delivery_stats:")
        print(f"{'by':<20} {'seconds':>8} {'peak MB':>8} {'groups':>7}")
        for name in OTHERS:
            run(name, PATH)
            r = run(name, PATH)
            print(f"{name:<20} {r['seconds']:>8.3f} {r['peak_mb']:>8.0f} {r['result']:>7}")
    print("goal (under 2 s, under 500 MB, >= 5x faster than pandas, same numbers):",
          "met" if ok else "NOT met")  # fmt: skip
    if args.db:
        postgres(args.db, ours)


def postgres(url: str, ours: dict) -> None:
    """cp.delivery_stats on a PostgreSQL copy of the store, beside SQLite's figures."""
    import campaign as cp
    from campaign.store import connect, describe

    with connect(url) as store:
        have = store.scalar("SELECT COUNT(*) FROM receipts")
    if have != RECEIPTS:
        started = time.perf_counter()
        cp.copy_store(PATH, url)
        print(f"\ncopied the store to {describe(url)} in {time.perf_counter() - started:.0f} s")
    with connect(url) as store:
        store.execute("ANALYZE")
    print(f"\nPostgreSQL ({describe(url)}), beside SQLite's {ours['seconds']:.3f} s:")
    print(f"{'method':<20} {'seconds':>8} {'peak MB':>8} {'x sqlite':>9}")
    run("cp.delivery_stats", url)
    r = run("cp.delivery_stats", url)
    same = "" if r["result"] == ours["result"] else "   DIFFERENT NUMBERS"
    print(f"{'cp.delivery_stats':<20} {r['seconds']:>8.3f} {r['peak_mb']:>8.0f}"
          f" {r['seconds'] / ours['seconds']:>9.2f}{same}")  # fmt: skip
    for name in OTHERS:
        run(name, url)
        other = run(name, url)
        print(f"{name:<20} {other['seconds']:>8.3f} {other['peak_mb']:>8.0f}")
    met = r["seconds"] < 2 and not same
    print("goal on PostgreSQL (under 2 s, same numbers):", "met" if met else "NOT met")


def _receipts(path: Path) -> int:
    try:
        conn = sqlite3.connect(path)
        return conn.execute("SELECT MAX(id) FROM receipts").fetchone()[0] or 0
    except sqlite3.Error:
        return 0


if __name__ == "__main__":
    main()
