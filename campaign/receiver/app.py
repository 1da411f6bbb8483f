"""The receiver as a small ASGI application: routes, tokens, bodies, answers.

The server under it (uvicorn, see :mod:`campaign.receiver.serve`) parses HTTP, chunked bodies
and keep-alive; this app reads the body it is handed, refuses what it must, hands each push
(and each click on a tracking link) to the writer and answers once the writer has committed
it.

``GET /c/<code>`` answers 302 to the code's target once the click (its time and the user
agent's class, :func:`campaign.agents.agent_class`; never the IP address or the user agent
string) is committed; ``HEAD`` answers the same without storing a click (link previews ask
with it). A code the store does not know, or a path that is not a code (letters, digits,
``_`` and ``-``, at most 64), is a 404 whose body says nothing more than ``not found``. The
answer names the target only, never the number a per-recipient code belongs to, and is sent
with ``Cache-Control: no-store`` (a cached redirect would hide the next click) and
``Referrer-Policy: no-referrer`` (the target does not learn the code). Punctuation a phone
took into the link after the code (``。``, ``)``, ``.``) is not part of the code.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from campaign import clock
from campaign.agents import agent_class
from campaign.receiver.writer import Click

if TYPE_CHECKING:
    from campaign.receiver.serve import Receiver

__all__ = ["BODY_LATE", "DRAIN_LIMIT", "PushApp"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Header = tuple[bytes, bytes]

#: An oversized body is read (and dropped) up to this many bytes before the 413, so that a
#: client that writes its whole body before reading gets the answer, not a reset.
DRAIN_LIMIT = 16 * 1024 * 1024

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json; charset=utf-8"
#: The scope key the server's protocol sets when a body is late (see ``serve._Protocol``).
BODY_LATE = "campaign.body_late"
#: What a tracking code may be; anything else after ``/c/`` is answered 404 unlooked-up.
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Left off the end of a code: what a phone's linkifier takes in after it.
_AFTER_CODE = "/.,;:!?)]}>'\"。，、；：！？）】》」』 \t"
#: Headers of every answer about a link: never cached, never a Referer to the target.
_LINK_HEADERS = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]
_DISCONNECTED = object()
_TOO_LARGE = object()
_LATE = object()


class PushApp:
    """``POST /push/<vendor>``, ``GET /c/<code>``, ``GET /health``, ``GET /metrics`` (see the
    package docstring)."""

    def __init__(self, receiver: Receiver, *, body_timeout: float) -> None:
        # the deadline itself is the server's (serve._Protocol); this is for the answer
        self.receiver = receiver
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to set up: the Receiver owns the writer
            while True:
                message = await receive()
                kind = message["type"].replace("lifespan.", "")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        framing = _framing_error(scope["headers"])
        if framing:
            return await self._answer(send, 400, framing, close=True)
        if path.startswith("/c/"):
            if method in ("GET", "HEAD"):
                return await self._click(scope, send, head=method == "HEAD")
            return await self._refuse(scope, receive, send, 405, "method not allowed")
        if method == "POST" and path.startswith("/push/"):
            return await self._push(scope, receive, send)
        if method in ("GET", "HEAD"):
            if path == "/health":
                health = json.dumps(self.receiver.health())
                return await self._answer(send, 200, health, kind=_JSON)
            if path == "/metrics":
                metrics = self.receiver.metrics
                return await self._answer(send, 200, metrics.text(), kind=metrics.content_type)
            if path.startswith("/push/"):
                return await self._answer(send, 405, "POST a push here")
            return await self._answer(send, 404, "not found")
        if method == "POST":
            return await self._refuse(scope, receive, send, 404, "not found")
        return await self._refuse(scope, receive, send, 405, "method not allowed")

    # -- pushes -------------------------------------------------------------------------------

    async def _push(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self.receiver
        vendor = scope["path"][len("/push/") :].strip("/").lower()
        if not receiver.pushes(vendor):
            return await self._refuse(
                scope, receive, send, 404, f"no push endpoint for vendor {vendor[:40]!r}"
            )
        headers = scope["headers"]
        if not receiver.authorised(_token(scope, headers)):
            return await self._refuse(scope, receive, send, 403, "missing or wrong token")
        body = await self._body(scope, receive, send)
        if body is None:
            return None
        content_type = _header(headers, b"content-type")
        status, reason = await receiver.accept_async(vendor, body, content_type)
        return await self._answer(send, status, reason)

    # -- clicks -------------------------------------------------------------------------------

    async def _click(self, scope: Scope, send: Send, *, head: bool) -> None:
        """``GET``/``HEAD /c/<code>``: 302 to the target once the click is committed."""
        metrics = self.receiver.metrics
        code = scope["path"][len("/c/") :].rstrip(_AFTER_CODE)
        if not _CODE.fullmatch(code):
            metrics.missed_link("malformed")
            return await self._answer(send, 404, "not found", extra=_LINK_HEADERS)
        agent = agent_class(_header(scope["headers"], b"user-agent"))  # the class, nothing more
        at = clock.current().isoformat(timespec="microseconds")
        status, target = await self.receiver.click_async(Click(code, at, agent, store=not head))
        if status == 404:
            metrics.missed_link("unknown")
            return await self._answer(send, 404, "not found", extra=_LINK_HEADERS)
        if status != 302 or target is None:
            return await self._answer(send, status, target or "retry", extra=_LINK_HEADERS)
        location = urllib.parse.quote(target, safe="!#$%&'()*+,/:;=?@[]~").encode("ascii")
        return await self._answer(send, 302, "found", extra=[(b"location", location),
                                                             *_LINK_HEADERS])  # fmt: skip

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The request body, or None after answering (413, 503) or when the client left."""
        limit = self.receiver.max_body
        declared = _content_length(scope["headers"])
        waits = _header(scope["headers"], b"expect").lower() == "100-continue"
        if declared is not None and (declared > DRAIN_LIMIT or (waits and declared > limit)):
            # too big to drain, or a client waiting for leave to send it: refused unread
            await self._answer(send, 413, f"body larger than {limit} bytes", close=True)
            return None
        body = await _read(scope, receive, limit if declared is None or declared <= limit else 0)
        if body is _LATE:
            await self._answer(
                send, 503, f"body not received within {self.body_timeout:g} s: retry", close=True
            )
            return None
        if body is _DISCONNECTED:
            return None
        if body is _TOO_LARGE:
            await self._answer(send, 413, f"body larger than {limit} bytes", close=True)
            return None
        return body  # type: ignore[return-value]

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int,
                      reason: str) -> None:  # fmt: skip
        """Answer without using the body: a small one is read (the connection stays usable),
        a big or chunked one closes the connection after the answer."""
        length = _content_length(scope["headers"])
        chunked = b"chunked" in _header(scope["headers"], b"transfer-encoding").lower().encode()
        if length is not None and length <= self.receiver.max_body and not chunked:
            body = await _read(scope, receive, self.receiver.max_body)
            if body is _DISCONNECTED:
                return None
            return await self._answer(send, status, reason, close=body is _LATE)
        return await self._answer(send, status, reason, close=bool(length) or chunked)

    async def _answer(self, send: Send, status: int, text: str | bytes, *, kind: bytes = _TEXT,
                      close: bool = False, extra: Sequence[Header] = ()) -> None:  # fmt: skip
        body = text.encode("utf-8") if isinstance(text, str) else text
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *extra]
        if close:
            headers.append((b"connection", b"close"))
        self.receiver.metrics.answered(status)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _read(scope: Scope, receive: Receive, limit: int) -> Any:
    """The body, ``_TOO_LARGE`` (read and dropped up to DRAIN_LIMIT), ``_DISCONNECTED``, or
    ``_LATE`` (the server said the body did not arrive in time)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _DISCONNECTED
        chunk = message.get("body", b"")
        if not chunk and message.get("more_body", False) and scope.get(BODY_LATE):
            return _LATE
        size += len(chunk)
        if size <= limit:
            if chunk:
                chunks.append(chunk)
        elif chunks:
            chunks.clear()
        if not message.get("more_body", False):
            break
        if size > DRAIN_LIMIT:
            break
    if size > limit:
        return _TOO_LARGE
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _framing_error(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why the request's framing cannot be trusted (smuggling), by rule; None when sound.

    The server refuses these itself; the app refuses them again rather than trust that."""
    lengths = {v.strip() for k, v in headers if k == b"content-length"}
    encodings = [v for k, v in headers if k == b"transfer-encoding"]
    if len(lengths) > 1:
        return "conflicting Content-Length headers"
    if lengths and encodings:
        return "both Content-Length and Transfer-Encoding"
    if lengths and not next(iter(lengths)).isdigit():
        return "bad Content-Length"
    return None


def _token(scope: Scope, headers: list[tuple[bytes, bytes]]) -> str | None:
    for key, value in headers:
        if key == b"x-campaign-token":
            return value.decode("latin-1")
    query = scope.get("query_string") or b""
    if b"token=" not in query:
        return None
    return urllib.parse.parse_qs(query.decode("latin-1")).get("token", [None])[0]


def same_secret(given: str | None, token: bytes | None) -> bool:
    """True when no token is set, or ``given`` is it (in constant time)."""
    if token is None:
        return True
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token)
