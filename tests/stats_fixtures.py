"""Stores for the statistics, plots and report tests, written with plain SQL.

The builder writes what send and ingest would: campaigns, batches, recipients (with the
contact list's columns as ``attrs`` JSON), ``recipient_counts``, raw ``receipts`` (a
duplicate is ignored by the unique index, as at ingest) and ``deliveries`` (each
recipient's latest receipt; updating a row fires the store's triggers that keep
``delivery_counts``), and ``replies``. It does not import ``campaign.ingest``, so the
statistics can be tested without it.

``double11(path)`` builds the hand-computed store the tests check numbers against; its
expected figures are written out next to it.
"""

from __future__ import annotations

import json
from pathlib import Path

from campaign.store import open_db

T0 = "2024-11-11T10:00:00+08:00"


class StoreBuilder:
    def __init__(self, path: Path | str):
        self.db = open_db(path)
        self.conn = self.db.conn

    # -- campaigns and recipients, as send records them
    def campaign(
        self,
        name: str,
        *,
        vendor: str = "veesing-sms",
        channel: str = "sms",
        content: str = "【云通信】双11会员专享,回T退订",
    ) -> StoreBuilder:
        with self.conn:
            self.conn.execute(
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
        vendor = self.conn.execute(
            "SELECT vendor FROM campaigns WHERE name = ?", [campaign]
        ).fetchone()[0]
        rows = list(recipients)
        with self.conn:
            self.conn.execute(
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
            self.conn.executemany(
                "INSERT INTO recipients (campaign, phone, batch, carrier, province, city, attrs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        campaign,
                        phone,
                        batch,
                        carrier,
                        province,
                        city,
                        json.dumps(attrs, ensure_ascii=False) if attrs else None,
                    )
                    for phone, carrier, province, city, attrs in rows
                ],
            )
            self.conn.executemany(
                "INSERT INTO recipient_counts VALUES (?, ?, ?, ?, ?, 1)"
                " ON CONFLICT DO UPDATE SET n = n + 1",
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
        vendor, batch, task_id = self.conn.execute(
            "SELECT b.vendor, b.batch, b.task_id FROM recipients r JOIN batches b"
            " ON b.campaign = r.campaign AND b.batch = r.batch"
            " WHERE r.campaign = ? AND r.phone = ?",
            [campaign, phone],
        ).fetchone()
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO receipts (vendor, task_id, phone, status, code, reason,"
                " received_at, talk_seconds, campaign, batch, ingested_at, matched)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
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
            latest = self.conn.execute(
                "SELECT id, status, code, reason, received_at, talk_seconds FROM receipts"
                " WHERE campaign = ? AND phone = ? ORDER BY received_at DESC, id DESC LIMIT 1",
                [campaign, phone],
            ).fetchone()
            self.conn.execute(
                "INSERT INTO deliveries (campaign, phone, batch, vendor, task_id, status, code,"
                " reason, received_at, talk_seconds, carrier, province, city, receipt_id)"
                " SELECT r.campaign, r.phone, r.batch, ?, ?, ?, ?, ?, ?, ?, r.carrier,"
                " r.province, r.city, ? FROM recipients r WHERE r.campaign = ? AND r.phone = ?"
                " ON CONFLICT DO UPDATE SET status = excluded.status, code = excluded.code,"
                " reason = excluded.reason, received_at = excluded.received_at,"
                " talk_seconds = excluded.talk_seconds, receipt_id = excluded.receipt_id",
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
        with self.conn:
            self.conn.execute(
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
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO replies (vendor, task_id, phone, content, received_at,"
                " opt_out, campaign, ingested_at) VALUES (?, NULL, ?, ?, ?, ?, ?, ?)",
                [vendor, phone, content, received_at, int(opt_out), campaign, received_at],
            )
        return self


def _r(phone, carrier, province, city, **attrs):
    return (phone, carrier, province, city, attrs)


def double11(path: Path | str) -> Path:
    """The hand-computed store (expected figures in EXPECTED_* below and in the tests).

    double11 (SMS, veesing-sms):
      batch 1 accepted 10:00  p1..p6      batch 2 accepted 14:30  p7..p10
      batch 3 rejected        p11, p12    batch 4 'unknown' 15:00 p13, p14 (p13 has a
                                          receipt: the vendor had it, so it is submitted)
    voice1 (voice, veesing-voice): batch 1 accepted 2024-11-12 09:00, v1..v5.
    """
    s = StoreBuilder(path)
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
    return Path(path)


def two_variants(path: Path | str, *, a=(930, 1000), b=(900, 1000)) -> Path:
    """Campaigns 'A' and 'B' of one batch each: a[0] of a[1] delivered, the rest failed."""
    s = StoreBuilder(path)
    for name, (delivered, total), prefix in (("A", a, 1380000), ("B", b, 1390000)):
        s.campaign(name)
        phones = [f"{prefix}{i:04d}" for i in range(total)]
        s.batch(name, 1, recipients=[_r(p, "移动", "广东", "广州", variant=name) for p in phones])
        with s.conn:
            s.conn.executemany(
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
    return Path(path)


def replies_before_receipts(path: Path | str) -> Path:
    """Replies that outrun the receipts, the usual case minutes after a send.

    'early': 5 numbers, 1 delivery receipt so far, yet all 5 replied (one is an opt-out):
    repliers 5 > delivered 1, 4 repliers without a receipt. 'late': 10 numbers, 8
    delivered, 2 repliers. Both SMS on veesing-sms, variant A for early, B for late.
    """
    s = StoreBuilder(path)
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
    return Path(path)
