"""What a file's first bytes say it is: text, an Excel workbook, or something else.

A phone list named ``.csv`` or ``.txt`` is read as text, but people rename files: a PDF
export, a screenshot or a zipped folder saved as ``名单.csv`` would otherwise be decoded as
text and fail with advice about encodings, or even load as rows of garbage; a workbook
renamed ``.csv`` is still a workbook. :func:`sniff` tells them apart before any decoding:

- a file signature (the "magic number" its format starts with): PDF, PNG, JPEG, GIF, TIFF,
  WebP, ZIP, gzip, 7-Zip, RAR, xz, SQLite, ELF programs, RTF; OLE2 (old Office files);
- inside a ZIP: an Excel workbook (``xl/workbook.xml``), an OpenDocument spreadsheet, a Word
  or PowerPoint file, or another archive;
- a NUL byte in the first 8 KiB (the rule git and grep use): UTF-8 and GBK/GB18030 text never
  has one, UTF-16 text does (so a UTF-16 byte-order mark or a UTF-16 ``encoding=`` skips it).
"""

from __future__ import annotations

import codecs
import io
import zipfile
from typing import Literal, NamedTuple

#: Bytes a format's files start with -> how to name it to a person.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF)"),
    (b"{\\rtf", "an RTF document (Word, WordPad)"),
)
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")  # .xls, .doc, .ppt, .msg, password-protected .xlsx
_NUL_WINDOW = 8192
_UNPACK = "unpack it and load the list inside"
_WEBP_HEAD = b"RIFF"  # RIFF....WEBP; other RIFF files (.wav, .avi) are not named

#: Every signature above, for tests and for ``load_phones``' messages.
SIGNATURES = tuple(sig for sig, _ in _SIGNATURES) + _ZIP + (_OLE2,)


class FileKind(NamedTuple):
    """What :func:`sniff` found: ``kind``; unless text, ``what`` it looks like in words, and
    ``advice`` when there is better advice than exporting the list as CSV or Excel."""

    kind: Literal["text", "excel", "other"]
    what: str | None = None
    advice: str | None = None


TEXT = FileKind("text")


def sniff(data: bytes, *, encoding: str | None = None) -> FileKind:
    """Text, an Excel workbook, or another kind of file (named), from the first bytes.

    ``encoding``: the one the caller gave; a UTF-16/32 one (whose text has NUL bytes) turns
    the NUL rule off.

    >>> sniff(b"%PDF-1.7\\n...").what, sniff("手机号\\n13800138000\\n".encode("gbk")).kind
    ('a PDF document', 'text')
    """
    if data.startswith(_WEBP_HEAD) and data[8:12] == b"WEBP":
        return FileKind("other", "a WebP image")
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            return FileKind("other", what, _UNPACK if "archive" in what else None)
    if data.startswith(_ZIP):
        return _zip_kind(data)
    if data.startswith(_OLE2):
        return FileKind("excel", "an old-format Office file (.xls, or a .doc or .ppt)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _wide(encoding):
        return TEXT
    head = data[:_NUL_WINDOW]
    if b"\x00" in head:
        odd, even = head[1::2], head[0::2]
        for order, zeros, other in (("le", odd, even), ("be", even, odd)):
            # mostly-ASCII UTF-16 (digits, a Chinese header) has a NUL in every other byte
            if zeros.count(0) >= len(zeros) / 2 and other.count(0) <= len(other) / 10:
                return FileKind(
                    "other",
                    "UTF-16 text without a byte-order mark",
                    f"pass encoding='utf-16-{order}', or re-save the file as UTF-8",
                )
        return FileKind("other", "binary data (it has NUL bytes), not text")
    return TEXT


def _wide(encoding: str | None) -> bool:
    if encoding is None:
        return False
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False  # an unknown encoding is the reader's error to name
    return name.startswith(("utf-16", "utf-32"))


def _zip_kind(data: bytes) -> FileKind:
    """A ZIP's members tell an Office file or spreadsheet from any other archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return FileKind("other", "a damaged ZIP archive (or a damaged .xlsx)")
    if any(n in names for n in ("xl/workbook.xml", "xl/workbook.bin")):
        return FileKind("excel", "an Excel workbook (.xlsx)")
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return FileKind("excel", "an OpenDocument spreadsheet (.ods)")
    if any(n.startswith("word/") for n in names):
        return FileKind("other", "a Word document (.docx)")
    if any(n.startswith("ppt/") for n in names):
        return FileKind("other", "a PowerPoint file (.pptx)")
    return FileKind("other", "a ZIP archive", _UNPACK)
