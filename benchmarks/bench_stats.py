"""cp.delivery_stats on a store of 10,000,000 receipts, against the ways people write it by hand.

    python benchmarks/bench_stats.py [--rebuild] [--quick] [--db postgresql://...]

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
"""

from __future__ import annotations

import argparse
import json
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


def child(name: str, path: str) -> None:
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
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.rebuild or not PATH.exists() or _receipts(PATH) != RECEIPTS:
        build(PATH)
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
