"""HTTP plumbing: the loopback server, request log, fault injection and the push sender."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

from campaign.simulator import clicks, ihuyi, jzyyun, veesing
from campaign.simulator.behaviour import Behaviour
from campaign.simulator.forms import MalformedBody, decode_form, request_pairs
from campaign.simulator.state import Accounts, Clock, Event, State, fmt_time
from campaign.simulator.wire import Reply, Route

logger = logging.getLogger(__name__)

__all__ = [
    "FAULTS",
    "Fault",
    "Push",
    "RequestRecord",
    "Simulator",
    "decode_form",
    "routes",
    "run",
    "serve",
]


def routes(behaviour: Behaviour) -> dict[str, Route]:
    """Every path a simulator with this behaviour serves (jzyyun's depend on its options)."""
    return {**veesing.ROUTES, **ihuyi.ROUTES, **jzyyun.routes(behaviour)}


PUSHED_VENDORS = ("veesing-sms", "veesing-code", "veesing-voice")
FAULTS = ("drop_before", "drop_after", "delay", "http_5xx", "vendor_error")


@dataclass
class RequestRecord:
    """One request the simulator received.

    ``params`` are the decoded parameters (query string first, then the body: url-encoded,
    plain text or ``multipart/form-data``; the first value of a repeated name wins, as a
    servlet's getParameter). ``processed`` says whether the vendor logic ran (state may have
    changed); ``status`` is the HTTP status sent, None when the connection was dropped;
    ``error`` why the body could not be read (answered 400 in the vendor's format).
    ``time`` is real epoch seconds, ``sim_time`` simulated.
    """

    vendor: str | None
    operation: str | None
    vendor_method: str | None
    http_method: str
    path: str
    query: str
    params: dict[str, str] = field(repr=False)  # credentials: kept out of reprs
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    time: float = 0.0
    sim_time: float = 0.0
    processed: bool = False
    status: int | None = None
    response: bytes | None = field(default=None, repr=False)
    fault: str | None = None
    error: str | None = None


@dataclass
class Fault:
    """An injected fault; applies to the next ``times`` matching requests (None: all)."""

    kind: str
    vendor: str | None = None
    operation: str | None = None
    path: str | None = None
    times: int | None = 1
    seconds: float = 5.0
    status: int = 500
    hits: int = 0
    where: Mapping[str, str] | None = None

    def matches(self, record: RequestRecord) -> bool:
        if self.where and any(record.params.get(k) != v for k, v in self.where.items()):
            return False
        return (
            (self.vendor is None or self.vendor == record.vendor)
            and (
                self.operation is None or self.operation in (record.operation, record.vendor_method)
            )
            and (self.path is None or self.path == record.path)
        )


@dataclass
class Push:
    """A receipt or reply the simulator pushed, or would have pushed (``form`` as sent)."""

    vendor: str
    kind: str
    form: dict[str, str]
    due: float
    url: str | None = None
    attempts: int = 0
    delivered: bool = False
    error: str | None = None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, handler, sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    server_version = "campaign-simulator"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.sim._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self.server.sim._serve(self)

    do_POST = do_GET

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class Simulator:
    """Local stand-in for all five vendors: real HTTP on 127.0.0.1, the seeds' wire formats.

    Options: ``seed`` (outcomes are deterministic per seed), ``accounts`` (None accepts any
    non-empty credentials; see :class:`campaign.simulator.state.Accounts` for the shape),
    ``push_to`` (base URL: receipts and replies are POSTed to ``{push_to}/push/{vendor}``;
    or {vendor_key: url}; None holds them for :meth:`pushes`), ``time_scale`` (simulated
    seconds per real second) and the :class:`~campaign.simulator.behaviour.Behaviour` knobs.

    Examples
    --------
    >>> from campaign.simulator import Simulator
    >>> with Simulator(seed=1, time_scale=3600).start(port=0) as sim:   # doctest: +SKIP
    ...     requests.post(sim.url + "/smsApi/group", data={...})
    ...     sim.flush()
    ...     receipts = sim.pushes("veesing-sms")
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        accounts: Mapping[str, Any] | None = None,
        push_to: str | Mapping[str, str] | None = None,
        time_scale: float = 1.0,
        **behaviour: Any,
    ) -> None:
        self.behaviour = Behaviour.from_options(behaviour)
        self.routes = routes(self.behaviour)
        self.clock = Clock(start=self.behaviour.start, time_scale=time_scale)
        self.state = State(self.behaviour, Accounts(accounts), int(seed), self.clock)
        self.push_urls = self._push_urls(push_to)
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._faults: list[Fault] = []
        self._undelivered: list[Push] = []
        self._push_log: list[Push] = []
        self._inflight = 0
        self._clicks: list[clicks.Click] = []
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server: _Server | None = None

    @staticmethod
    def _push_urls(push_to: str | Mapping[str, str] | None) -> dict[str, str]:
        if push_to is None:
            return {}
        if isinstance(push_to, str):
            return {v: f"{push_to.rstrip('/')}/push/{v}" for v in PUSHED_VENDORS}
        unknown = set(push_to) - set(PUSHED_VENDORS)
        if unknown:
            raise ValueError(f"only {PUSHED_VENDORS} push; cannot push for {sorted(unknown)}")
        return dict(push_to)

    # lifecycle ----------------------------------------------------------
    def start(self, *, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Bind and serve in background threads; returns self (a context manager)."""
        if not _is_loopback(host):
            raise ValueError(f"the simulator binds loopback addresses only, not {host!r}")
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = _Server((host, port), _Handler, self)
        serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="simulator-http",
            daemon=True,
        )
        serving.start()
        self._threads.append(serving)
        if self.push_urls:
            for i in range(max(1, self.behaviour.push_workers)):
                worker = threading.Thread(
                    target=self._push_worker, name=f"simulator-push-{i}", daemon=True
                )
                worker.start()
                self._threads.append(worker)
        clicker = threading.Thread(target=self._click_worker, name="simulator-click", daemon=True)
        clicker.start()
        self._threads.append(clicker)
        logger.info("vendor simulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and pushing; close open connections; join every thread."""
        if self._server is None or self._stop.is_set():
            return
        self._stop.set()
        with self.state.changed:
            self.state.changed.notify_all()
        self._server.shutdown()
        with self._conn_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._conn_lock:
                if not self._conns:
                    break
            time.sleep(0.01)

    def wait(self) -> None:
        """Block until :meth:`stop` is called (from another thread)."""
        while not self._stop.wait(0.5):
            pass

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the base URL clients put in place of the vendor host."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # request log --------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, oldest first (a snapshot list)."""
        with self._records_lock:
            return list(self._records)

    def calls(
        self, vendor: str | None = None, operation: str | None = None, *, processed=None
    ) -> list[RequestRecord]:
        """Requests filtered by vendor key, operation (ours or the vendor's) and processed."""
        return [
            r
            for r in self.requests
            if (vendor is None or r.vendor == vendor)
            and (operation is None or operation in (r.operation, r.vendor_method))
            and (processed is None or r.processed == processed)
        ]

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    # faults --------------------------------------------------------------
    def inject(
        self,
        fault: str,
        *,
        vendor: str | None = None,
        operation: str | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        seconds: float = 5.0,
        status: int = 500,
        where: Mapping[str, str] | None = None,
    ) -> Fault:
        """Make the next ``times`` matching calls fail (``times=None``: until cleared).

        ``fault`` is one of ``drop_before`` (connection closed before processing: nothing
        changes), ``drop_after`` (processed, e.g. SMS accepted and charged, then the
        connection closed with no answer), ``delay`` (processed, answer held ``seconds``:
        longer than the client's read timeout), ``http_5xx`` (answer ``status``, not
        processed) or ``vendor_error`` (the vendor's generic failure in its own format, not
        processed: veesing 未知原因,请联系客服, ihuyi code 0, jzyyun failure;未知错误 and
        updatePassword 4). ``operation`` (alias ``method``) is ours (send, balance, reports,
        replies, update_password) or the vendor's method name (sendSMS, Submit, GetNum...);
        ``path`` is the request path without query; ``where`` ({param: value}) matches
        decoded request parameters exactly, e.g. ``where={"mobile": "13800000004"}`` picks
        one call in advance. Unset filters match everything.
        """
        if operation is not None and method is not None and operation != method:
            raise ValueError("give operation or method, not both")
        operation = operation or method
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; use one of {FAULTS}")
        if fault == "http_5xx" and not 500 <= status <= 599:
            raise ValueError("http_5xx status must be 500-599")
        item = Fault(fault, vendor, operation, path, times, seconds, status, where=where)
        with self._records_lock:
            self._faults.append(item)
        return item

    def clear_faults(self) -> None:
        with self._records_lock:
            self._faults.clear()

    def _take_fault(self, record: RequestRecord) -> Fault | None:
        with self._records_lock:
            for fault in self._faults:
                if fault.matches(record):
                    fault.hits += 1
                    if fault.times is not None and fault.hits >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None

    # serving -------------------------------------------------------------
    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        body = handler.read_body()
        route = self.routes.get(split.path)
        charset = route.charset if route else "utf-8"
        raw_query = split.query.encode("latin-1", "replace")
        content_type = handler.headers.get("Content-Type", "")
        error = None
        try:
            pairs = request_pairs(raw_query, body, content_type, charset)
        except MalformedBody as exc:
            error = str(exc)
            pairs = decode_form(raw_query, charset)
        params: dict[str, str] = {}
        for name, value in pairs:
            params.setdefault(name, value)
        operation, vendor_method = route.operation(params) if route else (None, None)
        record = RequestRecord(
            vendor=route.vendor if route else None,
            operation=operation,
            vendor_method=vendor_method,
            http_method=handler.command,
            path=split.path,
            query=split.query,
            params=params,
            body=body,
            headers=dict(handler.headers.items()),
            time=time.time(),
            sim_time=self.clock.now(),
            error=error,
        )
        with self._records_lock:
            self._records.append(record)
        logger.debug("%s %s -> %s/%s", handler.command, split.path, record.vendor, operation)
        if route is None:
            return self._send(handler, record, Reply(b"Not Found", "text/plain", 404))
        if handler.command not in route.methods:
            return self._send(handler, record, Reply(b"Method Not Allowed", "text/plain", 405))
        if error is not None:
            logger.info("%s %s: unreadable body (%s)", handler.command, split.path, error)
            with self.state.lock:
                reply = route.malformed(self.state, operation, params)
            return self._send(handler, record, reply)
        fault = self._take_fault(record)
        record.fault = fault.kind if fault else None
        if fault and fault.kind == "drop_before":
            handler.close_connection = True
            return None
        if fault and fault.kind == "http_5xx":
            text = http.client.responses.get(fault.status, "Server Error").encode()
            return self._send(handler, record, Reply(text, "text/html", fault.status))
        if fault and fault.kind == "vendor_error":
            with self.state.lock:
                reply = route.vendor_error(self.state, operation, params)
            return self._send(handler, record, reply)
        try:
            with self.state.lock:
                reply = route.handle(self.state, operation, params)
        except Exception:
            logger.exception("simulator failed on %s %s", handler.command, split.path)
            reply = Reply(b"Internal Server Error", "text/plain", 500)
        record.processed = True
        if fault and fault.kind == "drop_after":
            handler.close_connection = True
            return None
        if fault and fault.kind == "delay" and self._stop.wait(fault.seconds):
            handler.close_connection = True
            return None
        return self._send(handler, record, reply)

    def _send(self, handler: _Handler, record: RequestRecord, reply: Reply) -> None:
        record.status, record.response = reply.status, reply.body
        try:
            handler.reply(reply)
        except OSError:
            handler.close_connection = True

    # time ------------------------------------------------------------------
    def now(self) -> float:
        """Simulated time, epoch seconds."""
        return self.clock.now()

    def now_text(self) -> str:
        """Simulated time as Asia/Shanghai ``yyyy-MM-dd HH:mm:ss`` (e.g. for ``sendTime``)."""
        return fmt_time(self.clock.now())

    def advance(self, seconds: float) -> None:
        """Move simulated time forward: receipts and replies due by then become visible."""
        self.clock.advance(seconds)
        with self.state.changed:
            self.state.changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Advance to the last scheduled receipt, reply or click; wait until every push is
        sent and every click made.

        Returns True when nothing remains to push or click (False on timeout).
        """
        last = self.state.last_due()
        now = self.clock.now()
        if last is not None and last > now:
            self.advance(last - now + 0.001)
        deadline = time.monotonic() + timeout
        with self.state.changed:
            while True:
                busy = (
                    self._inflight
                    or self.state.clicks_pending()
                    or any(self.state.pending(v) for v in self.push_urls)
                )
                remaining = deadline - time.monotonic()
                if not busy:
                    return True
                if remaining <= 0 or self._stop.is_set():
                    return False
                self.state.changed.wait(min(remaining, 0.05))

    def pending(self, vendor: str | None = None) -> int:
        """Receipts and replies not yet pushed, drained or pulled (due or not)."""
        return self.state.pending(vendor)

    # accounts ------------------------------------------------------------
    def balance(self, vendor: str, account: str) -> Any:
        """Balance of an account (app_id, ihuyi account or jzyyun username)."""
        value = self.state.balance(vendor, account)
        return dict(value) if isinstance(value, dict) else value

    def set_balance(self, vendor: str, account: str, value: Any) -> None:
        """Set an account's balance (jzyyun: an int for every pool, or a dict of pools)."""
        self.state.set_balance(vendor, account, value)

    # pushes ----------------------------------------------------------------
    def pushes(self, vendor: str | None = None) -> list[Push]:
        """Drain what is due but was not delivered: held pushes and failed deliveries.

        For vendors without a ``push_to`` URL the simulator holds receipts and replies;
        this returns (and forgets) the ones due by now, earliest first.
        """
        if vendor is not None and vendor not in PUSHED_VENDORS:
            raise ValueError(f"{vendor} is pulled, not pushed; use its report methods")
        wanted = [vendor] if vendor else list(PUSHED_VENDORS)
        held = [v for v in wanted if v not in self.push_urls]
        events = self.state.pop_due_push(held, self.clock.now())
        out = [Push(e.vendor, e.kind, e.form, e.due) for e in events]
        with self._records_lock:
            keep = []
            for push in self._undelivered:
                (out if push.vendor in wanted else keep).append(push)
            self._undelivered = keep
        return sorted(out, key=lambda p: p.due)

    @property
    def push_log(self) -> list[Push]:
        """Every push attempted to a ``push_to`` URL, delivered or not."""
        with self._records_lock:
            return list(self._push_log)

    def _push_worker(self) -> None:
        conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        vendors = list(self.push_urls)
        changed = self.state.changed
        try:
            while not self._stop.is_set():
                with changed:
                    events = self.state.pop_due_push(vendors, self.clock.now(), limit=1)
                    if not events:
                        nxt = self.state.next_due(vendors)
                        wait = 0.5
                        if nxt is not None:
                            wait = min(wait, self.clock.real_seconds(nxt - self.clock.now()))
                        changed.wait(max(wait, 0.001))
                        continue
                    self._inflight += 1
                try:
                    self._deliver(events[0], conns)
                finally:
                    with changed:
                        self._inflight -= 1
                        changed.notify_all()
        finally:
            for conn in conns.values():
                conn.close()

    def _deliver(self, event: Event, conns: dict) -> None:
        url = self.push_urls[event.vendor]
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "127.0.0.1", parts.port or 0)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        body = urlencode(event.form, encoding="utf-8").encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
        push = Push(event.vendor, event.kind, event.form, event.due, url)
        for attempt in range(max(1, self.behaviour.push_retries)):
            push.attempts = attempt + 1
            try:
                conn = conns.get(key)
                if conn is None:
                    cls = (
                        http.client.HTTPSConnection
                        if parts.scheme == "https"
                        else http.client.HTTPConnection
                    )
                    conn = cls(key[1], parts.port, timeout=self.behaviour.push_timeout)
                    conns[key] = conn
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if 200 <= response.status < 300:
                    push.delivered, push.error = True, None
                    break
                push.error = f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                push.error = f"{type(exc).__name__}: {exc}"
                conns.pop(key, None)
                conn.close()
            if self._stop.wait(0.05 * 2**attempt):
                break
        with self._records_lock:
            self._push_log.append(push)
            if not push.delivered:
                self._undelivered.append(push)
        if not push.delivered:
            logger.warning("push to %s failed after %d attempts", url, push.attempts)

    # clicks and orders ---------------------------------------------------
    def _click_worker(self) -> None:
        changed = self.state.changed
        while not self._stop.is_set():
            with changed:
                click = self.state.pop_due_click(self.clock.now())
                if click is None:
                    nxt = self.state.next_click()
                    wait = 0.5 if nxt is None else self.clock.real_seconds(nxt - self.clock.now())
                    changed.wait(min(max(wait, 0.001), 0.5))
                    continue
                self._inflight += 1
            try:
                self._click(click)
            finally:
                with changed:
                    self._inflight -= 1
                    changed.notify_all()

    def _click(self, click: clicks.Click) -> None:
        """Request one link as a phone's browser would, redirect not followed; links off
        this machine are never requested."""
        parts = urlsplit(click.url)
        if not _is_loopback(parts.hostname or ""):
            click.error = "not followed: the link is not on this machine"
        else:
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(parts.hostname, parts.port, timeout=self.behaviour.push_timeout)
            try:
                conn.request("GET", parts.path, headers={"User-Agent": clicks.MOBILE_AGENT})
                response = conn.getresponse()
                response.read()
                click.status = response.status
            except (OSError, http.client.HTTPException) as exc:
                click.error = f"{type(exc).__name__}: {exc}"
            finally:
                conn.close()
        with self._records_lock:
            self._clicks.append(click)

    def clicks(self) -> list[clicks.Click]:
        """Every click made on a tracking link so far (or noted as not followed)."""
        with self._records_lock:
            return list(self._clicks)

    def orders(
        self, *, others: Iterable[str] = (), window: float = 7 * 86400.0
    ) -> list[dict[str, str]]:
        """The orders the simulated messages caused, as a shop exports them: one dict per
        order with 订单号, 手机号, 支付时间 (Asia/Shanghai) and 实付金额 (yuan).

        Numbers the simulator delivered an SMS to buy at ``conversion_rate`` (those that
        clicked its link at ``click_conversion_rate``), after the message or the click;
        ``others``, numbers never messaged (a holdout), buy at ``baseline_conversion_rate``
        over ``window`` seconds from the first send. Seeded: the same run gives the same
        orders.

        >>> sim.flush()  # doctest: +SKIP
        >>> orders = pd.DataFrame(sim.orders(others=plan.held_out["phone"]))  # doctest: +SKIP
        >>> cp.ingest_conversions(db, orders)  # doctest: +SKIP
        """
        with self.state.lock:
            reached = list(self.state.reached)
            start = self.state.first_send if self.state.first_send is not None else self.now()
        rows = clicks.orders(reached, others=[str(p) for p in others], seed=self.state.seed,
                             b=self.behaviour, start=start, window=window)  # fmt: skip
        return [
            {"订单号": f"SO{self.state.seed:03d}{i:07d}", "手机号": phone,
             "支付时间": fmt_time(at), "实付金额": f"{value:.2f}"}
            for i, (at, phone, value) in enumerate(rows, start=1)
        ]  # fmt: skip


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
    accounts: Mapping[str, Any] | None = None,
    push_to: str | Mapping[str, str] | None = None,
    time_scale: float = 1.0,
    **behaviour: Any,
) -> Simulator:
    """Start a simulator in background threads; use it as a context manager.

    ``port=0`` picks a free port; ``sim.url`` is ``http://127.0.0.1:PORT``. Other options:
    see :class:`Simulator` and :class:`~campaign.simulator.behaviour.Behaviour`.

    Examples
    --------
    >>> import requests
    >>> from campaign.simulator import serve
    >>> with serve(seed=0) as sim:
    ...     r = requests.post(sim.url + "/smsApi/group/getBalance",
    ...                       params={"appId": "id", "appKey": "key"})
    ...     r.json()["returnStatus"]
    '1 '
    """
    sim = Simulator(
        seed=seed, accounts=accounts, push_to=push_to, time_scale=time_scale, **behaviour
    )
    return sim.start(host=host, port=port)


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    on_ready: Callable[[Simulator], None] | None = None,
    **options: Any,
) -> None:
    """Serve until interrupted (Ctrl-C): the ``campaign simulator --port N`` command.

    ``options`` are those of :func:`serve` (seed, accounts, push_to, time_scale, behaviour
    knobs). ``on_ready(sim)`` is called once listening, e.g. to print ``sim.url``.

    Examples
    --------
    >>> run(port=8000, seed=1, time_scale=60, push_to="http://127.0.0.1:8001")  # doctest: +SKIP
    """
    sim = serve(host=host, port=port, **options)
    try:
        if on_ready is not None:
            on_ready(sim)
        sim.wait()
    except KeyboardInterrupt:
        logger.info("simulator interrupted")
    finally:
        sim.stop()
