"""The push receiver: vendors POST receipts and replies here (``campaign receive``).

::

    POST /push/<vendor>   a vendor's form-encoded push (receipt or reply, told apart by fields)
    GET  /health          200 {"status": "ok", ...} while the writer is alive

Answers (short plain-text reasons):

====  ==========================================================================================
200   stored and committed (or already stored: a duplicate push is stored once)
400   unparseable or incomplete push: stored in ``rejected`` with its raw body, then answered
403   a token is set and the request's ``token`` (query string, or ``X-Campaign-Token``
      header) is missing or wrong: stored nowhere
404   unknown path or a vendor that pushes nothing
405   another method
413   body larger than ``max_body`` bytes
503   the store could not commit, or the receiver is shutting down (the vendor should retry;
      nothing was acknowledged)
====  ==========================================================================================

Nothing is acknowledged before it is committed. Handler threads parse the push and hand it to
one writer thread, which commits whatever has queued up as one transaction (group commit)
and only then releases the waiting handlers. Under load this turns hundreds of pushes into
one commit; alone, a push is committed at once. The store is in WAL mode with
``synchronous=NORMAL``: a committed push survives the process being killed.

Charset: the Content-Type ``charset`` (default UTF-8) is believed unless the bytes say
otherwise: valid UTF-8 with non-ASCII bytes is read as UTF-8 (GBK text is practically never
valid UTF-8), else the declared charset, else GB18030 (a superset of GBK and GB2312).

HTTP server: the standard library's threading HTTP/1.1 server with keep-alive, per-connection
timeouts and size limits, measured at 3,000+ acknowledged pushes/s with 32 connections on a
2-core machine (``benchmarks/bench_receiver.py``); it adds no dependency. Shut it down with
SIGTERM or Ctrl-C: it stops accepting, commits and answers what is queued, then exits.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import queue
import re
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from campaign.errors import ConfigError, PayloadError
from campaign.ingest import store_records
from campaign.store import DbLike, Store, connect, now, records
from campaign.text import form_charset
from campaign.vendors import VENDORS, Receipt, Reply, vendor_protocol

__all__ = ["DEFAULT_MAX_BODY", "Receiver", "run", "serve"]

log = logging.getLogger(__name__)

#: Largest push body accepted, in bytes (a push is a few hundred bytes).
DEFAULT_MAX_BODY = 64 * 1024
#: Most pushes committed in one transaction.
MAX_GROUP = 1024
#: Receipts stored before their task id was known are re-linked every this many seconds...
RELINK_EVERY = 1.0
#: ...for this long after they arrived (a task id still unknown by then is a foreign task).
RELINK_FOR = 600.0
#: Distinct unknown task ids remembered for re-linking (pushes for foreign tasks beyond that
#: stay unmatched until ``cp.link_receipts``).
MAX_UNLINKED_TASKS = 10_000
#: Seconds a connection may stay idle or take to send its request.
CONNECTION_TIMEOUT = 30.0
#: Seconds a handler waits for the writer to commit its push before answering 503.
WRITE_TIMEOUT = 60.0
#: Seconds ``stop()`` gives handlers to write the answers of the last commits.
STOP_ANSWER_TIMEOUT = 5.0

#: The vendors that push (their limits say delivery or replies "push").
PUSHING = tuple(k for k, m in VENDORS.items() if "push" in (m.LIMITS.delivery, m.LIMITS.replies))

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


class _Item:
    """One push waiting for its transaction; ``done`` is set once committed (or failed)."""

    __slots__ = ("done", "ok", "record", "rejected")

    def __init__(self, record: Receipt | Reply | None, rejected: tuple | None) -> None:
        self.record = record
        self.rejected = rejected
        self.done = threading.Event()
        self.ok = False


class Receiver:
    """The receiver: an HTTP server on ``host:port`` plus the writer thread.

    Build it with :func:`serve` (background threads, for tests and the demo) or :func:`run`
    (blocking, for ``campaign receive``). ``url`` is ``http://host:port``; point a vendor's
    push address (or the simulator's ``push_to``) at ``url`` (+ ``?token=...`` when set).
    """

    def __init__(
        self,
        db: DbLike,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if token is not None and not str(token).strip():
            raise ConfigError("token must be a non-empty secret, or None for no token")
        if not isinstance(max_body, int) or max_body < 1:
            raise ConfigError(f"max_body must be a positive number of bytes, not {max_body!r}")
        # the receiver's own connection: its writer thread commits on it and stop() closes it
        self._database = connect(db, writer=True)
        self._token = None if token is None else str(token).encode("utf-8")
        self.max_body = max_body
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="receiver-writer", daemon=True)
        try:
            self._server = _Server((host, port), _Handler, self)
        except BaseException:
            self._database.close()
            raise
        self._serving: threading.Thread | None = None
        self._stopped = threading.Event()
        self.acknowledged = 0  # pushes committed to answer 200 (counted by the writer alone)
        # (vendor, task_id) of receipts stored before their task id was known -> first seen
        self._unlinked: dict[tuple[str, str], float] = {}
        self._relinked_at = 0.0
        self._writer.start()

    def __repr__(self) -> str:  # never the token
        return f"<Receiver {self.url} token={'set' if self._token else 'none'}>"

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Serve in a background thread; returns self."""
        self._serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="receiver-http",
            daemon=True,
        )
        self._serving.start()
        log.info("receiving pushes on %s/push/<vendor>", self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, commit and answer what is queued, close the store.

        In this order: no new connections; the writer commits everything queued (pushes that
        arrive meanwhile on open connections too) and releases their handlers; the handlers
        write their answers; only then are the remaining (idle) connections cut."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._serving is not None:
            self._server.shutdown()
        self._server.server_close()
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._server.wait_idle(timeout=STOP_ANSWER_TIMEOUT)
        self._server.close_connections()
        self._database.close()
        log.info("receiver stopped after %d acknowledged pushes", self.acknowledged)

    def __enter__(self) -> Receiver:
        if self._serving is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests ---------------------------------------------------------------------------------

    def authorised(self, given: str | None) -> bool:
        if self._token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode("utf-8"), self._token)

    def accept(self, vendor: str, body: bytes, content_type: str) -> tuple[int, str]:
        """Parse one push, have it committed, and say what to answer: (status, reason)."""
        source = f"push:{vendor}"
        try:
            form = decode_form(body, content_type)
            record = vendor_protocol(vendor).parse_push(form)
        except PayloadError as exc:
            item = _Item(None, (now(), source, body, str(exc)))
            answer = (400, str(exc))
        except Exception as exc:  # a parser bug: keep the body, answer 400, log it
            log.exception("%s: parse_push failed", vendor)
            item = _Item(None, (now(), source, body, f"{type(exc).__name__}: {exc}"))
            answer = (400, "unparseable push")
        else:
            item = _Item(record, None)
            answer = (200, "ok")
        if self._stopped.is_set() and not self._writer.is_alive():
            return 503, "shutting down"
        self._queue.put(item)
        # The writer may have drained the queue for the last time between the check above
        # and the put: wait in slices, and give up once it is gone (or never answers).
        deadline = time.monotonic() + WRITE_TIMEOUT
        while not item.done.wait(0.2):
            if not self._writer.is_alive() or time.monotonic() > deadline:
                if item.done.is_set():
                    break
                return 503, "shutting down: retry" if self._stopped.is_set() else "busy: retry"
        if not item.ok:
            return 503, "could not store the push: retry"
        return answer

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self._writer.is_alive() else "writer stopped",
            "acknowledged": self.acknowledged,
            "queued": self._queue.qsize(),
        }

    # -- the writer: group commit -----------------------------------------------------------------

    def _write(self) -> None:
        store = self._database
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=RELINK_EVERY)
            except queue.Empty:
                self._relink(store)
                continue
            if item is None:
                break
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
            ok = self._commit(store, group)
            for member in group:
                member.ok = ok
                member.done.set()
            if time.monotonic() - self._relinked_at >= RELINK_EVERY:
                self._relink(store)
        # answer anything that raced in after the stop
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                left.ok = self._commit(store, [left])
                left.done.set()
        self._relink(store)

    def _relink(self, store: Store) -> None:
        """Link receipts that arrived before ``send`` recorded their task id."""
        self._relinked_at = time.monotonic()
        if not self._unlinked:
            return
        tasks = list(self._unlinked)
        try:
            known = records.known_tasks(store, tasks)
            linked = 0
            if known:
                with store.transaction():
                    linked = records.relink(store, tasks=known)
        except Exception:
            store.rollback()
            log.exception("receiver: linking early receipts failed")
            return
        if linked:
            log.info("receiver: linked %d receipt(s) that arrived before their task id", linked)
        cutoff = time.monotonic() - RELINK_FOR
        for task in tasks:
            if task in known or self._unlinked[task] < cutoff:
                del self._unlinked[task]

    def _commit(self, store: Store, group: list[_Item]) -> bool:
        receipts = [i.record for i in group if isinstance(i.record, Receipt)]
        replies = [i.record for i in group if isinstance(i.record, Reply)]
        rejected = [i.rejected for i in group if i.rejected is not None]
        for attempt in range(3):
            try:
                with store.transaction():
                    before = records.last_receipt_id(store)
                    store_records(
                        store, receipts=receipts, replies=replies, rejected=rejected,
                        rejected_once=False,
                    )  # fmt: skip
                    unlinked = records.unlinked_since(store, before) if receipts else []
                seen = time.monotonic()
                for task in unlinked:
                    if len(self._unlinked) < MAX_UNLINKED_TASKS:
                        self._unlinked.setdefault(tuple(task), seen)
                self.acknowledged += sum(i.record is not None for i in group)
                return True
            except Exception:
                store.rollback()
                log.exception("receiver: commit of %d pushes failed (try %d)", len(group), attempt)
                time.sleep(0.05 * (attempt + 1))
        return False


def decode_form(body: bytes, content_type: str = "") -> dict[str, str | list[str]]:
    """A form-encoded body as ``{name: value}`` (a repeated name keeps every value as a list).

    The charset is the one declared, unless the bytes are valid UTF-8 with non-ASCII
    characters (then UTF-8), and GB18030 when the declared one cannot decode them.

    >>> decode_form(b"to=138&text=%CD%CB%B6%A9", "charset=GBK")
    {'to': '138', 'text': '退订'}
    """
    if "json" in content_type.lower() or "multipart" in content_type.lower():
        raise PayloadError(f"expected a form-encoded body, got {content_type.split(';')[0]}")
    match = _CHARSET.search(content_type or "")
    declared = match.group(1) if match else "utf-8"
    pairs = [
        (urllib.parse.unquote_to_bytes(k.replace(b"+", b" ")),
         urllib.parse.unquote_to_bytes(v.replace(b"+", b" ")))
        for k, _, v in (chunk.partition(b"=") for chunk in body.split(b"&") if chunk)
    ]  # fmt: skip
    raw = b"".join(k + v for k, v in pairs)
    charset = _charset(raw, declared)
    form: dict[str, str | list[str]] = {}
    for key, value in pairs:
        name, text = key.decode(charset), value.decode(charset)
        if name in form:
            before = form[name]
            form[name] = [*before, text] if isinstance(before, list) else [before, text]
        else:
            form[name] = text
    if not form:
        raise PayloadError("empty push: no form fields")
    return form


def _charset(raw: bytes, declared: str) -> str:
    try:
        return form_charset(raw, declared)
    except UnicodeDecodeError:
        raise PayloadError(f"body is neither UTF-8 nor {declared} nor GB18030") from None


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type, receiver: Receiver) -> None:
        self.receiver = receiver
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that resets or vanishes mid-request is normal life for a server
        log.debug("receiver: connection from %s ended with an error", client_address,
                  exc_info=True)  # fmt: skip

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around a request being answered: ``wait_idle`` waits for it."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being answered (at most ``timeout`` seconds)."""
        with self._lock:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def close_connections(self) -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = CONNECTION_TIMEOUT
    server_version = "campaign-receiver"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        # the request line may carry ?token=...: log the path only, never the query
        logger_args = tuple(a.split("?", 1)[0] if isinstance(a, str) else a for a in args)
        log.debug("%s - %s", self.address_string(), format % logger_args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    def _answer(self, status: int, text: str, *, close: bool = False, kind: str = "text/plain"):
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        # end_headers() and the body in one send(): one packet per answer, not two
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def _body(self) -> bytes | None:
        """The request body, or None after answering 413/400 for a bad one."""
        limit = self.server.receiver.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while True:
                line = self.rfile.readline(66)
                try:
                    length = int(line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    self._answer(400, "bad chunked body", close=True)
                    return None
                if length == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                size += length
                if size > limit:
                    self._answer(413, f"body larger than {limit} bytes", close=True)
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline(3)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._answer(400, "bad Content-Length", close=True)
            return None
        if length < 0:
            self._answer(400, "bad Content-Length", close=True)
            return None
        if length > limit:
            self._answer(413, f"body larger than {limit} bytes", close=True)
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body: nothing to answer
            self.close_connection = True
            return None
        return body

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":
            self._answer(200, json.dumps(self.server.receiver.health()), kind="application/json")
        elif path.startswith("/push/"):
            self._answer(405, "POST a push here")
        else:
            self._answer(404, "not found")

    def do_POST(self) -> None:
        with self.server.busy():
            self._post()

    def _post(self) -> None:
        receiver = self.server.receiver
        parts = urllib.parse.urlsplit(self.path)
        if not parts.path.startswith("/push/"):
            self._discard()
            return self._answer(404, "not found")
        vendor = parts.path[len("/push/") :].strip("/").lower()
        if vendor not in PUSHING:
            self._discard()
            return self._answer(404, f"no push endpoint for vendor {vendor[:40]!r}")
        token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
        token = self.headers.get("X-Campaign-Token", token)
        if not receiver.authorised(token):
            self._discard()
            return self._answer(403, "missing or wrong token")
        body = self._body()
        if body is None:
            return None
        status, reason = receiver.accept(vendor, body, self.headers.get("Content-Type", ""))
        return self._answer(status, reason)

    def _discard(self) -> None:
        """Read (and drop) a small body so the connection stays usable; close on a big one."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if (
            0 <= length <= self.server.receiver.max_body
            and "chunked" not in self.headers.get("Transfer-Encoding", "").lower()
        ):
            if length:
                self.rfile.read(length)
        else:
            self.close_connection = True

    def do_PUT(self) -> None:
        self._discard()
        self._answer(405, "method not allowed")

    do_DELETE = do_PATCH = do_PUT


# --------------------------------------------------------------------------- entry points


def serve(
    db: DbLike,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Receiver:
    """Start the receiver in background threads; use it as a context manager.

    ``db`` is the store's path, or a ``sqlite_utils.Database`` on a file: the receiver opens
    its own connection to that file (and closes it on stop), never using the caller's; an
    in-memory database is a ConfigError. ``port=0`` picks a free port. Pass
    ``push_to=r.url`` to the simulator.

    Examples
    --------
    >>> with cp.receiver.serve("campaign.db", port=0) as r:
    ...     sim = cp.simulator.serve(push_to=r.url)
    """
    return Receiver(db, host=host, port=port, token=token, max_body=max_body).start()


def run(
    db: DbLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    on_ready: Callable[[Receiver], None] | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C (``campaign receive``), then shut down cleanly.

    Shutting down stops accepting, commits and answers every push already received, and
    closes the store. ``on_ready(receiver)`` is called once listening (e.g. to show the URL).

    Examples
    --------
    >>> cp.receiver.run("campaign.db", port=8080, token=os.environ["PUSH_TOKEN"])  # doctest: +SKIP
    """
    receiver = Receiver(db, host=host, port=port, token=token, max_body=max_body)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("receiver: signal %d, shutting down", signum)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        receiver.start()
        if on_ready is not None:
            on_ready(receiver)
        while not stop.wait(0.5):
            pass
    finally:
        receiver.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
