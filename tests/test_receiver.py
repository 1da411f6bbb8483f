"""The push receiver: answers only after commit, every error path, crashes and garbage.

Everything runs on 127.0.0.1, on both engines (a real SQLite file, a real PostgreSQL server);
load tests are bounded in requests and time.
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlite_utils

import campaign as cp
from campaign.receiver import PUSHING, decode_form, serve
from campaign.send import send
from campaign.simulator import serve as simulate
from campaign.store import connect
from campaign.store.postgres import is_postgres_url

SMS = "【云通信】双11会员专享,全场五折,回T退订"
FORM_TYPE = "application/x-www-form-urlencoded;charset=utf-8"


def receipt_body(phone: str, *, status: str = "1", charset: str = "utf-8") -> bytes:
    form = {"mobile": phone, "taskid": "T1", "status": status, "code": "DELIVRD",
            "receivetime": "2024-11-11 20:00:00"}  # fmt: skip
    return urllib.parse.urlencode(form, encoding=charset).encode("ascii")


def reply_body(phone: str, content: str, *, charset: str = "utf-8") -> bytes:
    form = {"mobile": phone, "taskid": "T1", "content": content,
            "receivetime": "2024-11-11 20:05:00"}  # fmt: skip
    return urllib.parse.urlencode(form, encoding=charset).encode("ascii")


def post(url: str, body: bytes, content_type: str = FORM_TYPE, **kw) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10, **kw)


def count(db, sql: str) -> int:
    with connect(db) as store:
        return store.one(sql)[0]


def rows(db, sql: str) -> list[tuple]:
    with connect(db) as store:
        return store.rows(sql)


def dump_store(db) -> str:
    """Everything in the store as text: SQLite's ``iterdump``; on PostgreSQL every row of
    every table (what ``pg_dump --data-only`` would hold)."""
    if not is_postgres_url(db):
        return "\n".join(sqlite_utils.Database(db).iterdump())
    with connect(db) as store:
        tables = [t for (t,) in store.rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        return "\n".join(
            f"{table}: {row!r}" for table in tables for row in store.rows(f"SELECT * FROM {table}")
        )


def open_store(db):
    """The caller's own open store: a ``sqlite_utils.Database`` on SQLite (as a notebook
    holds one), a :class:`~campaign.store.Store` on PostgreSQL."""
    return connect(db) if is_postgres_url(db) else cp.open_db(db)


@pytest.fixture
def db(store_url):
    """The store, on both engines: a SQLite file, or an empty PostgreSQL database."""
    return store_url


@pytest.fixture
def receiver(db):
    with serve(db, port=0) as r:
        yield r


def test_a_push_is_stored_before_the_200_and_a_duplicate_once(receiver, db):
    url = f"{receiver.url}/push/veesing-sms"
    response = post(url, receipt_body("13800000000"))
    assert response.status_code == 200
    assert count(db, "SELECT COUNT(*) FROM receipts") == 1  # committed: visible to another reader
    assert post(url, receipt_body("13800000000")).status_code == 200
    assert count(db, "SELECT COUNT(*) FROM receipts") == 1
    assert post(url, reply_body("13800000000", "退订")).status_code == 200
    assert count(db, "SELECT opt_out FROM replies") == 1
    assert count(db, "SELECT matched FROM receipts") == 0  # unknown task: kept, flagged


def test_error_answers(receiver, db):
    base = receiver.url
    bad = post(f"{base}/push/veesing-sms", b"mobile=13800000000&taskid=1")
    assert bad.status_code == 400
    assert "status" in bad.text
    assert post(f"{base}/push/veesing-sms", b"").status_code == 400
    assert post(f"{base}/push/veesing-sms", b'{"a": 1}', "application/json").status_code == 400
    assert post(f"{base}/push/nobody", receipt_body("13800000000")).status_code == 404
    assert post(f"{base}/push/jzyyun-sms", receipt_body("13800000000")).status_code == 404
    assert post(f"{base}/elsewhere", b"x=1").status_code == 404
    assert requests.get(f"{base}/push/veesing-sms", timeout=5).status_code == 405
    assert requests.put(f"{base}/push/veesing-sms", data=b"x", timeout=5).status_code == 405
    huge = post(f"{base}/push/veesing-sms", b"x" * (receiver.max_body + 1))
    assert huge.status_code == 413

    def chunks():
        for _ in range(100):
            yield b"y" * 1024

    assert requests.post(f"{base}/push/veesing-sms", data=chunks(), timeout=10).status_code == 413
    health = requests.get(f"{base}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    stored = rows(db, "SELECT source, body FROM rejected ORDER BY id")
    assert [s for s, _ in stored] == ["push:veesing-sms"] * 3
    assert stored[0][1] == b"mobile=13800000000&taskid=1"  # the raw body, kept
    assert count(db, "SELECT COUNT(*) FROM receipts") == 0


def test_token_403_stored_nowhere_and_never_logged(db, caplog):
    secret = "s3cr3t-t0ken"
    caplog.set_level(logging.DEBUG, logger="campaign")
    with serve(db, port=0, token=secret) as r:
        url = f"{r.url}/push/veesing-sms"
        assert post(url, receipt_body("13800000000")).status_code == 403
        assert post(url + "?token=wrong", receipt_body("13800000000")).status_code == 403
        assert post(url + "?token=wrong", b"garbage").status_code == 403
        assert post(url + f"?token={secret}", receipt_body("13800000000")).status_code == 200
        headers = {"X-Campaign-Token": secret, "Content-Type": FORM_TYPE}
        ok = requests.post(url, data=receipt_body("13800000001"), headers=headers, timeout=5)
        assert ok.status_code == 200
        assert secret not in repr(r)
    assert count(db, "SELECT COUNT(*) FROM receipts") == 2
    assert count(db, "SELECT COUNT(*) FROM rejected") == 0
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("campaign")]
    assert ours
    assert not any(secret in line for line in ours)
    dump = dump_store(db)
    assert secret not in dump


@pytest.mark.parametrize(
    ("body_charset", "declared"),
    [("gbk", "GBK"), ("utf-8", "GBK"), ("gbk", "utf-8"), ("utf-8", None), ("gbk", None)],
)
def test_charsets_declared_or_lying(receiver, db, body_charset, declared):
    content_type = "application/x-www-form-urlencoded" + (
        f";charset={declared}" if declared else ""
    )
    body = reply_body("13800000000", "退订,谢谢", charset=body_charset)
    assert post(f"{receiver.url}/push/veesing-sms", body, content_type).status_code == 200
    with connect(db) as store:
        assert store.one("SELECT content FROM replies") == ("退订,谢谢",)


def test_decode_form_repeated_fields_are_a_bad_push():
    form = decode_form(b"mobile=1&mobile=2&status=1", "")
    assert form["mobile"] == ["1", "2"]
    with pytest.raises(cp.PayloadError):
        cp.vendors.parse_push("veesing-sms", {**form, "taskid": "1", "receivetime": "x"})


def test_simulator_pushes_end_to_end(db):
    with (
        serve(db, port=0) as r,
        simulate(seed=2, time_scale=3600, push_to=r.url, reply_rate=0.2) as sim,
    ):
        client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
        plan = cp.plan_batches([str(13800000000 + i) for i in range(200)], vendor="veesing-sms",
                               content=SMS, batch_size=80)  # fmt: skip
        send(plan, client, db=db, campaign="double11", progress=False)
        voice = cp.vendor("veesing-voice", app_id="a", app_key="k", base_url=sim.url)
        vplan = cp.plan_batches(["13900000000", "13900000001"], vendor="veesing-voice",
                                template_id="724", variables="1234")  # fmt: skip
        send(vplan, voice, db=db, campaign="voice", progress=False)
        assert sim.flush(timeout=20)
        log = sim.push_log
        # receipts faster than send's own bookkeeping are linked once the task id is known
        deadline = time.monotonic() + 10
        while count(db, "SELECT MIN(matched) FROM receipts") != 1:
            assert time.monotonic() < deadline, "early receipts never linked"
            time.sleep(0.1)
    assert log
    assert all(p.delivered for p in log)
    receipts = sum(p.kind == "receipt" for p in log)
    assert count(db, "SELECT COUNT(*) FROM receipts") == receipts
    assert count(db, "SELECT COUNT(*) FROM replies") == sum(p.kind == "reply" for p in log) > 0
    assert count(db, "SELECT MIN(matched) FROM receipts") == 1
    # one delivery per recipient with a receipt (a phone may get several receipts)
    assert count(db, "SELECT COUNT(*) FROM deliveries") == count(
        db, "SELECT COUNT(*) FROM (SELECT DISTINCT campaign, phone FROM receipts)"
    )
    assert count(db, "SELECT COUNT(*) FROM receipts WHERE talk_seconds IS NOT NULL") == 2
    assert count(db, "SELECT COUNT(*) FROM replies WHERE campaign = 'double11'") > 0


def test_serve_uses_its_own_connection_not_the_callers(db):
    mine = open_store(db)
    with serve(mine, port=0) as r:
        assert r._database.conn is not mine.conn
        assert post(f"{r.url}/push/veesing-sms", receipt_body("13800000000")).status_code == 200
    # stop() closed the receiver's connection, not the caller's
    assert mine.execute("SELECT COUNT(*) FROM receipts").fetchone() == (1,)
    mine.conn.close()


def test_serve_refuses_an_in_memory_store():  # SQLite only: in-memory stores are SQLite's
    with pytest.raises(cp.ConfigError, match="in-memory"):
        serve(sqlite_utils.Database(memory=True), port=0)
    with pytest.raises(cp.ConfigError, match="in-memory"):
        serve(":memory:", port=0)


def test_pushes_in_flight_at_stop_are_all_answered_and_stored(db, monkeypatch):
    import campaign.receiver.writer as module

    gate, first = threading.Event(), threading.Event()
    real = module.store_records
    held = []  # receipts in the commit being held; the writer may have grouped several

    def slow_store(*args, **kwargs):
        if not first.is_set():  # hold the first commit: the other pushes queue up behind it
            held.extend(kwargs["receipts"])
            first.set()
            gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "store_records", slow_store)
    r = serve(db, port=0)
    url = f"{r.url}/push/veesing-sms"
    with ThreadPoolExecutor(12) as pool:
        answers = [pool.submit(post, url, receipt_body(f"1380000{i:04d}")) for i in range(12)]
        assert first.wait(10)
        deadline = time.monotonic() + 10
        while len(held) + r._queue.qsize() < 12:
            assert time.monotonic() < deadline, "pushes never queued"
            time.sleep(0.01)
        stopping = threading.Thread(target=r.stop)
        stopping.start()
        time.sleep(0.3)  # stop() is under way with every push still waiting for its commit
        gate.set()
        stopping.join(30)
        assert not stopping.is_alive()
        codes = [a.result().status_code for a in answers]
    assert codes == [200] * 12
    assert count(db, "SELECT COUNT(*) FROM receipts") == 12
    assert r.acknowledged == 12


def test_a_push_queued_after_the_writer_is_gone_gets_503_not_a_hang(db):
    r = serve(db, port=0)
    try:
        r._queue.put(None)  # the writer exits between accept()'s check and its wait
        r._writer.join(10)
        started = time.monotonic()
        status, _ = r.accept("veesing-sms", receipt_body("13800000000"), FORM_TYPE)
        assert status == 503
        assert time.monotonic() - started < 5
    finally:
        r.stop()


def test_concurrent_pushes_all_acknowledged_and_stored(receiver, db):
    url = f"{receiver.url}/push/veesing-sms"

    def push_many(worker: int) -> int:
        with requests.Session() as session:
            ok = 0
            for i in range(60):
                body = receipt_body(f"138{worker:02d}{i:06d}")
                reply = session.post(url, data=body, headers={"Content-Type": FORM_TYPE})
                ok += reply.status_code == 200
            return ok

    with ThreadPoolExecutor(16) as pool:
        acked = sum(pool.map(push_many, range(16)))
    assert acked == 16 * 60 == count(db, "SELECT COUNT(*) FROM receipts")
    assert receiver.acknowledged == acked


def raw_request(url: str, data: bytes, *, close_after: bool = True) -> bytes:
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(data)
        if close_after:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


def test_garbage_truncation_wrong_charsets_and_huge_bodies_lose_nothing(receiver, db):
    url = receiver.url
    host = urllib.parse.urlsplit(url).netloc
    good = 0
    nasty = [
        b"\x00\xff\xfe garbage \r\n\r\n",
        b"POST /push/veesing-sms HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nmobile=1",
        b"POST /push/veesing-sms HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /push/veesing-sms HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nxx",
        b"POST /push/veesing-sms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"POST /push/veesing-sms HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    ]
    for i, junk in enumerate(nasty):
        raw_request(url, junk)
        body = receipt_body(f"1380000{i:04d}")
        assert post(f"{url}/push/veesing-sms", body).status_code == 200
        good += 1
    # wrong charsets and undecodable bytes
    for i, (body, ctype) in enumerate(
        [
            (b"mobile=%FF%FE%FD&taskid=1&content=%80", "application/x-www-form-urlencoded"),
            ("content=退订".encode("utf-16"), "application/x-www-form-urlencoded;charset=big5"),
            (b"%%%%&&&==", "application/x-www-form-urlencoded;charset=nonsense"),
        ]
    ):
        assert post(f"{url}/push/veesing-sms", body, ctype).status_code == 400, i
    huge = b"mobile=" + b"1" * (5 * receiver.max_body)
    assert post(f"{url}/push/veesing-sms", huge).status_code == 413
    request = (
        f"POST /push/veesing-sms HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM_TYPE}\r\n"
        f"Content-Length: 10\r\n\r\nmobile=138"
    ).encode()
    raw_request(url, request[:-3])  # truncated mid-body, then gone
    assert requests.get(f"{url}/health", timeout=5).json()["status"] == "ok"
    assert post(f"{url}/push/veesing-sms", receipt_body("13899999999")).status_code == 200
    good += 1
    assert count(db, "SELECT COUNT(*) FROM receipts") == good
    assert count(db, "SELECT COUNT(*) FROM rejected") == 3


# --------------------------------------------------------------------------- processes

SERVER = textwrap.dedent(
    """
    import sys
    from campaign.receiver import run
    run(sys.argv[1], port=int(sys.argv[2]),
        on_ready=lambda r: open(sys.argv[3], "w").write(r.url))
    """
)


def start_receiver(db, tmp_path, port: int = 0) -> tuple[subprocess.Popen, str]:
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(db), str(port), str(ready)],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    deadline = time.monotonic() + 20
    while not (ready.exists() and ready.read_text()):
        assert proc.poll() is None, "receiver exited"
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.02)
    return proc, ready.read_text()


def load(url: str, stop: threading.Event, acked: list[str], prefix: int) -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    for i in range(3000):  # bounded
        if stop.is_set():
            break
        phone = f"13{prefix}{i:08d}"
        try:
            conn.request("POST", "/push/veesing-sms", body=receipt_body(phone),
                         headers={"Content-Type": FORM_TYPE})  # fmt: skip
            if conn.getresponse().read() == b"ok":
                acked.append(phone)
        except (OSError, http.client.HTTPException):
            break
    conn.close()


def test_sigkill_mid_load_loses_no_acknowledged_push(db, tmp_path):
    proc, url = start_receiver(db, tmp_path)
    stop = threading.Event()
    acked: list[list[str]] = [[] for _ in range(8)]
    threads = [threading.Thread(target=load, args=(url, stop, acked[i], i)) for i in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while sum(map(len, acked)) < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    confirmed = {p for part in acked for p in part}
    assert len(confirmed) >= 100
    proc, url = start_receiver(db, tmp_path)  # restart on the same store
    try:
        assert post(f"{url}/push/veesing-sms", receipt_body("13999999999")).status_code == 200
        stored = {p for (p,) in rows(db, "SELECT phone FROM receipts")}
        assert confirmed <= stored, f"{len(confirmed - stored)} acknowledged pushes lost"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_sigterm_shuts_down_cleanly(db, tmp_path):
    proc, url = start_receiver(db, tmp_path)
    stop = threading.Event()
    acked: list[str] = []
    worker = threading.Thread(target=load, args=(url, stop, acked, 7))
    worker.start()
    deadline = time.monotonic() + 20
    while len(acked) < 20:  # under load: shut down while pushes are flowing
        assert time.monotonic() < deadline, f"only {len(acked)} pushes acknowledged"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    stop.set()
    worker.join(timeout=10)
    stored = {p for (p,) in rows(db, "SELECT phone FROM receipts")}
    assert acked
    assert set(acked) <= stored


def test_pushing_vendors_come_from_their_limits():
    assert set(PUSHING) == {"veesing-sms", "veesing-code", "veesing-voice"}
