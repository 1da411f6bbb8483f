"""Reference data for :mod:`campaign.phones`: vocabularies, names and patterns, no logic.

What libphonenumber knows (mobile and landline patterns, carrier and region prefixes) is
not copied here: :mod:`campaign.phones._prefixes` reads it from the ``phonenumbers``
package, so a package upgrade brings new ranges.
"""

from __future__ import annotations

#: Columns ``load_phones`` adds, in order.
OUTPUT_COLUMNS = ("phone", "valid", "reason", "carrier", "province", "city", "duplicate")

EMPTY = "empty"
SCIENTIFIC = "digits lost to Excel scientific notation"
NOT_A_NUMBER = "not a phone number"
SEVERAL = "several numbers in one cell"
FOREIGN = "not a mainland China number"
LANDLINE = "landline"
WRONG_LENGTH = "wrong length"
NOT_MOBILE = "not a mobile number"

#: The fixed vocabulary of ``reason``, checked in this order.
REASONS = (EMPTY, SCIENTIFIC, NOT_A_NUMBER, SEVERAL, FOREIGN, LANDLINE, WRONG_LENGTH, NOT_MOBILE)

#: Header names (compared case-, space- and underscore-insensitively) that name a phone
#: column, best first.
PHONE_HEADERS = (
    "phone",
    "mobile",
    "手机号码",
    "手机号",
    "手机",
    "mobilephone",
    "cellphone",
    "cell",
    "phonenumber",
    "mobileno",
    "msisdn",
    "移动电话",
    "联系电话",
    "电话号码",
    "电话",
    "号码",
    "联系方式",
    "tel",
    "telephone",
    "number",
)

#: Header names of a carrier column the list brings itself (e.g. a vendor's number-lookup
#: export, which sees 携号转网), compared like :data:`PHONE_HEADERS`, first found wins.
CARRIER_HEADERS = ("carrier", "运营商", "当前运营商")

# How a list's own carrier column may spell the four carriers (compared case-insensitively,
# without spaces, underscores or dashes); any other value is kept as written.
_CARRIER_ALIASES = {
    "中国移动": ("中国移动", "移动", "中国移动通信", "chinamobile", "cmcc", "cm"),
    "中国联通": ("中国联通", "联通", "中国联合通信", "chinaunicom", "unicom", "cucc", "cu"),
    "中国电信": ("中国电信", "电信", "chinatelecom", "telecom", "ctcc", "ct"),
    "中国广电": ("中国广电", "广电", "中国广电移动", "chinabroadnet", "broadnet", "cbn"),
}

_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".text", ""}

# IP long-distance dial prefixes people leave in front of numbers copied from old phone
# systems (17951 中国移动, 12593 中国移动, 17911 中国联通, 10193 中国联通, 17901/17909 中国电信).
# These are dialling codes, not number ranges: they never decide validity.
_IP_DIAL = "17951|12593|17911|10193|17901|17909"
_INVISIBLE = r"[\x{200B}-\x{200F}\x{202A}-\x{202E}\x{2060}-\x{2064}\x{FEFF}]"
_SEPARATORS = r"[\s\-.()\[\]_\x{2010}-\x{2015}\x{00B7}]"
_SCIENTIFIC = r"^[0-9](?:\.[0-9]+)?[eE][+]?[0-9]+$"
_SEVERAL = r"^\+?[0-9]{7,}(?:[/,;|、]+\+?[0-9]{7,})+$"

# Ranges whose carrier libphonenumber's carrier data (9.0.x) leaves out. MIIT allocated 162,
# 165 and 167 for mobile resale (虚拟运营商) on 中国电信's, 中国移动's and 中国联通's networks;
# libphonenumber lists 167 only. Used only where libphonenumber names no carrier, so a
# release that lists them wins. (A 号段 table agrees: its 162 prefixes are 电信, its 165 移动.)
_CARRIER_GAPS = {"162": "中国电信", "165": "中国移动"}

# How the geocoder names regions: municipalities are their own province and city; the
# autonomous and special administrative regions carry a suffix after their short name.
_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_REGIONS = ("内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门")
