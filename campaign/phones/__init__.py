"""Phone lists into tidy DataFrames: read, find the phone column, normalise, classify.

Every input row comes back, in order, with its original columns plus:

============  =========================================================================
column        meaning
============  =========================================================================
phone         the 11-digit mainland mobile number as a string, missing when not valid
valid         True when ``phone`` is a mainland mobile number that can be sent to
reason        missing when valid, else one of :data:`REASONS`
carrier       中国移动 / 中国联通 / 中国电信 / 中国广电: the carrier the number's range was
              allocated to (a number moved by 携号转网 shows its original carrier), or
              the list's own carrier column where it has one (see ``load_phones``)
province      e.g. 广东; municipalities are their own province (北京), when known
city          e.g. 深圳, when known
duplicate     True for every repeat of an earlier valid number (the first stays False)
============  =========================================================================

Validity, carrier and region come from the ``phonenumbers`` package (libphonenumber's
metadata), so new ranges such as 19x, 192 and 1610 arrive with a package upgrade and no
table in this project needs editing; the carrier of the two ranges it leaves out (162, 165)
is added. Its geocoding data knows many 16x, 17x and 19x ranges only as 中国: a 号段 prefix
file that the user builds (``data/make_prefixes.py``; none ships, for licence reasons) fills
in province and city (``prefixes=`` or ``$CAMPAIGN_PREFIXES``). To stay fast on million-row
lists, nothing here calls ``phonenumbers`` once per row: normalising is vectorised with
Arrow string kernels, validity is libphonenumber's own mobile pattern run over the whole
column, and carrier and region are looked up per number prefix in arrays built once.

Reference data is kept apart from logic, one concern a module:

- ``_reference``: the reason vocabulary, phone header names, patterns, region names
- ``_prefixes``: libphonenumber's CN patterns and 7-digit carrier/province/city tables
- ``_prefix_file``: a 号段 prefix file's format, reading it, combining it with libphonenumber's
- ``_normalize``: :func:`normalize_phones` and :func:`normalize_phone` (Arrow kernels)
- ``_filetype``: what a file's first bytes say it is (text, a workbook, a PDF renamed .csv)
- ``_read`` and ``_excel``: text files (encoding, header, separator) and workbooks
- ``_columns``: which column holds the phone numbers
- ``_load``: :func:`load_phones`, from any source to the classified DataFrame
"""

from __future__ import annotations

from campaign.phones._load import Source as Source
from campaign.phones._load import load_phones
from campaign.phones._normalize import normalize_phone, normalize_phones
from campaign.phones._prefix_file import PREFIXES_ENV
from campaign.phones._prefixes import _mobile_pattern as _mobile_pattern
from campaign.phones._prefixes import _split_region as _split_region
from campaign.phones._reference import _IP_DIAL as _IP_DIAL
from campaign.phones._reference import (
    CARRIER_HEADERS,
    EMPTY,
    FOREIGN,
    LANDLINE,
    NOT_A_NUMBER,
    NOT_MOBILE,
    OUTPUT_COLUMNS,
    PHONE_HEADERS,
    REASONS,
    SCIENTIFIC,
    SEVERAL,
    WRONG_LENGTH,
)

__all__ = [
    "CARRIER_HEADERS",
    "EMPTY",
    "FOREIGN",
    "LANDLINE",
    "NOT_A_NUMBER",
    "NOT_MOBILE",
    "OUTPUT_COLUMNS",
    "PHONE_HEADERS",
    "PREFIXES_ENV",
    "REASONS",
    "SCIENTIFIC",
    "SEVERAL",
    "WRONG_LENGTH",
    "load_phones",
    "normalize_phone",
    "normalize_phones",
]
