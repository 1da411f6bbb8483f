"""Request parameters as the vendors' servers read them: the query string and the body.

A body is read as a form whatever its Content-Type says (``application/x-www-form-urlencoded``,
``text/plain`` or none: the seeds' own OkHttp and ASP examples send such bodies), except JSON,
which no seed documents, and ``multipart/form-data``, which is read part by part, the way
PHP's ``$_POST`` reads what curl sends when a client passes it an array. Only the standard
library is used (:mod:`email.parser` for multipart).
"""

from __future__ import annotations

from email import policy
from email.errors import (
    CloseBoundaryNotFoundDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from urllib.parse import unquote_to_bytes

_BROKEN = (NoBoundaryInMultipartDefect, StartBoundaryNotFoundDefect, CloseBoundaryNotFoundDefect)


class MalformedBody(ValueError):
    """A request body the server cannot read as parameters (the reason is the message)."""


def decode_form(raw: bytes, charset: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs decoded with ``charset`` (bad bytes: U+FFFD)."""
    pairs = []
    for chunk in raw.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        pairs.append(
            (
                unquote_to_bytes(name.replace(b"+", b" ")).decode(charset, "replace"),
                unquote_to_bytes(value.replace(b"+", b" ")).decode(charset, "replace"),
            )
        )
    return pairs


def _header_text(value: str, charset: str) -> str:
    """A header parameter as text: raw 8-bit bytes (kept by the parser as surrogates) are
    decoded with ``charset``, as browsers and curl put UTF-8 or GBK names there unencoded."""
    try:
        return value.encode("ascii", "surrogateescape").decode(charset, "replace")
    except UnicodeEncodeError:  # already text (an RFC 2231 encoded parameter)
        return value


def _param(part: Message, name: str, charset: str) -> str | None:
    value = part.get_param(name, header="content-disposition")
    if value is None:
        return None
    return _header_text(collapse_rfc2231_value(value), charset)  # type: ignore[arg-type]


def decode_multipart(body: bytes, content_type: str, charset: str) -> list[tuple[str, str]]:
    """The fields of a ``multipart/form-data`` body, in order; file parts are skipped.

    ``content_type`` is the request's header as sent (the boundary is case-sensitive). A
    part's value is decoded with the charset its own Content-Type declares, else ``charset``
    (bad bytes: U+FFFD). A body without a boundary, or whose boundary never opens or closes a
    part, raises :class:`MalformedBody`.

    >>> body = b'--xy\\r\\nContent-Disposition: form-data; name="account"\\r\\n\\r\\n'
    >>> body += b"C1\\r\\n--xy--\\r\\n"
    >>> decode_multipart(body, "multipart/form-data; boundary=xy", "utf-8")
    [('account', 'C1')]
    """
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if message.get_boundary() is None:
        raise MalformedBody("multipart/form-data without a boundary")
    broken = [type(d).__name__ for d in message.defects if isinstance(d, _BROKEN)]
    if broken or not message.is_multipart():
        raise MalformedBody(f"multipart body does not match its boundary ({', '.join(broken)})")
    pairs = []
    for part in message.get_payload():  # type: ignore[union-attr]
        name = _param(part, "name", charset)
        if name is None or part.get_param("filename", header="content-disposition") is not None:
            continue  # not a form field (PHP puts files in $_FILES, not $_POST)
        raw = part.get_payload(decode=True)
        value = raw if isinstance(raw, bytes) else b""
        pairs.append((name, _decode(value, part.get_content_charset(), charset)))
    return pairs


def _decode(value: bytes, declared: str | None, charset: str) -> str:
    if declared:
        try:
            return value.decode(declared, "replace")
        except LookupError:  # a charset Python does not know: the servlet's own
            pass
    return value.decode(charset, "replace")


def request_pairs(
    query: bytes, body: bytes, content_type: str, charset: str
) -> list[tuple[str, str]]:
    """Parameters of one request: the query string first, then the body's.

    Raises :class:`MalformedBody` for a multipart body that cannot be read.
    """
    pairs = decode_form(query, charset)
    if not body:
        return pairs
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        return pairs + decode_multipart(body, content_type, charset)
    if "json" in kind or kind.startswith("multipart/"):
        return pairs
    return pairs + decode_form(body, charset)
