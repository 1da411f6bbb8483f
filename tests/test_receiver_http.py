"""The receiver on uvicorn (issue 12): the input defects, hostile and slow clients, metrics,
HTTPS and workers. Real sockets on 127.0.0.1, both engines where the store is touched."""

from __future__ import annotations

import os
import random
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
from prometheus_client.parser import text_string_to_metric_families

import campaign as cp
from campaign.receiver import decode_form, run, serve
from campaign.store import connect

PUSH = "/push/veesing-sms"
FORM_TYPE = "application/x-www-form-urlencoded;charset=utf-8"


def receipt_body(phone: str) -> bytes:
    form = {"mobile": phone, "taskid": "T1", "status": "1", "code": "DELIVRD",
            "receivetime": "2024-11-11 20:00:00"}  # fmt: skip
    return urllib.parse.urlencode(form).encode("ascii")


def reply_body(phone: str, content: str, *, charset: str = "utf-8") -> bytes:
    form = {"mobile": phone, "taskid": "T1", "content": content,
            "receivetime": "2024-11-11 20:05:00"}  # fmt: skip
    return urllib.parse.urlencode(form, encoding=charset).encode("ascii")


def post(url: str, body: bytes, content_type: str = FORM_TYPE) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)


def rows(db, sql: str) -> list[tuple]:
    with connect(db) as store:
        return store.rows(sql)


def count(db, sql: str) -> int:
    return rows(db, sql)[0][0]


@pytest.fixture
def db(store_url):
    return store_url


@pytest.fixture
def receiver(db):
    with serve(db, port=0, head_timeout=1.0, body_timeout=1.0) as r:
        yield r


def address(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port


def exchange(url: str, data: bytes, *, timeout: float = 5) -> bytes:
    """Send raw bytes, then read until the server closes (or ``timeout``)."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


def request(body: bytes, *, extra: str = "", length: bool = True) -> bytes:
    head = f"POST {PUSH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_TYPE}\r\n{extra}"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


# --------------------------------------------------------------------------- the three defects


def test_a_declared_gbk_body_is_gbk_even_when_its_bytes_are_valid_utf8(receiver, db):
    body = reply_body("13800000000", "谢谢", charset="gbk")  # GBK 谢谢 is UTF-8 лл
    assert "谢谢".encode("gbk").decode("utf-8") == "лл"
    ctype = "application/x-www-form-urlencoded; charset=GBK"
    assert post(f"{receiver.url}{PUSH}", body, ctype).status_code == 200
    assert rows(db, "SELECT content FROM replies") == [("谢谢",)]


def test_the_charset_rule_declared_first_then_utf8_then_gb18030():
    gbk = urllib.parse.quote("谢谢".encode("gbk"))
    assert decode_form(f"c={gbk}".encode(), "charset=gbk")["c"] == "谢谢"
    assert decode_form(f"c={gbk}".encode(), "")["c"] == "лл"  # undeclared: UTF-8 first
    utf8 = urllib.parse.quote("退订,谢谢".encode())
    assert decode_form(f"c={utf8}".encode(), "charset=GBK")["c"] == "退订,谢谢"  # not GBK
    assert decode_form(f"c={utf8}".encode(), "charset=nonsense")["c"] == "退订,谢谢"
    with pytest.raises(cp.PayloadError):
        decode_form(b"c=%FF%FE", "charset=utf-8")


def test_content_length_with_chunked_is_refused_and_nothing_smuggled_is_stored(receiver, db):
    smuggled = request(receipt_body("13800000001"))
    chunked = b"0\r\n\r\n" + smuggled
    answer = exchange(receiver.url, request(chunked, extra="Transfer-Encoding: chunked\r\n"))
    assert answer.startswith(b"HTTP/1.1 400")
    assert answer.count(b"HTTP/1.1") == 1  # the connection closed: nothing behind it answered
    # the other order of the headers, and TE before CL
    head = (f"POST {PUSH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Length: {len(chunked)}\r\n\r\n").encode()  # fmt: skip
    answer = exchange(receiver.url, head + chunked)
    assert answer.startswith(b"HTTP/1.1 400")
    assert answer.count(b"HTTP/1.1") == 1
    assert post(f"{receiver.url}{PUSH}", receipt_body("13800000002")).status_code == 200
    assert rows(db, "SELECT phone FROM receipts") == [("13800000002",)]
    assert count(db, "SELECT COUNT(*) FROM rejected") == 0


def test_conflicting_content_lengths_are_refused(receiver, db):
    body = receipt_body("13800000001")
    smuggled = request(receipt_body("13800000003"))
    for extra in (f"Content-Length: {len(body) + len(smuggled)}\r\n", "Content-Length: 0\r\n"):
        answer = exchange(receiver.url, request(body + smuggled, extra=extra))
        assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
        assert answer.count(b"HTTP/1.1") == 1
    assert count(db, "SELECT COUNT(*) FROM receipts") == 0
    assert post(f"{receiver.url}{PUSH}", receipt_body("13800000004")).status_code == 200


@pytest.mark.parametrize("when", ["2024-11-11 20:0", "2024-11-11 20:00:0", "2024-11-11 2:00:00",
                                  "2024-11-11 20:00"])  # fmt: skip
def test_a_receive_time_cut_short_is_rejected_and_kept(receiver, db, when):
    form = {"mobile": "13800000000", "taskid": "T1", "status": "1", "code": "DELIVRD",
            "receivetime": when}  # fmt: skip
    body = urllib.parse.urlencode(form).encode()
    answer = post(f"{receiver.url}{PUSH}", body)
    assert answer.status_code == 400
    assert "cut short" in answer.text
    assert count(db, "SELECT COUNT(*) FROM receipts") == 0
    assert rows(db, "SELECT body FROM rejected") == [(body,)]
    # a full time, and a reply whose text merely looks like a short time, are stored
    assert post(f"{receiver.url}{PUSH}", receipt_body("13800000000")).status_code == 200
    assert post(f"{receiver.url}{PUSH}", reply_body("13800000000", when)).status_code == 200
    assert rows(db, "SELECT content FROM replies") == [(when,)]


# --------------------------------------------------------------------------- hostile clients


@pytest.mark.parametrize("size", [1024 * 1024, 10 * 1024 * 1024])
def test_a_client_writing_a_whole_oversized_body_before_reading_gets_413(receiver, db, size):
    answer = exchange(receiver.url, request(b"mobile=" + b"1" * size), timeout=20)
    assert answer.startswith(b"HTTP/1.1 413")
    body = b"x" * size

    def chunks():
        for at in range(0, size, 65536):
            yield body[at : at + 65536]

    chunked = requests.post(f"{receiver.url}{PUSH}", data=chunks(), timeout=20)
    assert chunked.status_code == 413
    assert post(f"{receiver.url}{PUSH}", receipt_body("13800000000")).status_code == 200
    assert count(db, "SELECT COUNT(*) FROM rejected") == 0


def test_stalled_clients_are_cut_off_and_hold_up_nobody(receiver, db):
    host, port = address(receiver.url)
    head = socket.create_connection((host, port), timeout=5)  # a byte at a time, forever
    body = socket.create_connection((host, port), timeout=5)  # a head, then a stalled body
    idle = socket.create_connection((host, port), timeout=5)  # connects, says nothing
    body.sendall(request(b"mobile=1", extra="")[:-3].replace(b"Length: 8", b"Length: 99"))
    stop = threading.Event()

    def trickle():
        for byte in f"POST {PUSH} HTTP/1.1\r\nHost: x\r\n".encode():
            if stop.wait(0.2):
                return
            try:
                head.send(bytes([byte]))
            except OSError:
                return

    trickler = threading.Thread(target=trickle)
    trickler.start()
    started = time.monotonic()
    with requests.Session() as session:
        for i in range(50):  # the others are served meanwhile, promptly
            answer = session.post(f"{receiver.url}{PUSH}", data=receipt_body(f"1380000{i:04d}"),
                                  headers={"Content-Type": FORM_TYPE}, timeout=5)  # fmt: skip
            assert answer.status_code == 200
    assert time.monotonic() - started < 5
    for sock, expect in ((body, b"HTTP/1.1 503"), (head, b""), (idle, b"")):
        sock.settimeout(5)
        got = b""
        try:
            while chunk := sock.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        assert got.startswith(expect)  # answered or cut off, within the timeouts
        sock.close()
    stop.set()
    trickler.join(5)
    assert time.monotonic() - started < 10
    assert count(db, "SELECT COUNT(*) FROM receipts") == 50
    assert count(db, "SELECT COUNT(*) FROM rejected") == 0


def test_random_bytes_and_truncated_forms_are_all_kept_in_rejected(receiver, db):
    rng = random.Random(12)
    bodies = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(40)]
    good = receipt_body("13800000000")
    bodies += [good[:cut] for cut in range(5, len(good) - 8, 9)]  # truncated forms
    bodies += [reply_body("13800000000", "退订", charset="gbk")[:-3] + b"%C", b"=&=&"]
    url = f"{receiver.url}{PUSH}"

    def push(body: bytes) -> int:
        return post(url, body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(push, bodies))
        for _ in range(20):  # raw garbage on sockets, meanwhile
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            pool.submit(exchange, receiver.url, junk, timeout=3)
    assert set(codes) <= {200, 400}
    stored = sorted(b for (b,) in rows(db, "SELECT body FROM rejected"))
    assert stored == sorted(bytes(b) for b, c in zip(bodies, codes, strict=True) if c == 400)
    assert codes.count(200) == count(db, "SELECT COUNT(*) FROM receipts") + count(
        db, "SELECT COUNT(*) FROM replies"
    )
    assert post(url, receipt_body("13899999999")).status_code == 200


# --------------------------------------------------------------------------- metrics


def samples(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", timeout=5)
    assert text.status_code == 200
    assert text.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.text)
        for s in family.samples
    }


def test_metrics_count_what_was_sent(receiver, db):
    url = f"{receiver.url}{PUSH}"
    for i in range(3):
        assert post(url, receipt_body(f"1380000000{i}")).status_code == 200
    assert post(url, receipt_body("13800000000")).status_code == 200  # a duplicate
    assert post(url, reply_body("13800000000", "退订")).status_code == 200
    assert post(url, b"garbage").status_code == 400
    assert post(url, b"").status_code == 400
    assert post(f"{receiver.url}/push/nobody", b"x=1").status_code == 404
    got = samples(receiver.url)

    def pushes(outcome: str) -> float:
        key = ("campaign_receiver_pushes_total", (("outcome", outcome), ("vendor", "veesing-sms")))
        return got.get(key, 0)

    assert pushes("stored") == 4  # 3 receipts and 1 reply
    assert pushes("duplicate") == 1
    assert pushes("rejected") == 2
    answers = {dict(k[1])["status"]: v for k, v in got.items()
               if k[0] == "campaign_receiver_answers_total"}  # fmt: skip
    assert answers == {"200": 5, "400": 2, "404": 1}
    assert got[("campaign_receiver_commit_seconds_count", ())] >= 1
    assert got[("campaign_receiver_commit_pushes_sum", ())] == 7
    assert got[("campaign_receiver_queue_depth", ())] == 0
    assert count(db, "SELECT COUNT(*) FROM rejected") == 2


# --------------------------------------------------------------------------- HTTPS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(folder / "cert.pem"), append=True)
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    return folder


def test_an_https_push(db, certificate):
    with serve(db, port=0, tls_cert=certificate / "cert.pem",
               tls_key=certificate / "key.pem") as r:  # fmt: skip
        assert r.url.startswith("https://127.0.0.1:")
        answer = requests.post(f"{r.url}{PUSH}", data=receipt_body("13800000000"),
                               headers={"Content-Type": FORM_TYPE}, timeout=10,
                               verify=str(certificate / "ca.pem"))  # fmt: skip
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):  # an unknown authority is refused
            requests.get(f"{r.url}/health", timeout=10)
        plain = r.url.replace("https://", "http://")
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(f"{plain}{PUSH}", data=receipt_body("13800000001"), timeout=10)
        health = requests.get(f"{r.url}/health", timeout=10, verify=str(certificate / "ca.pem"))
        assert health.json()["status"] == "ok"
    assert rows(db, "SELECT phone FROM receipts") == [("13800000000",)]


def test_tls_needs_both_files(tmp_path, certificate):
    with pytest.raises(cp.ConfigError, match="both"):
        serve(tmp_path / "campaign.db", port=0, tls_cert=certificate / "cert.pem")
    with pytest.raises(cp.ConfigError, match="not a file"):
        serve(tmp_path / "campaign.db", port=0, tls_cert=tmp_path / "no.pem",
              tls_key=tmp_path / "no.key")  # fmt: skip


# --------------------------------------------------------------------------- workers


def test_several_workers_on_sqlite_are_refused_saying_why(tmp_path):
    with pytest.raises(cp.ConfigError, match="PostgreSQL") as refused:
        run(str(tmp_path / "campaign.db"), port=0, workers=2)
    assert "one process write at a time" in str(refused.value)


WORKERS = textwrap.dedent(
    """
    import sys
    from campaign.receiver import run
    run(sys.argv[1], port=0, workers=int(sys.argv[3]),
        on_ready=lambda r: open(sys.argv[2], "w").write(r.url))
    """
)


def test_two_workers_on_postgresql_store_every_push_and_stop_on_sigterm(postgres_db, tmp_path):
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", WORKERS, postgres_db, str(ready), "2"],
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.read_text()):
            assert proc.poll() is None, "receiver exited"
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.05)
        url = ready.read_text()

        def push_many(worker: int) -> int:
            with requests.Session() as session:
                return sum(
                    session.post(f"{url}{PUSH}", data=receipt_body(f"138{worker:02d}{i:06d}"),
                                 headers={"Content-Type": FORM_TYPE}, timeout=10).status_code
                    == 200
                    for i in range(50)
                )  # fmt: skip

        with ThreadPoolExecutor(8) as pool:
            acked = sum(pool.map(push_many, range(8)))
        health = requests.get(f"{url}/health", timeout=5).json()
        assert health["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
    assert acked == 400
    with connect(postgres_db) as store:
        assert store.scalar("SELECT COUNT(*) FROM receipts") == 400


def test_the_receive_command_refuses_workers_on_sqlite_saying_why(tmp_path):
    from click.testing import CliRunner

    from campaign.cli import main

    db = tmp_path / "campaign.db"
    result = CliRunner().invoke(main, ["receive", "--db", str(db), "--port", "0",
                                       "--workers", "2"])  # fmt: skip
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output
    assert "one process write at a time" in result.output


def test_an_oversized_body_announced_with_expect_100_continue_is_refused_unread(receiver):
    head = request(b"", extra="Expect: 100-continue\r\n", length=False)
    answer = exchange(
        receiver.url, head.replace(b"\r\n\r\n", b"\r\nContent-Length: 9999999\r\n\r\n")
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in answer
