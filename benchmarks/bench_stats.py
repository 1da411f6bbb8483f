"""cp.delivery_stats on a store of 10,000,000 receipts, against the ways people write it by hand.

    python benchmarks/bench_stats.py [--rebuild] [--quick] [--db postgresql://...]
    python benchmarks/bench_stats.py --all [--only name,name] [--no-duckdb] [--db ...]
    python benchmarks/bench_stats.py --receipts 1000000 --all --no-duckdb   (other sizes)
    python benchmarks/bench_stats.py --growth   (the saved figures by size; 100M from them)

The store (benchmarks/_data/stats-10m.db, git-ignored, built once and reused; about 5 GB and
a few minutes to build) holds one campaign of 9,500,000 numbers in 475 batches of 20,000:
9,025,000 got a first receipt (90% delivered, 7% failed, 3% unknown), 975,000 of those a
second one, half of them later (the latest wins: it replaces the first) and half earlier
(arriving out of order: the first stays) -- 10,000,000 receipts, 9,025,000 deliveries.
It is generated in SQL (recursive CTEs, INSERT ... SELECT), its list's profiles numbered as
cp.send numbers them, and the deliveries go through the store's triggers that keep the
roll-ups, as at ingest.

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
and no slower than DuckDB. With ``--db postgresql://...`` (copied there first, as above) each
of ours also runs on PostgreSQL, in a fresh child too, its seconds, MB and goal in columns of
their own and its numbers required to equal SQLite's (DuckDB reads only the SQLite file).

``--receipts N`` builds and times a store of the same shape at another size
(benchmarks/_data/stats-1m.db for 1,000,000: 95% of N numbers, in batches of 20,000, so the
batches and the roll-ups' rows grow with N too). Each build saves its time, file size and rows
beside the store (stats-1m.build.json), each ``--all`` its figures (stats-1m.all.json);
``--growth`` prints them side by side by size, and carries each on to 100,000,000 receipts.
A PostgreSQL server for ``--db``: ``pgserver.get_server(folder, cleanup_mode=None)`` (the
test extras' wheel) in a folder kept between runs, e.g. benchmarks/_data/pg, and its
``get_uri("dbname")`` after ``CREATE DATABASE dbname``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).parent / "_data"
RECEIPTS = 10_000_000  # the store timed unless --receipts says otherwise
BATCH = 20_000
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


def store_path(receipts: int) -> Path:
    """The store of that many receipts: stats-10m.db, stats-3m.db, ..., stats-{N}.db."""
    size = f"{receipts // 1_000_000}m" if receipts % 1_000_000 == 0 else str(receipts)
    return DATA / f"stats-{size}.db"


def _sidecar(path: Path, what: str) -> Path:
    """Where the figures of a store are saved: stats-1m.build.json, stats-1m.all.json."""
    return path.with_name(f"{path.stem}.{what}.json")


def build(path: Path, receipts: int = RECEIPTS) -> None:
    """The store of ``receipts`` receipts, of the shape the module's docstring describes:
    95% of them as many numbers, in batches of 20,000 (the last one the rest). The build's
    time, file size and rows are saved beside it (stats-1m.build.json) for ``--growth``."""
    from campaign.store import open_db

    recipients = receipts * 95 // 100
    load = _load()
    built = time.perf_counter()

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
    batches = -(-recipients // BATCH)
    size = f"MIN({BATCH}, {recipients} - (n - 1) * {BATCH})"  # the last batch: the rest
    step(
        "batches",
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?)"
        " INSERT INTO batches (campaign, batch, vendor, size, state, task_id, accepted,"
        f" submitted_at, attempts) SELECT 'bench', n, 'jzyyun-sms', {size}, 'accepted',"
        f" 'T' || n, {size}, strftime('%Y-%m-%dT%H:%M:%S+08:00', '2024-11-11 08:00:00', '+' ||"
        " (n * 60) || ' seconds'), 1 FROM k",
        [batches],
    )
    step(
        "recipients",
        f"WITH RECURSIVE s(i) AS ({N} {recipients - 1})"
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
    # each distinct row of the list's own columns a profile, as cp.send records them
    step(
        "profiles",
        "INSERT INTO profiles (campaign, profile, attrs) SELECT 'bench',"
        " ROW_NUMBER() OVER (ORDER BY attrs) - 1, attrs FROM (SELECT DISTINCT attrs"
        " FROM recipients)",
    )
    step(
        "recipients' profiles",
        "UPDATE recipients SET profile = (SELECT p.profile FROM profiles p"
        " WHERE p.campaign = recipients.campaign AND p.attrs = recipients.attrs)",
    )
    step(
        "profile_recipients",
        "INSERT INTO profile_recipients SELECT campaign, batch, profile, COUNT(*)"
        " FROM recipients GROUP BY 1, 2, 3",
    )
    # first receipts: every number but one in 20; status by hash; latency 5-900 s
    status = (f"CASE WHEN {G} % 100 < 90 THEN 'delivered' WHEN {G} % 100 < 97 THEN"
              " 'failed' ELSE 'unknown' END")  # fmt: skip
    step(
        "receipts (first)",
        f"WITH RECURSIVE s(i) AS ({N} {recipients - 1})"
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
    second = receipts - conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
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
        "deliveries (latest receipt per number; triggers keep the roll-ups)",
        "INSERT INTO deliveries (campaign, phone, batch, vendor, task_id, status, code, reason,"
        " received_at, talk_seconds, carrier, province, city, profile, receipt_id)"
        " SELECT x.campaign, x.phone, x.batch, x.vendor, x.task_id, x.status, x.code, x.reason,"
        " x.received_at, x.talk_seconds, r.carrier, r.province, r.city, r.profile, x.id"
        " FROM receipts x"
        " JOIN recipients r ON r.campaign = x.campaign AND r.phone = x.phone"
        " WHERE NOT EXISTS (SELECT 1 FROM receipts y WHERE y.vendor = x.vendor AND y.task_id ="
        " x.task_id AND y.phone = x.phone AND (y.received_at > x.received_at OR"
        " (y.received_at = x.received_at AND y.id > x.id))) ORDER BY x.phone",
    )
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    seconds = time.perf_counter() - built
    rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ROWS}
    conn.close()
    if rows["receipts"] != receipts:
        raise SystemExit(f"built {rows['receipts']:,} receipts, not {receipts:,}")
    print(f"  {path.stat().st_size / 1e9:.2f} GB, {seconds:.0f} s in all (load average"
          f" {load} at the start, {_load()} at the end)", flush=True)  # fmt: skip
    _sidecar(path, "build").write_text(json.dumps({
        "receipts": receipts, "seconds": seconds, "bytes": path.stat().st_size, "rows": rows,
        "load": [load, _load()], "when": time.strftime("%Y-%m-%d %H:%M")}))  # fmt: skip


#: the tables whose rows --growth shows (the roll-ups are what most statistics read)
ROWS = ["recipients", "receipts", "deliveries", "batches", "recipient_counts",
        "delivery_counts", "latency_counts", "failure_counts"]  # fmt: skip


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


def all_cases(path: Path, only: list[str] | None, duck: bool, db: str | None = None) -> None:
    """``--all``: each case of :data:`CASES` in a fresh process, ours and DuckDB's; with ``db``
    (a PostgreSQL URL holding a copy of the store) ours there too, with SQLite's numbers
    required. The figures are saved beside the store (stats-10m.all.json) for ``--growth``."""
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
    if db:
        from campaign.store import describe

        _copy_to_postgres(path, db, _receipts(path))
        print(f"PostgreSQL: {describe(db)}")
    print(f"{os.cpu_count()} CPUs; load average at the start {_load()}")
    started = time.perf_counter()
    _warm(path)
    print(f"read the store once ({path.stat().st_size / 1e9:.1f} GB, into the page cache)"
          f" in {time.perf_counter() - started:.0f} s")  # fmt: skip
    if db:
        warmed = time.perf_counter()
        size = _warm_postgres(db)
        print("read PostgreSQL's copy once" + (f" ({size / 1e9:.1f} GB of files)" if size else
              " (tables scanned: its files are not readable here)")
              + f" in {time.perf_counter() - warmed:.0f} s")  # fmt: skip
    print()
    head = f"{'function':<34} {'ours s':>7} {'MB':>5} {'goal':>5} {'met':>4}"
    if db:
        head += f" {'PG s':>6} {'MB':>5} {'met':>4} {'same':>5}"
    head += (f" {'DuckDB s':>8} {'MB':>5} {'x DuckDB':>8} {'same':>5} {'load':>5}")  # fmt: skip
    print(head, flush=True)
    saved = _saved(path)
    for name in names:
        _, query, goal = CASES[name]
        load = _load()
        ours = _run_case(f"ours:{name}", path)
        pg = _run_case(f"ours:{name}", db) if db else None
        theirs = _run_case(f"duckdb:{name}", path) if duck and query is not None else None
        line = (f"{name:<34} {_num(ours.get('seconds'), 7, 1)} {_num(ours.get('peak_mb'), 5, 0)}"
                f" {goal:>4}s {_met(ours, goal):>4}")  # fmt: skip
        if pg is not None:
            line += (f" {_num(pg.get('seconds'), 6, 1)} {_num(pg.get('peak_mb'), 5, 0)}"
                     f" {_met(pg, goal):>4} {_agree(ours, pg):>5}")  # fmt: skip
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
            line += (f" {_num(theirs.get('seconds'), 8, 1)} {_num(theirs.get('peak_mb'), 5, 0)}"
                     f" {_num(ratio, 8, 2)} {_agree(ours, theirs):>5}")  # fmt: skip
        line += f" {load:>5}"
        print(line, flush=True)
        for side, r in (("ours", ours), ("PostgreSQL", pg), ("DuckDB", theirs)):
            if r is not None and "error" in r:
                print(f"    {side} failed: {r['error']}", flush=True)
            elif r is not None and r is not ours and "result" in ours:
                differ = _same(ours["result"], r["result"])
                if differ:
                    print(f"    {side}: DIFFERENT NUMBERS: {differ}", flush=True)
        figures = saved["cases"].setdefault(name, {})
        figures["sqlite"] = _figures(ours, load)
        if pg is not None:
            figures["postgresql"] = _figures(pg, load, same=_agree(ours, pg))
        if theirs is not None:
            figures["duckdb"] = _figures(theirs, load, same=_agree(ours, theirs))
    saved["when"] = time.strftime("%Y-%m-%d %H:%M")
    _sidecar(path, "all").write_text(json.dumps(saved, ensure_ascii=False, indent=1))
    print(f"\nload average at the end {_load()}; {time.perf_counter() - started:.0f} s in all;"
          f" figures saved in {_sidecar(path, 'all')}")  # fmt: skip
    print("goal (issue 18): each under 2 s (report 5 s) and 500 MB, in a fresh process, and no"
          " slower than DuckDB (x DuckDB <= 1); 'same': DuckDB's numbers equal ours"
          " (percentiles: DuckDB's quantile_disc, numpy's inverted_cdf as ours)")  # fmt: skip
    if db:
        print("PG: ours on the PostgreSQL copy, the same goal; 'same': its numbers equal"
              " SQLite's; its MB are the client's (Python) alone, not the server's")  # fmt: skip
    for name in names:
        if name in NOTES:
            print(f"  {name}: {NOTES[name]}")


def _met(r: dict, goal: float) -> str:
    ok = r.get("seconds") is not None and r["seconds"] < goal and r["peak_mb"] < 500
    return "yes" if ok else "NO"


def _agree(ours: dict, other: dict) -> str:
    if "result" not in ours or "result" not in other:
        return "-"
    return "yes" if _same(ours["result"], other["result"]) is None else "NO"


def _figures(r: dict, load: str, **more) -> dict:
    """What is saved of one side of a case: its figures, not its rows."""
    return {**{k: r[k] for k in ("seconds", "peak_mb", "base_mb", "error") if k in r},
            "load": float(load), **more}  # fmt: skip


def _saved(path: Path) -> dict:
    """The figures saved of the last --all on this store (each case's latest), to add to."""
    try:
        saved = json.loads(_sidecar(path, "all").read_text())
    except (OSError, ValueError):
        saved = {}
    if saved.get("receipts") != _receipts(path):
        saved = {}
    return {"receipts": _receipts(path), "bytes": path.stat().st_size, "cases": {},
            **{k: v for k, v in saved.items() if k not in ("receipts", "bytes")}}  # fmt: skip


def _warm_postgres(url: str) -> int:
    """Read PostgreSQL's copy once, as :func:`_warm` the SQLite file: its database's files
    when this process may read them (a server on this machine), else a scan of each table.
    The bytes of files read, or 0."""
    import psycopg

    with psycopg.connect(url) as conn:
        folder = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "base" / str(
            conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
            .fetchone()[0])  # fmt: skip
        try:
            files = [f for f in folder.iterdir() if f.is_file()]
        except OSError:
            files = None
        if files is None:
            tables = [t for (t,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]  # fmt: skip
            for table in tables:
                conn.execute(f"SELECT COUNT(*) FROM {table}")
            return 0
    for f in files:
        _warm(f)
    return sum(f.stat().st_size for f in files)


def _run_case(name: str, path: Path) -> dict:
    """One case in a fresh child; its figures, or the error it ended with."""
    out = subprocess.run([sys.executable, __file__, "--child", name, str(path)],
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        return {"error": _error(out.stderr)}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _error(stderr: str) -> str:
    """The exception a child ended with: its traceback's last ``SomeError: ...`` line (a
    database error's own lines, LINE 1: ... and the caret, come after it), else the last."""
    lines = stderr.strip().splitlines() or ["?"]
    raised = [
        i
        for i, line in enumerate(lines)
        if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit)\b", line)
    ]
    return " / ".join(lines[raised[-1] :][:2]) if raised else lines[-1]


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
    parser.add_argument(
        "--receipts",
        type=int,
        default=RECEIPTS,
        help="the store of this many receipts (stats-1m.db for 1000000; default 10,000,000)",
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help="the figures saved of each size's build and --all, and from them 100,000,000",
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.growth:
        growth()
        return
    path = store_path(args.receipts)
    if args.rebuild or not path.exists() or _receipts(path) != args.receipts:
        build(path, args.receipts)
    if args.all or args.only:
        print(f"store: {path} ({_receipts(path):,} receipts)")
        only = [n.strip() for n in args.only.split(",")] if args.only else None
        all_cases(path, only, duck=not args.no_duckdb, db=args.db)
        return
    print(f"store: {path} ({_receipts(path):,} receipts)")
    names = ["cp.delivery_stats", "sql, deliveries"]
    if not args.quick:
        names += ["sql, receipts", "pandas"]
    results = {}
    for name in names:
        run(name, path)  # warm the page cache once, so that no method pays for the disk
        results[name] = run(name, path)
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
            run(name, path)
            r = run(name, path)
            print(f"{name:<20} {r['seconds']:>8.3f} {r['peak_mb']:>8.0f} {r['result']:>7}")
    print("goal (under 2 s, under 500 MB, >= 5x faster than pandas, same numbers):",
          "met" if ok else "NOT met")  # fmt: skip
    if args.db:
        postgres(args.db, path, ours)


def _copy_to_postgres(path: Path, url: str, receipts: int) -> None:
    """Copy the store into ``url`` unless it holds its receipts already (then ANALYZE it).

    A smaller count is taken for a copy cut short (``cp.copy_store`` keeps the rows there
    and adds the rest); a larger one is another store's, which this must not add to."""
    import campaign as cp
    from campaign.store import connect, describe

    with connect(url) as store:
        have = store.scalar("SELECT COUNT(*) FROM receipts")
    if have > receipts:
        raise SystemExit(f"{describe(url)} holds {have:,} receipts, more than {path.name}'s"
                         f" {receipts:,}: give --db an empty database for this store")  # fmt: skip
    if have != receipts:
        started = time.perf_counter()
        cp.copy_store(path, url)
        print(f"copied the store to {describe(url)} in {time.perf_counter() - started:.0f} s")
    with connect(url) as store:
        store.execute("ANALYZE")


def postgres(url: str, path: Path, ours: dict) -> None:
    """cp.delivery_stats on a PostgreSQL copy of the store, beside SQLite's figures."""
    from campaign.store import describe

    print()
    _copy_to_postgres(path, url, _receipts(path))
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


# --------------------------------------------------------------------------- --growth

TARGET = 100_000_000


def growth() -> None:
    """``--growth``: the saved figures of each size's build and ``--all`` (SQLite), and from
    them an estimate for 100,000,000 receipts.

    The estimate carries on the straight line through the two largest sizes that have the
    figure (the per-receipt cost at the sizes nearest the target, plus what does not grow),
    never below the largest size's own figure; 'grows' is the exponent k of figure ~ N^k
    between those two sizes (about 1: linear, about 0: flat; a fixed cost, such as the
    report's charts, pulls it below 1 while the part that grows is linear)."""
    runs = _load_saved("all")
    builds = _load_saved("build")
    sizes = sorted(set(runs) | set(builds))
    if len(sizes) < 2:
        raise SystemExit("--growth: build and time at least two sizes first (--receipts N"
                         f" --all --no-duckdb); saved: {sizes}")  # fmt: skip
    table: list[tuple[str, dict, int]] = [
        ("file GB", {n: (builds.get(n) or runs[n])["bytes"] / 1e9 for n in sizes}, 2),
        ("build s", {n: builds[n]["seconds"] for n in builds}, 0),
    ]
    for t in ROWS:
        rows = {n: b["rows"][t] / 1e6 for n, b in builds.items() if t in b.get("rows", {})}
        table.append((f"{t} M rows", rows, 3))
    for name in CASES:
        for key, unit, digits in (("seconds", "s", 2), ("peak_mb", "MB", 0)):
            values = {n: runs[n]["cases"][name]["sqlite"].get(key) for n in runs
                      if name in runs[n]["cases"]}  # fmt: skip
            table.append((f"{name} {unit}", values, digits))
    loads = {n: max((c["sqlite"]["load"] for c in runs[n]["cases"].values()), default=None)
             for n in runs}  # fmt: skip
    table.append(("(highest load average)", loads, 1))

    def label(n: int) -> str:
        return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}"

    print(f"{'':<40}" + "".join(f" {label(n):>8}" for n in sizes)
          + f" {label(TARGET) + ' est':>10} {'grows':>10}")  # fmt: skip
    for name, values, digits in table:
        cells = "".join(f" {_num(values.get(n), 8, digits)}" for n in sizes)
        if name.startswith("("):
            print(f"{name:<40}{cells}")
            continue
        estimate, k = _extrapolate(values)
        grows = "-" if k is None else "flat" if abs(k) < 0.2 else f"N^{k:.2f}"
        print(f"{name:<40}{cells} {_num(estimate, 10, digits)} {grows:>10}")
    print(f"\nsaved: {', '.join(sorted(f.name for f in DATA.glob('stats-*.json')))}")
    print(_extrapolate.__doc__.strip().splitlines()[0])
    print("times: SQLite, ours, each in a fresh process with the store in the page cache")


def _load_saved(what: str) -> dict[int, dict]:
    out = {}
    for f in DATA.glob(f"stats-*.{what}.json"):
        saved = json.loads(f.read_text())
        out[saved["receipts"]] = saved
    return out


def _extrapolate(values: dict) -> tuple[float | None, float | None]:
    """100M: the line through the two largest sizes, never below the largest's figure.

    Also the exponent k of figure ~ N^k between those two sizes."""
    points = sorted((n, v) for n, v in values.items() if v is not None)
    if len(points) < 2:
        return None, None
    (n1, v1), (n2, v2) = points[-2:]
    estimate = v2 + max(0.0, (v2 - v1) / (n2 - n1)) * (TARGET - n2)
    k = math.log(v2 / v1) / math.log(n2 / n1) if v1 > 0 and v2 > 0 else None
    return estimate, k


def _receipts(path: Path) -> int:
    try:
        conn = sqlite3.connect(path)
        return conn.execute("SELECT MAX(id) FROM receipts").fetchone()[0] or 0
    except sqlite3.Error:
        return 0


if __name__ == "__main__":
    main()
