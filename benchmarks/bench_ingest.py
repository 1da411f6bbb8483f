"""ingest_receipts on 1,000,000 pushed veesing receipts, against a raw sqlite3 executemany.

    python benchmarks/bench_ingest.py [--rows N] [--keep DIR] [--db postgresql://...]

Setup (not timed): a store whose campaign has the N recipients in batches of 1,000, each batch
with its task id, as ``cp.send`` leaves it. The input is N pushed forms (dicts, as the vendor
posts them: mobile, taskid, status, code, receivetime), one per recipient, 10% failed.

Timed, in the same run, each on a fresh copy of that store:

- raw: ``sqlite3.executemany`` of the same rows, already parsed and linked (vendor, task_id,
  phone, status, code, reason, received_at, campaign, batch, matched, ingested_at), into the
  same ``receipts`` table (same indexes), one transaction. No parsing, no linking, no
  deliveries: the floor of storing these rows.
- raw + deliveries: then, in the same way, the ``deliveries`` rows those receipts make (one per
  recipient, with its carrier and province), so that both tables ingest writes are written:
  the floor of the whole job, printed beside the goal's ratio.
- ingest: ``cp.ingest_receipts(db, forms, vendor="veesing-sms")``: parse every form, link it to
  its batch and recipient, store it, and move ``deliveries`` (and, by trigger,
  ``delivery_counts``) forward.

With ``--db postgresql://user@host/dbname`` the same runs on PostgreSQL: two databases are
made beside that one (its user must be allowed to create databases) and dropped afterwards;
raw is then a ``COPY`` of the same parsed rows into the same ``receipts`` table. It also prints
the size of the receipts table with its indexes, per receipt and per 10,000,000.

Goals: ingest within 2x of raw (issue 6 for SQLite, issue 11 for PostgreSQL).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from campaign.ingest import ingest_receipts
from campaign.reasons import failure_reason
from campaign.store import RECEIPT_ROW, connect, describe, now, open_db

VENDOR = "veesing-sms"


def make_store(path: Path, rows: int) -> None:
    db = open_db(path)
    conn = db.conn
    with conn:
        conn.execute(
            "INSERT INTO campaigns (name, vendor, channel, created_at) VALUES (?, ?, 'sms', ?)",
            ["bench", VENDOR, now()],
        )
        batches = (rows + 999) // 1000
        conn.executemany(
            "INSERT INTO batches (campaign, batch, vendor, size, state, task_id, submitted_at)"
            " VALUES ('bench', ?, ?, 1000, 'accepted', ?, '2024-11-11T20:00:00+08:00')",
            [(b + 1, VENDOR, str(3_000_000 + b)) for b in range(batches)],
        )
        carriers = ("移动", "联通", "电信")
        provinces = ("广东", "浙江", "北京", "四川")
        conn.executemany(
            "INSERT INTO recipients (campaign, phone, batch, carrier, province, city)"
            " VALUES ('bench', ?, ?, ?, ?, NULL)",
            [
                (str(13_000_000_000 + i), i // 1000 + 1, carriers[i % 3], provinces[i % 4])
                for i in range(rows)
            ],
        )
    conn.close()


def make_forms(rows: int) -> list[dict[str, str]]:
    forms = []
    for i in range(rows):
        failed = i % 10 == 0
        forms.append(
            {
                "mobile": str(13_000_000_000 + i),
                "taskid": str(3_000_000 + i // 1000),
                "status": "0" if failed else "1",
                "code": ("UNDELIV", "EXPIRED", "MK:0001")[i % 3] if failed else "DELIVRD",
                "receivetime": f"2024-11-11 20:{i // 60 % 60:02d}:{i % 60:02d}",
            }
        )
    return forms


DELIVERY_COLUMNS = (
    "campaign", "phone", "batch", "vendor", "task_id", "status", "code", "reason",
    "received_at", "talk_seconds", "carrier", "province", "city", "receipt_id",
)  # fmt: skip


def delivery_rows(rows: list[tuple], first_id: int = 1) -> list[tuple]:
    """The deliveries row of each parsed receipt row (each recipient has one receipt)."""
    carriers, provinces = ("移动", "联通", "电信"), ("广东", "浙江", "北京", "四川")
    return [
        (r[9], r[2], r[10], r[0], r[1], r[3], r[4], r[5], r[6], r[7],
         carriers[i % 3], provinces[i % 4], None, first_id + i)
        for i, r in enumerate(rows)
    ]  # fmt: skip


def raw_rows(forms: list[dict[str, str]]) -> list[tuple]:
    stamp = now()
    out = []
    for i, f in enumerate(forms):
        status = "delivered" if f["status"] == "1" else "failed"
        out.append(
            (
                VENDOR, f["taskid"], f["mobile"], status, f["code"],
                failure_reason(f["code"], status=status),
                f["receivetime"].replace(" ", "T") + "+08:00", None, None,
                "bench", i // 1000 + 1, 1, stamp,
            )
        )  # fmt: skip
    return out


def postgres(url: str, rows: int) -> None:
    from _postgres import scratch_databases

    with scratch_databases(url, "raw", "ingest") as urls:
        _postgres_run(url, urls, rows)


def _postgres_run(url: str, urls: dict[str, str], rows: int) -> None:
    for target in urls.values():
        with connect(target) as store, store.transaction():
            store.execute(
                "INSERT INTO campaigns (name, vendor, channel, created_at)"
                " VALUES (?, ?, 'sms', ?)", ["bench", VENDOR, now()],
            )  # fmt: skip
            store.bulk_insert(
                "batches", ("campaign", "batch", "vendor", "size", "state", "task_id",
                            "submitted_at"),
                [("bench", b + 1, VENDOR, 1000, "accepted", str(3_000_000 + b),
                  "2024-11-11T20:00:00+08:00") for b in range((rows + 999) // 1000)],
            )  # fmt: skip
            carriers, provinces = ("移动", "联通", "电信"), ("广东", "浙江", "北京", "四川")
            store.bulk_insert(
                "recipients", ("campaign", "phone", "batch", "carrier", "province"),
                [("bench", str(13_000_000_000 + i), i // 1000 + 1, carriers[i % 3],
                  provinces[i % 4]) for i in range(rows)],
            )  # fmt: skip
            store.execute("ANALYZE")
    forms = make_forms(rows)
    parsed = raw_rows(forms)
    columns = (*RECEIPT_ROW, "campaign", "batch", "matched", "ingested_at")
    delivered = delivery_rows(parsed)
    with connect(urls["raw"]) as store:
        started = time.perf_counter()
        with store.transaction():
            store.bulk_insert("receipts", columns, parsed)
        raw = time.perf_counter() - started
        started = time.perf_counter()
        with store.transaction():
            store.bulk_insert("deliveries", DELIVERY_COLUMNS, delivered)
        floor = raw + time.perf_counter() - started
    started = time.perf_counter()
    result = ingest_receipts(urls["ingest"], forms, vendor=VENDOR)
    ingest = time.perf_counter() - started
    assert result.inserted == rows, result
    with connect(urls["ingest"]) as store:
        stored = store.one("SELECT COUNT(*), SUM(matched) FROM receipts")
        counted = store.scalar("SELECT SUM(n) FROM delivery_counts")
        size = store.scalar("SELECT pg_total_relation_size('receipts')")
        deliveries = store.scalar("SELECT pg_total_relation_size('deliveries')")
    assert tuple(stored) == (rows, rows), stored
    assert counted == rows, counted
    print(f"receipts: {rows:,} pushed forms (veesing-sms), on {describe(url)}")
    report(rows, result, (
        ("raw COPY (parsed rows)", raw),
        ("raw COPY + deliveries rows", floor),
        ("cp.ingest_receipts", ingest),
    ))  # fmt: skip
    per = (size + deliveries) / rows
    print(f"receipts + deliveries with indexes: {(size + deliveries) / 1e6:,.0f} MB, "
          f"{per:.0f} bytes a receipt, {per * 1e7 / 1e9:.1f} GB per 10,000,000")  # fmt: skip


def report(rows: int, result, timings: tuple[tuple[str, float], ...]) -> None:
    for name, seconds in timings:
        print(f"{name:38} {seconds:8.2f} s  {rows / seconds:>10,.0f} rows/s")
    (_, raw), (_, floor), (_, ingest) = timings
    print(f"ratio {ingest / raw:.2f}x   (goal: <= 2x)   {result}")
    print(f"ratio to the floor (receipts + deliveries rows) {ingest / floor:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder")
    parser.add_argument("--db", help="a PostgreSQL URL: run on PostgreSQL instead of SQLite")
    args = parser.parse_args()
    if args.db:
        postgres(args.db, args.rows)
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "template.db"
    template.unlink(missing_ok=True)
    make_store(template, args.rows)
    forms = make_forms(args.rows)
    rows = raw_rows(forms)

    raw_db, ingest_db = folder / "raw.db", folder / "ingest.db"
    for target in (raw_db, ingest_db):
        shutil.copyfile(template, target)
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)

    conn = sqlite3.connect(raw_db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    started = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO receipts (vendor, task_id, phone, status, code, reason, received_at,"
            " talk_seconds, remark, campaign, batch, matched, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    raw = time.perf_counter() - started
    started = time.perf_counter()
    with conn:
        conn.executemany(
            f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(DELIVERY_COLUMNS))})",
            delivery_rows(rows),
        )
    floor = raw + time.perf_counter() - started
    conn.close()

    started = time.perf_counter()
    result = ingest_receipts(ingest_db, forms, vendor=VENDOR)
    ingest = time.perf_counter() - started
    assert result.inserted == args.rows, result

    check = sqlite3.connect(ingest_db)
    stored = check.execute("SELECT COUNT(*), SUM(matched) FROM receipts").fetchone()
    deliveries = check.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
    counted = check.execute("SELECT SUM(n) FROM delivery_counts").fetchone()[0]
    check.close()
    assert stored == (args.rows, args.rows)
    assert deliveries == counted == args.rows

    print(f"receipts: {args.rows:,} pushed forms (veesing-sms), store in {folder}")
    report(args.rows, result, (
        ("raw sqlite3.executemany (parsed rows)", raw),
        ("raw executemany + deliveries rows", floor),
        ("cp.ingest_receipts (forms)", ingest),
    ))  # fmt: skip
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
