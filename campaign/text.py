"""How campaign reads Chinese text whose bytes do not say their encoding: one rule, here.

Phone lists saved by Excel on a Chinese Windows are GBK; vendors answer in GBK or UTF-8 and
often declare neither, or declare one and send the other; a file that several tools appended
to mixes the two line by line. Everything in campaign that turns such bytes into text calls
:func:`utf8_or_gbk` (or a helper below built on it), so the rule is decided once:

1. A byte-order mark wins (UTF-8, UTF-16).
2. UTF-8 when the bytes are valid UTF-8. GBK text is practically never valid UTF-8, while
   GB18030 takes most UTF-8 bytes (取消 in UTF-8 read as GB18030 is 鍙栨秷), so UTF-8 goes
   first.
3. Else GB18030, the superset of GBK and GB2312 (vendors say one and send the other).

A declared charset (an XML declaration, a Content-Type) is believed when the bytes decode
under it: :func:`decode_text` and :func:`form_charset` try it before the rule.
"""

from __future__ import annotations

import codecs
import contextlib

__all__ = [
    "codec",
    "decode_lines",
    "decode_text",
    "form_charset",
    "guess_encoding",
    "utf8_or_gbk",
]

#: Names vendors and files use for GBK and its subsets; all read as GB18030.
_GBK_NAMES = frozenset({"gbk", "gb2312", "gb-2312", "cp936", "x-gbk", "gb18030", "ms936"})

#: The two encodings of undeclared Chinese text, in the order they are tried.
UTF8, GB18030 = "utf-8", "gb18030"


def codec(name: str) -> str:
    """A declared charset as the codec to decode it with: GBK and GB2312 as GB18030.

    >>> codec("GBK"), codec("utf_8")
    ('gb18030', 'utf-8')
    """
    lowered = name.strip().lower().replace("_", "-")
    return GB18030 if lowered in _GBK_NAMES else lowered


def utf8_or_gbk(raw: bytes) -> str:
    """Undeclared Chinese text: UTF-8 when the bytes are UTF-8, else GB18030.

    Raises ``UnicodeDecodeError`` when the bytes are neither.

    >>> utf8_or_gbk("退订".encode("gbk")), utf8_or_gbk("退订".encode("utf-8"))
    ('退订', '退订')
    """
    try:
        return raw.decode(UTF8)
    except UnicodeDecodeError:
        return raw.decode(GB18030)


def decode_text(body: bytes, *, declared: str | None = None) -> str:
    """Bytes as text, never failing: a BOM, else ``declared``, else :func:`utf8_or_gbk`,
    else GB18030 with replacement characters.

    >>> decode_text("成功".encode("gbk"), declared="GBK"), decode_text(b"\\xef\\xbb\\xbfok")
    ('成功', 'ok')
    """
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode(UTF8, errors="replace")
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace")
    if declared:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            return body.decode(codec(declared))
    with contextlib.suppress(UnicodeDecodeError):
        return utf8_or_gbk(body)
    return body.decode(GB18030, errors="replace")


def form_charset(raw: bytes, declared: str | None = None) -> str:
    """The codec for a pushed form's bytes: ASCII; else the declared charset when the bytes
    decode under it (a Content-Type is believed: GBK text can happen to be valid UTF-8, e.g.
    谢谢); else :func:`utf8_or_gbk`'s rule. Raises ``UnicodeDecodeError`` when none reads them.

    >>> form_charset("谢谢".encode("gbk"), "GBK"), form_charset("谢谢".encode("gbk"))
    ('gb18030', 'utf-8')
    """
    if raw.isascii():
        return "ascii"
    if declared:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            raw.decode(codec(declared))
            return codec(declared)
    utf8_or_gbk(raw)  # raises when the bytes are neither
    with contextlib.suppress(UnicodeDecodeError):
        raw.decode(UTF8)
        return UTF8
    return GB18030


def guess_encoding(data: bytes, *, sample: int = 65536) -> str:
    """``'utf-8'`` or ``'gb18030'`` for a whole file, decided on its first ``sample`` bytes.

    The rule of :func:`utf8_or_gbk`, applied to a sample cut at a line end. A sample whose
    first non-ASCII lines are UTF-8 says UTF-8 even when a GBK line follows (read such lines
    with :func:`decode_lines`); a sample cut inside a character is not evidence of GBK.

    >>> guess_encoding("手机\\n13800138000\\n".encode("gbk"))
    'gb18030'
    """
    head = data[:sample]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1] or head
    try:
        head.decode(UTF8)
    except UnicodeDecodeError as exc:
        cut_in_half = len(head) - exc.start <= 3 and len(data) > len(head)
        proven_utf8 = not head[: head.rfind(b"\n", 0, exc.start) + 1].isascii()
        if not cut_in_half and not proven_utf8:
            return GB18030
    return UTF8


def decode_lines(data: bytes, *, first: str = UTF8) -> tuple[list[str], list[int], list[int]]:
    """Text whose lines are each UTF-8 or GBK: ``first`` wherever it reads, else the other.

    Returns the lines (split on ``\\n``; a ``\\r`` before it is kept), the 1-based numbers of
    the lines read with the other encoding, and those neither reads (decoded as GB18030 with
    replacement characters, for the caller to reject or refuse). The whole text is decoded
    at once when it can be.

    >>> lines, other, bad = decode_lines("a\\n退订\\n".encode("utf-8") + "退订".encode("gbk"))
    >>> lines, other, bad
    (['a', '退订', '退订'], [3], [])
    """
    second = GB18030 if first == UTF8 else UTF8
    try:
        return data.decode(first).split("\n"), [], []
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
    lines = data[:start].decode(first).split("\n")[:-1] if start else []
    other: list[int] = []
    bad: list[int] = []
    for number, line in enumerate(data[start:].split(b"\n"), len(lines) + 1):
        try:
            lines.append(line.decode(first))
            continue
        except UnicodeDecodeError:
            pass
        try:
            lines.append(line.decode(second))
            other.append(number)
        except UnicodeDecodeError:
            lines.append(line.decode(GB18030, errors="replace"))
            bad.append(number)
    return lines, other, bad
