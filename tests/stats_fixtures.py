"""Stores for the statistics, plots and report tests, written with plain SQL.

The builder writes what send and ingest would: campaigns, batches, recipients (with the
contact list's columns as ``attrs`` JSON), ``recipient_counts``, raw ``receipts`` (a
duplicate is ignored by the unique index, as at ingest) and ``deliveries`` (each
recipient's latest receipt; updating a row fires the store's triggers that keep
``delivery_counts``), and ``replies``. It does not import ``campaign.ingest``, so the
statistics can be tested without it.

``double11(db)`` builds the hand-computed store the tests check numbers against; its
expected figures are written out next to it.

Every builder takes ``db`` as a SQLite path or a PostgreSQL URL and writes through
:func:`campaign.store.connect`, in SQL both engines read alike (``?`` placeholders, upserts
with a conflict target, ``ON CONFLICT DO NOTHING`` for SQLite's ``INSERT OR IGNORE``), so the
same rows land in either. :func:`postgres_database` gives a module-scoped fixture a fresh
PostgreSQL database of its own (``conftest.postgres_db`` is one per test).
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

from campaign.store import connect
from campaign.store.batches import _profiles
from campaign.store.postgres import is_postgres_url

T0 = "2024-11-11T10:00:00+08:00"

# A duplicate is looked up before it is inserted, not left to ON CONFLICT DO NOTHING alone:
# PostgreSQL draws an id for the row it then drops, and the ids would no longer be SQLite's.
# The same columns as the unique indexes receipts_once and replies_once.
_RECEIPT_STORED = (
    "SELECT 1 FROM receipts WHERE vendor = ? AND COALESCE(task_id, '') = COALESCE(?, '')"
    " AND phone = ? AND status = ? AND COALESCE(code, '') = COALESCE(?, '')"
    " AND COALESCE(received_at, '') = COALESCE(?, '')"
)
_REPLY_STORED = (
    "SELECT 1 FROM replies WHERE vendor = ? AND task_id IS NULL AND phone = ? AND content = ?"
    " AND COALESCE(received_at, '') = COALESCE(?, '')"
)


def _given(db: Path | str) -> Path | str:
    """What a builder returns: the path as a Path, a PostgreSQL URL as it is."""
    return db if is_postgres_url(db) else Path(db)


@contextlib.contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server at ``server``; its URL. Dropped after.

    ``conftest.postgres_db`` does this for one test; this is for module-scoped fixtures."""
    import psycopg

    name = "campaign_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urllib.parse.urlsplit(server)
    try:
        yield urllib.parse.urlunsplit(parts._replace(path="/" + name))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def at_schema(monkeypatch, db: Path | str, version: int) -> None:
    """Make stores at ``db``'s engine at schema ``version`` until ``monkeypatch.undo()``:
    the migrations after it are left out, so that a test can fill an old store and watch
    the next open migrate it."""
    from campaign import store as store_pkg
    from campaign.store import postgres_schema, schema

    if is_postgres_url(db):
        monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:version])
        return
    for where in (store_pkg, schema):
        monkeypatch.setattr(where, "MIGRATIONS", schema.MIGRATIONS[:version])
        monkeypatch.setattr(where, "SCHEMA_VERSION", version)


class StoreBuilder:
    """Writes a store at ``db`` (a SQLite path or a PostgreSQL URL); ``close()`` when done."""

    def __init__(self, db: Path | str):
        self.store = connect(db)
        self._tables: dict[str, bool] = {}

    def close(self) -> None:
        self.store.close()

    def _has(self, table: str) -> bool:
        """Whether the store has ``table`` (a store made at an older schema may not)."""
        if table not in self._tables:
            sql = (
                "SELECT COUNT(*) FROM sqlite_master WHERE name = ?"
                if self.store.engine.name == "sqlite"
                else "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = ?"
            )
            self._tables[table] = bool(self.store.scalar(sql, [table]))
        return self._tables[table]

    def __enter__(self) -> StoreBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- campaigns and recipients, as send records them
    def campaign(
        self,
        name: str,
        *,
        vendor: str = "veesing-sms",
        channel: str = "sms",
        content: str = "【云通信】双11会员专享,回T退订",
    ) -> StoreBuilder:
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO campaigns (name, vendor, channel, content, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [name, vendor, channel, content, "2024-11-10T09:00:00+08:00"],
            )
        return self

    def batch(
        self,
        campaign: str,
        batch: int,
        *,
        state: str = "accepted",
        submitted_at: str | None = T0,
        recipients=(),
        accepted: int | None = None,
    ) -> StoreBuilder:
        """``recipients``: (phone, carrier, province, city, attrs dict) tuples; ``accepted``
        is the vendor's own count (default: every recipient of an accepted batch)."""
        vendor = self.store.scalar("SELECT vendor FROM campaigns WHERE name = ?", [campaign])
        rows = list(recipients)
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO batches (campaign, batch, vendor, size, state, task_id, accepted,"
                " submitted_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                [
                    campaign,
                    batch,
                    vendor,
                    len(rows),
                    state,
                    f"{campaign}-task-{batch}",
                    accepted
                    if accepted is not None
                    else len(rows)
                    if state == "accepted"
                    else None,
                    submitted_at,
                ],
            )
            texts = [json.dumps(a, ensure_ascii=False) if a else None for *_, a in rows]
            if not self._has("profiles"):  # a store of a schema before 10
                self.store.executemany(
                    "INSERT INTO recipients (campaign, phone, batch, carrier, province, city,"
                    " attrs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(campaign, phone, batch, carrier, province, city, text)
                     for (phone, carrier, province, city, _), text in zip(rows, texts,
                                                                          strict=True)],
                )  # fmt: skip
                profiles = []
            else:
                profiles = _profiles(self.store, campaign, texts)  # the store's own numbering
                self.store.executemany(
                    "INSERT INTO recipients (campaign, phone, batch, carrier, province, city,"
                    " attrs, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (campaign, phone, batch, carrier, province, city, text, profile)
                        for (phone, carrier, province, city, _), text, profile in zip(
                            rows, texts, profiles, strict=True
                        )
                    ],
                )
            if profiles:
                self.store.executemany(
                    "INSERT INTO profile_recipients VALUES (?, ?, ?, 1)"
                    " ON CONFLICT (campaign, batch, profile) DO UPDATE"
                    " SET n = profile_recipients.n + 1",
                    [(campaign, batch, p) for p in profiles if p is not None],
                )
            self.store.executemany(
                "INSERT INTO recipient_counts VALUES (?, ?, ?, ?, ?, 1)"
                " ON CONFLICT (campaign, batch, carrier, province, city)"
                " DO UPDATE SET n = recipient_counts.n + 1",
                [
                    (campaign, batch, carrier or "", province or "", city or "")
                    for _, carrier, province, city, _ in rows
                ],
            )
        return self

    # -- what ingest writes
    def receipt(
        self,
        campaign: str,
        phone: str,
        status: str,
        received_at: str,
        *,
        code: str | None = None,
        reason: str | None = None,
        talk_seconds: int | None = None,
    ) -> StoreBuilder:
        """Store a raw receipt and make the recipient's latest receipt its delivery row."""
        vendor, batch, task_id = self.store.one(
            "SELECT b.vendor, b.batch, b.task_id FROM recipients r JOIN batches b"
            " ON b.campaign = r.campaign AND b.batch = r.batch"
            " WHERE r.campaign = ? AND r.phone = ?",
            [campaign, phone],
        )
        with self.store.transaction():
            stored = self.store.one(
                _RECEIPT_STORED, [vendor, task_id, phone, status, code, received_at]
            )
            if not stored:  # a duplicate is ignored, as by the unique index
                self.store.execute(
                    "INSERT INTO receipts (vendor, task_id, phone, status, code, reason,"
                    " received_at, talk_seconds, campaign, batch, ingested_at, matched)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                    [
                        vendor,
                        task_id,
                        phone,
                        status,
                        code,
                        reason,
                        received_at,
                        talk_seconds,
                        campaign,
                        batch,
                        received_at,
                    ],
                )
            latest = self.store.one(
                "SELECT id, status, code, reason, received_at, talk_seconds FROM receipts"
                " WHERE campaign = ? AND phone = ? ORDER BY received_at DESC, id DESC LIMIT 1",
                [campaign, phone],
            )
            self.store.execute(
                "INSERT INTO deliveries (campaign, phone, batch, vendor, task_id, status, code,"
                " reason, received_at, talk_seconds, carrier, province, city,"
                f"{' profile,' if self._has('profiles') else ''}"
                " receipt_id) SELECT r.campaign, r.phone, r.batch, ?, ?, ?, ?, ?, ?, ?,"
                " r.carrier, r.province, r.city,"
                f"{' r.profile,' if self._has('profiles') else ''}"
                " ? FROM recipients r WHERE r.campaign = ? AND r.phone = ?"
                " ON CONFLICT (campaign, phone) DO UPDATE SET status = excluded.status,"
                " code = excluded.code, reason = excluded.reason,"
                " received_at = excluded.received_at, talk_seconds = excluded.talk_seconds,"
                " receipt_id = excluded.receipt_id",
                [
                    vendor,
                    task_id,
                    latest[1],
                    latest[2],
                    latest[3],
                    latest[4],
                    latest[5],
                    latest[0],
                    campaign,
                    phone,
                ],
            )
        return self

    def unlinked_receipt(
        self, vendor: str, task_id: str | None, phone: str, received_at: str = T0
    ) -> StoreBuilder:
        """A receipt for a task no batch claims: stored unmatched, no campaign (as ingest)."""
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO receipts (vendor, task_id, phone, status, received_at,"
                " ingested_at, matched) VALUES (?, ?, ?, 'delivered', ?, ?, 0)",
                [vendor, task_id, phone, received_at, received_at],
            )
        return self

    def reply(
        self,
        campaign: str | None,
        phone: str,
        content: str,
        received_at: str,
        *,
        opt_out: bool = False,
        vendor: str = "veesing-sms",
    ) -> StoreBuilder:
        with self.store.transaction():
            if self.store.one(_REPLY_STORED, [vendor, phone, content, received_at]):
                return self  # a duplicate: ignored, as by the unique index
            self.store.execute(
                "INSERT INTO replies (vendor, task_id, phone, content, received_at,"
                " opt_out, campaign, ingested_at) VALUES (?, NULL, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [vendor, phone, content, received_at, int(opt_out), campaign, received_at],
            )
        return self


def _r(phone, carrier, province, city, **attrs):
    return (phone, carrier, province, city, attrs)


def double11(db: Path | str) -> Path | str:
    """The hand-computed store (expected figures in EXPECTED_* below and in the tests).

    double11 (SMS, veesing-sms):
      batch 1 accepted 10:00  p1..p6      batch 2 accepted 14:30  p7..p10
      batch 3 rejected        p11, p12    batch 4 'unknown' 15:00 p13, p14 (p13 has a
                                          receipt: the vendor had it, so it is submitted)
    voice1 (voice, veesing-voice): batch 1 accepted 2024-11-12 09:00, v1..v5.
    """
    s = StoreBuilder(db)
    s.campaign("double11")
    s.batch(
        "double11",
        1,
        submitted_at="2024-11-11T10:00:00+08:00",
        recipients=[
            _r("13800000001", "移动", "广东", "广州", variant="A", tier="gold"),
            _r("13800000002", "移动", "广东", "深圳", variant="A", tier="silver"),
            _r("13800000003", "联通", "北京", "北京", variant="B", tier="gold"),
            _r("13800000004", "电信", "广东", "广州", variant="B", tier="silver"),
            _r("13800000005", "移动", "北京", "北京", variant="A", tier="gold"),
            _r("13800000006", "联通", "广东", "深圳", variant="B", tier="gold"),
        ],
    )
    s.batch(
        "double11",
        2,
        submitted_at="2024-11-11T14:30:00+08:00",
        recipients=[
            _r("13900000007", "移动", "上海", "上海", variant="A", tier="silver"),
            _r("13900000008", "电信", "上海", "上海", variant="B", tier="silver"),
            _r("13900000009", None, None, None, variant="A", tier="gold"),
            _r("13900000010", "移动", "广东", "广州", variant="B", tier="gold"),
        ],
    )
    s.batch(
        "double11",
        3,
        state="rejected",
        submitted_at="2024-11-11T14:31:00+08:00",
        recipients=[
            _r("13700000011", "移动", "广东", "广州", variant="A", tier="gold"),
            _r("13700000012", "移动", "广东", "广州", variant="B", tier="gold"),
        ],
    )
    s.batch(
        "double11",
        4,
        state="unknown",
        submitted_at="2024-11-11T15:00:00+08:00",
        recipients=[
            _r("13600000013", "移动", "广东", "广州", variant="A", tier="gold"),
            _r("13600000014", "联通", "北京", "北京", variant="B", tier="gold"),
        ],
    )
    d = "double11"
    s.receipt(d, "13800000001", "delivered", "2024-11-11T10:00:30+08:00", code="DELIVRD")
    s.receipt(
        d, "13800000002", "failed", "2024-11-11T10:01:00+08:00", code="MK:0005", reason="停机"
    )
    s.receipt(
        d, "13800000002", "failed", "2024-11-11T10:01:00+08:00", code="MK:0005", reason="停机"
    )  # a duplicate push: ignored
    # out of order: the later 'delivered' arrives first, the earlier 'unknown' after it
    s.receipt(d, "13800000003", "delivered", "2024-11-11T10:02:00+08:00", code="DELIVRD")
    s.receipt(d, "13800000003", "unknown", "2024-11-11T10:00:10+08:00", code="ACCEPTD")
    # in order: unknown, then the final failure
    s.receipt(d, "13800000004", "unknown", "2024-11-11T10:00:20+08:00", code="ACCEPTD")
    s.receipt(
        d, "13800000004", "failed", "2024-11-11T10:05:00+08:00", code="UNDELIV", reason="空号"
    )
    s.receipt(d, "13800000005", "delivered", "2024-11-11T10:00:45+08:00", code="DELIVRD")
    s.receipt(d, "13900000007", "delivered", "2024-11-11T14:30:10+08:00", code="DELIVRD")
    s.receipt(
        d, "13900000008", "failed", "2024-11-11T14:31:00+08:00", code="DB:0141", reason="空号"
    )
    s.receipt(d, "13900000009", "unknown", "2024-11-11T14:40:00+08:00", code="UNKNOWN")
    s.receipt(d, "13600000013", "delivered", "2024-11-11T16:00:00+08:00", code="DELIVRD")

    s.reply(d, "13800000001", "好的", "2024-11-11T10:05:00+08:00")
    s.reply(d, "13800000001", "谢谢", "2024-11-11T11:20:00+08:00")
    s.reply(d, "13800000003", "TD", "2024-11-11T10:10:00+08:00", opt_out=True)
    s.reply(d, "13900000007", "退订", "2024-11-11T14:40:00+08:00", opt_out=True)
    s.reply(d, "13900000007", "退订", "2024-11-11T14:40:00+08:00", opt_out=True)  # duplicate
    s.reply(None, "13500000000", "你是谁", "2024-11-11T12:00:00+08:00")  # unmatched

    s.campaign("voice1", vendor="veesing-voice", channel="voice", content=None)
    s.batch(
        "voice1",
        1,
        submitted_at="2024-11-12T09:00:00+08:00",
        recipients=[
            _r("15000000001", "移动", "广东", "广州", variant="A"),
            _r("15000000002", "移动", "广东", "深圳", variant="A"),
            _r("15000000003", "联通", "北京", "北京", variant="B"),
            _r("15000000004", "电信", "上海", "上海", variant="B"),
            _r("15000000005", "移动", "广东", "广州", variant="B"),
        ],
    )
    v = "voice1"
    s.receipt(v, "15000000001", "delivered", "2024-11-12T09:00:20+08:00", talk_seconds=12)
    s.receipt(v, "15000000002", "delivered", "2024-11-12T09:00:40+08:00", talk_seconds=30)
    s.receipt(v, "15000000003", "delivered", "2024-11-12T09:01:00+08:00", talk_seconds=0)
    s.receipt(v, "15000000004", "failed", "2024-11-12T09:01:30+08:00", code="E:1", reason="关机")
    s.close()
    return _given(db)


def two_variants(db: Path | str, *, a=(930, 1000), b=(900, 1000)) -> Path | str:
    """Campaigns 'A' and 'B' of one batch each: a[0] of a[1] delivered, the rest failed."""
    s = StoreBuilder(db)
    for name, (delivered, total), prefix in (("A", a, 1380000), ("B", b, 1390000)):
        s.campaign(name)
        phones = [f"{prefix}{i:04d}" for i in range(total)]
        s.batch(name, 1, recipients=[_r(p, "移动", "广东", "广州", variant=name) for p in phones])
        with s.store.transaction():
            s.store.executemany(
                "INSERT INTO deliveries (campaign, phone, batch, vendor, status, received_at,"
                " carrier, province, city, receipt_id) VALUES (?, ?, 1, 'veesing-sms', ?, ?,"
                " '移动', '广东', '广州', ?)",
                [
                    (
                        name,
                        p,
                        "delivered" if i < delivered else "failed",
                        "2024-11-11T10:01:00+08:00",
                        i,
                    )
                    for i, p in enumerate(phones)
                ],
            )
    s.close()
    return _given(db)


def replies_before_receipts(db: Path | str) -> Path | str:
    """Replies that outrun the receipts, the usual case minutes after a send.

    'early': 5 numbers, 1 delivery receipt so far, yet all 5 replied (one is an opt-out):
    repliers 5 > delivered 1, 4 repliers without a receipt. 'late': 10 numbers, 8
    delivered, 2 repliers. Both SMS on veesing-sms, variant A for early, B for late.
    """
    s = StoreBuilder(db)
    for name, size, delivered, repliers, prefix, variant in (
        ("early", 5, 1, 5, "1380000", "A"),
        ("late", 10, 8, 2, "1390000", "B"),
    ):
        phones = [f"{prefix}{i:04d}" for i in range(size)]
        s.campaign(name).batch(
            name, 1, recipients=[_r(p, "移动", "广东", "广州", variant=variant) for p in phones]
        )
        for p in phones[:delivered]:
            s.receipt(name, p, "delivered", "2024-11-11T10:05:00+08:00")
        for i, p in enumerate(phones[:repliers]):
            s.reply(name, p, "TD" if i == 0 else "好", "2024-11-11T10:01:00+08:00", opt_out=i == 0)
    s.close()
    return _given(db)


def rollups_counted(db) -> list[tuple]:
    """Both roll-ups as the triggers keep them, rows of n 0 left out."""
    with connect(db, existing=True) as store:
        return sorted(store.rows(
            "SELECT campaign, vendor, carrier, province, status, seconds, n"
            " FROM latency_counts WHERE n != 0"))  + sorted(store.rows(
            "SELECT campaign, vendor, carrier, province, reason, code, n"
            " FROM failure_counts WHERE n != 0"))  # fmt: skip


def rollups_recounted(db) -> list[tuple]:
    """Both roll-ups recounted from every delivery, latency as the statistics compute it."""
    with connect(db, existing=True) as store:
        seconds = store.dialect.seconds_between("d.received_at", "b.submitted_at")
        return sorted(store.rows(
            f"SELECT d.campaign, d.vendor, COALESCE(d.carrier, ''), COALESCE(d.province, ''),"
            f" d.status, {seconds}, COUNT(*) FROM deliveries d JOIN batches b"
            " ON b.campaign = d.campaign AND b.batch = d.batch"
            " WHERE d.received_at IS NOT NULL AND b.submitted_at IS NOT NULL"
            " GROUP BY 1, 2, 3, 4, 5, 6")) + sorted(store.rows(
            "SELECT campaign, vendor, COALESCE(carrier, ''), COALESCE(province, ''),"
            " COALESCE(reason, ''), COALESCE(code, ''), COUNT(*) FROM deliveries"
            " WHERE status = 'failed' GROUP BY 1, 2, 3, 4, 5, 6"))  # fmt: skip
