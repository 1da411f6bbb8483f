"""How the receiver is served: uvicorn (httptools, uvloop), TLS, timeouts, workers, signals.

:class:`Receiver` is one process's receiver: the writer thread (:mod:`.writer`) and uvicorn
serving the ASGI app (:mod:`.app`) on a socket bound here, in a background thread.
:func:`serve` starts one for notebooks, tests and the demo; :func:`run` serves until SIGTERM
(``campaign receive``), with ``workers > 1`` as that many processes sharing one listening
socket (PostgreSQL only).

Timeouts: a client has :data:`HEAD_TIMEOUT` seconds from connecting (or from the first byte
of its next request) to send the request's head, :data:`BODY_TIMEOUT` seconds to send the
body, and may stay idle between requests :data:`KEEP_ALIVE` seconds; a head larger than
:data:`MAX_HEAD` bytes or with more than :data:`MAX_HEADERS` lines is answered 400 and the
connection closed. A stalled client holds one
connection and nothing else: every other connection is served meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from campaign.errors import ConfigError, PayloadError
from campaign.receiver.app import BODY_LATE, PushApp, same_secret
from campaign.receiver.forms import check_times, decode_form
from campaign.receiver.metrics import Metrics
from campaign.receiver.writer import Click, Item, Writer
from campaign.store import DbLike, Store, describe, now
from campaign.store.postgres import is_postgres_url
from campaign.vendors import VENDORS, vendor_protocol

__all__ = ["DEFAULT_MAX_BODY", "PUSHING", "Receiver", "run", "serve"]

log = logging.getLogger(__name__)

#: Largest push body accepted, in bytes (a push is a few hundred bytes).
DEFAULT_MAX_BODY = 64 * 1024
#: Seconds a client has to send a request's head (slow or stalled clients are cut off).
HEAD_TIMEOUT = 10.0
#: Seconds a client has to send a request's body.
BODY_TIMEOUT = 30.0
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE = 30.0
#: Largest request head (request line and headers), in bytes...
MAX_HEAD = 64 * 1024
#: ...and most header lines in it.
MAX_HEADERS = 100
#: Seconds a push waits for the writer to commit it before answering 503.
WRITE_TIMEOUT = 60.0
#: Seconds ``stop()`` gives the requests in flight to be answered.
STOP_ANSWER_TIMEOUT = 30.0
#: Connections waiting to be accepted.
BACKLOG = 2048

#: The vendors that push (their limits say delivery or replies "push").
PUSHING = tuple(k for k, m in VENDORS.items() if "push" in (m.LIMITS.delivery, m.LIMITS.replies))


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline and a size limit for the request head
    (uvicorn itself has neither: a client sending a byte a second would be kept forever)."""

    head_timeout = HEAD_TIMEOUT
    body_timeout = BODY_TIMEOUT
    max_head = MAX_HEAD
    max_headers = MAX_HEADERS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        """Tell the app (waiting in receive()) that the body is late: it answers 503."""
        self._body_timer = None
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            cycle.scope[BODY_LATE] = True  # type: ignore[index]
            cycle.message_event.set()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            log.debug("receiver: request head not received within %g s: closing", self.head_timeout)
            self.transport.abort()  # no TLS goodbye either: it could wait 30 s for the peer

    def shutdown(self) -> None:
        """Stopping: a connection with no request in flight is dropped at once (a graceful TLS
        close waits for a peer that may never answer); one in flight is answered, then closed."""
        if self.cycle is None or self.cycle.response_complete:
            if self.transport.get_write_buffer_size():
                self.transport.close()  # an answer still on its way out: let it go first
            else:
                self.transport.abort()
        else:
            self.cycle.keep_alive = False

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head:  # still no whole head: its deadline runs (none when it came whole)
            if self.transport.is_closing():
                return
            if self._head_bytes > self.max_head:
                self.send_400_response("Request head too large.")
            else:
                self._arm()
        elif self._body_timer is None:
            cycle = self.cycle  # a body still to come: its deadline (none when it came whole)
            if cycle is not None and cycle.more_body and not cycle.response_complete:
                self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm_body()
        super().on_message_complete()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.max_headers:  # the parser answers 400 and closes
            raise ValueError(f"more than {self.max_headers} header lines")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.response_complete and not self.pipeline:
            self._in_head = True  # between requests: the next head's deadline starts with it
            self._head_bytes = 0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def _check_tls(tls_cert: str | os.PathLike | None, tls_key: str | os.PathLike | None) -> None:
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key (PEM files)")
    for what, path in (("certificate", tls_cert), ("key", tls_key)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"TLS {what} {path} is not a file")


class Receiver:
    """One process's receiver: uvicorn serving the push app on ``host:port``, plus the writer.

    Build it with :func:`serve` (background threads, for tests and the demo) or :func:`run`
    (blocking, for ``campaign receive``). ``url`` is ``http://host:port`` (``https://`` with
    ``tls_cert``/``tls_key``); point a vendor's push address (or the simulator's ``push_to``)
    at ``url`` (+ ``?token=...`` when set).
    """

    def __init__(
        self,
        db: DbLike,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
        head_timeout: float = HEAD_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        sock: socket.socket | None = None,
    ) -> None:
        if token is not None and not str(token).strip():
            raise ConfigError("token must be a non-empty secret, or None for no token")
        if not isinstance(max_body, int) or max_body < 1:
            raise ConfigError(f"max_body must be a positive number of bytes, not {max_body!r}")
        _check_tls(tls_cert, tls_key)
        self._token = None if token is None else str(token).encode("utf-8")
        self.max_body = max_body
        self.metrics = Metrics(lambda: self._w.queue.qsize())
        # the receiver's own connection: its writer thread commits on it and stop() closes it
        self._w = Writer(db, metrics=self.metrics)
        self._sock: socket.socket | None = None
        try:
            self._sock = sock if sock is not None else _bind(host, port)
            timeouts = {"head_timeout": head_timeout, "body_timeout": body_timeout}
            protocol = type("Protocol", (_Protocol,), timeouts)
            config = uvicorn.Config(
                PushApp(self, body_timeout=body_timeout),
                http=protocol, loop="uvloop", lifespan="off", log_config=None,
                access_log=False, server_header=False, proxy_headers=False, backlog=BACKLOG,
                timeout_keep_alive=int(KEEP_ALIVE),
                timeout_graceful_shutdown=int(STOP_ANSWER_TIMEOUT),
                ssl_certfile=os.fspath(tls_cert) if tls_cert else None,
                ssl_keyfile=os.fspath(tls_key) if tls_key else None,
            )  # fmt: skip
            try:
                config.load()
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"cannot use the TLS certificate and key: {exc}") from None
            self._tls = tls_cert is not None
            self._server = uvicorn.Server(config)
        except BaseException:
            self._w.database.close()
            if self._sock is not None and sock is None:
                self._sock.close()
            raise
        self._serving: threading.Thread | None = None
        self._stopped = threading.Event()
        self._w.start()

    def __repr__(self) -> str:  # never the token
        return f"<Receiver {self.url} token={'set' if self._token else 'none'}>"

    @property
    def url(self) -> str:
        """``http://host:port`` (or ``https://``) the server listens on."""
        host, port = self._sock.getsockname()[:2]  # type: ignore[union-attr]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    # the writer's parts, under the names they had when the receiver was one module
    @property
    def _queue(self) -> Any:
        return self._w.queue

    @property
    def _writer(self) -> threading.Thread:
        return self._w.thread

    @property
    def _database(self) -> Store:
        return self._w.database

    @property
    def acknowledged(self) -> int:
        """Pushes committed to answer 200."""
        return self._w.acknowledged

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Serve in a background thread; returns self once listening."""
        self._serving = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="receiver-http",
            daemon=True,
        )  # fmt: skip
        self._serving.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._serving.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError("the receiver's HTTP server did not start (see the log)")
            time.sleep(0.005)
        log.info("receiving pushes on %s/push/<vendor>", self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, answer every push in flight, commit what is queued, close the store.

        In this order: no new connections, idle ones closed; the requests in flight are
        answered (their pushes committed by the writer, still running) for up to
        :data:`STOP_ANSWER_TIMEOUT` seconds; then the writer commits anything left and the
        store is closed."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._serving is not None and self._serving.is_alive():
            self._server.should_exit = True
            self._serving.join(timeout=STOP_ANSWER_TIMEOUT + 10)
        with contextlib.suppress(OSError):
            self._sock.close()  # type: ignore[union-attr]
        self._w.stop()
        log.info("receiver stopped after %d acknowledged pushes", self.acknowledged)

    def __enter__(self) -> Receiver:
        if self._serving is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests ---------------------------------------------------------------------------------

    def pushes(self, vendor: str) -> bool:
        """True for a vendor that pushes (has a ``/push/<vendor>`` endpoint)."""
        return vendor in PUSHING

    def authorised(self, given: str | None) -> bool:
        return same_secret(given, self._token)

    def parse(
        self, vendor: str, body: bytes, content_type: str, *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> tuple[Item, tuple[int, str]]:  # fmt: skip
        """One push as the item for the writer, and the answer once it is committed."""
        source = f"push:{vendor}"
        try:
            form = decode_form(body, content_type)
            record = vendor_protocol(vendor).parse_push(form)
            check_times(form, record.received_at)
        except PayloadError as exc:
            return Item(vendor, None, (now(), source, body, str(exc)), loop=loop), (400, str(exc))
        except Exception as exc:  # a parser bug: keep the body, answer 400, log it
            log.exception("%s: parse_push failed", vendor)
            error = f"{type(exc).__name__}: {exc}"
            return Item(vendor, None, (now(), source, body, error), loop=loop), (
                400, "unparseable push",
            )  # fmt: skip
        return Item(vendor, record, None, loop=loop), (200, "ok")

    def accept(self, vendor: str, body: bytes, content_type: str) -> tuple[int, str]:
        """Parse one push, have it committed, and say what to answer: (status, reason).
        Blocks the calling thread (the app uses :meth:`accept_async`)."""
        item, answer = self.parse(vendor, body, content_type)
        if not self._w.submit(item):
            return 503, "shutting down: retry"
        deadline = time.monotonic() + WRITE_TIMEOUT
        assert item.done is not None
        while not item.done.wait(0.2):
            if not self._writer.is_alive() or time.monotonic() > deadline:
                if item.done.is_set():
                    break
                return 503, "shutting down: retry" if self._stopped.is_set() else "busy: retry"
        if not item.ok:
            return 503, "could not store the push: retry"
        return answer

    async def accept_async(self, vendor: str, body: bytes, content_type: str) -> tuple[int, str]:
        """:meth:`accept` for a coroutine on the server's event loop."""
        item, answer = self.parse(vendor, body, content_type, loop=asyncio.get_running_loop())
        why = await self._written(item, "push")
        return (503, why) if why else answer

    async def _written(self, item: Item, what: str) -> str | None:
        """Hand ``item`` to the writer and wait for its commit: None once committed, else
        why not, for a 503."""
        if not self._w.submit(item):
            return "shutting down: retry"
        assert item.future is not None
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                ok = await item.future
        except TimeoutError:
            return "busy: retry"
        return None if ok else f"could not store the {what}: retry"

    async def click_async(self, click: Click) -> tuple[int, str | None]:
        """Have ``click`` looked up and (unless it is a HEAD's) committed; then (302, its
        target), (404, None) for a code the store does not know, or (503, why)."""
        item = Item("", None, None, loop=asyncio.get_running_loop(), click=click)
        why = await self._written(item, "click")
        if why:
            return 503, why
        if click.target is None:
            return 404, None
        return 302, click.target

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self._writer.is_alive() else "writer stopped",
            "acknowledged": self.acknowledged,
            "queued": self._queue.qsize(),
        }


# --------------------------------------------------------------------------- entry points


def serve(
    db: DbLike,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    head_timeout: float = HEAD_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
) -> Receiver:
    """Start the receiver in background threads; use it as a context manager.

    ``db`` is the store's path or PostgreSQL URL, or a ``sqlite_utils.Database`` on a file:
    the receiver opens its own connection (and closes it on stop), never using the caller's;
    an in-memory database is a ConfigError. ``port=0`` picks a free port. ``tls_cert`` and
    ``tls_key`` (PEM files) serve HTTPS. Pass ``push_to=r.url`` to the simulator.

    Examples
    --------
    >>> with cp.receiver.serve("campaign.db", port=0) as r:
    ...     sim = cp.simulator.serve(push_to=r.url)
    """
    return Receiver(
        db, host=host, port=port, token=token, max_body=max_body, tls_cert=tls_cert,
        tls_key=tls_key, head_timeout=head_timeout, body_timeout=body_timeout,
    ).start()  # fmt: skip


class Workers:
    """What ``on_ready`` is given when several worker processes serve: ``url`` and ``pids``."""

    def __init__(self, url: str, pids: list[int]) -> None:
        self.url = url
        self.pids = pids

    def __repr__(self) -> str:
        return f"<Workers {self.url} x{len(self.pids)}>"


def _until_signalled(stop: threading.Event) -> dict[int, Any]:
    def on_signal(signum: int, frame: Any) -> None:
        log.info("receiver: signal %d, shutting down", signum)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    return previous


def run(
    db: DbLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    workers: int = 1,
    on_ready: Callable[[Any], None] | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C (``campaign receive``), then shut down cleanly.

    Shutting down stops accepting, answers every push in flight (committed first), and closes
    the store. ``on_ready(receiver)`` is called once listening (e.g. to show the URL).
    ``workers > 1`` serves with that many processes on one listening socket; each has its own
    writer, so it needs a PostgreSQL store (on SQLite only one process can write at a time:
    refused). ``on_ready`` then gets a :class:`Workers` (``url``, ``pids``).

    Examples
    --------
    >>> cp.receiver.run("campaign.db", port=8080, token=os.environ["PUSH_TOKEN"])  # doctest: +SKIP
    """
    options = {"token": token, "max_body": max_body, "tls_cert": tls_cert, "tls_key": tls_key}
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive whole number, not {workers!r}")
    if workers > 1:
        return _run_workers(db, host=host, port=port, workers=workers, options=options,
                            on_ready=on_ready)  # fmt: skip
    receiver = Receiver(db, host=host, port=port, **options)
    stop = threading.Event()
    previous = _until_signalled(stop)
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
    return None


def _worker(db: str, sock: socket.socket, options: dict[str, Any], ready: Any) -> None:
    """One worker process: a Receiver on the shared socket until SIGTERM."""
    stop = threading.Event()
    _until_signalled(stop)
    receiver = Receiver(db, sock=sock, **options)
    try:
        receiver.start()
        ready.put(receiver.url)
        while not stop.wait(0.5):
            pass
    finally:
        receiver.stop()


def _run_workers(db: DbLike, *, host: str, port: int, workers: int, options: dict[str, Any],
                 on_ready: Callable[[Any], None] | None) -> None:  # fmt: skip
    if not is_postgres_url(db):
        raise ConfigError(
            f"--workers {workers} needs a PostgreSQL store: every worker has its own writer, and "
            f"SQLite ({describe(db)}) lets one process write at a time, so the workers would "
            "queue behind each other's file lock (no faster, and 503s when it is held long). "
            "Use --workers 1 with SQLite (group commit already takes thousands of pushes/s), "
            "or a postgresql:// store"
        )
    _check_tls(options["tls_cert"], options["tls_key"])
    sock = _bind(host, port)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    stop = threading.Event()
    previous = _until_signalled(stop)

    def spawn() -> Any:
        process = context.Process(target=_worker, args=(str(db), sock, options, ready),
                                  name="campaign-receiver-worker", daemon=False)  # fmt: skip
        process.start()
        return process

    processes = [spawn() for _ in range(workers)]
    failed = False
    try:
        urls: list[str] = []
        while len(urls) < workers and not stop.is_set():
            try:
                urls.append(ready.get(timeout=0.5))
            except queue.Empty:
                if any(p.exitcode is not None for p in processes):
                    raise ConfigError(
                        "a receiver worker exited before listening (see the log)"
                    ) from None
        if on_ready is not None and urls:
            on_ready(Workers(urls[0], [p.pid for p in processes]))
        while not stop.wait(0.5):
            for i, process in enumerate(processes):
                if process.exitcode is not None:  # a worker died: replace it
                    log.warning("receiver: worker %d exited (%s): starting another",
                                process.pid, process.exitcode)  # fmt: skip
                    processes[i] = spawn()
    finally:
        for process in processes:
            if process.exitcode is None:
                process.terminate()  # SIGTERM: each answers what is in flight, then exits
        for process in processes:
            process.join(timeout=STOP_ANSWER_TIMEOUT + 15)
            failed = failed or process.exitcode not in (0, None)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        log.warning("receiver: a worker did not exit cleanly")
