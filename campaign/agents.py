"""What kind of client clicked a link: the user agent's class, the only trace a click keeps.

A click is stored with one of :data:`AGENTS` and nothing else about the client: no IP
address, no user agent string. Both the receiver (``GET /c/<code>``) and
:func:`campaign.ingest_clicks` (clicks exported from another shortener) classify with
:func:`agent_class`, so a click means the same wherever it came from.

The classes, tried in this order:

=======  ===================================================================================
bot      crawlers, link previewers and scripts: the unfurling a chat app does when a link is
         pasted (Slackbot, TelegramBot, WhatsApp, facebookexternalhit, Twitterbot ...),
         search engines (Googlebot, Baiduspider, Bytespider ...), headless browsers and HTTP
         libraries (curl, wget, python-requests, Go-http-client ...). The funnel leaves them
         out: no person clicked.
mobile   phones and tablets: Android, iPhone, iPad, HarmonyOS, WeChat (MicroMessenger) and
         anything that says Mobile
desktop  Windows, Macintosh, X11 / Linux / ChromeOS without Mobile (WeChat for Windows or
         macOS included)
other    anything else, an empty or missing user agent too
=======  ===================================================================================
"""

from __future__ import annotations

import re

__all__ = ["AGENTS", "BOT", "DESKTOP", "MOBILE", "OTHER", "agent_class"]

BOT, MOBILE, DESKTOP, OTHER = "bot", "mobile", "desktop", "other"
#: Every class a click can have (the store's ``clicks.agent`` takes exactly these).
AGENTS = (MOBILE, DESKTOP, BOT, OTHER)

#: Only this much of a user agent is looked at (real ones are a few hundred characters).
_LOOK_AT = 1024

# "bot" is matched case-sensitively at the end of a word (Googlebot, TelegramBot, Applebot)
# so that a phone named CUBOT is not a crawler; the rest without case.
_BOT_WORD = re.compile(r"(?:bot|Bot)\b")
_BOT = re.compile(
    r"spider|crawl|preview|scraper|scrapy|facebookexternalhit|facebookcatalog|whatsapp|"
    r"\bcurl/|\bwget/|python-requests|python-urllib|python-httpx|aiohttp|httpx/|"
    r"go-http-client|okhttp/[\d.]+$|java/|apache-httpclient|libwww|lwp::|node-fetch|axios/|"
    r"postmanruntime|insomnia|headless|phantomjs|slimerjs|puppeteer|playwright|selenium|"
    r"lighthouse|pingdom|uptimerobot|statuscake|monitor|embedly|iframely|quora link|"
    r"skypeuripreview|vkshare|w3c_validator|feedfetcher|mediapartners|adsbot|"
    r"yahoo! slurp|ia_archiver|bingpreview|google-pagerenderer|google-inspectiontool|"
    r"yisou|sogou web|360spider|haosou|petalsearch|bytedance-?spider",
    re.IGNORECASE,
)
_DESKTOP_APP = re.compile(r"windowswechat|macwechat|wechat/[\d.]+ \(mac", re.IGNORECASE)
_MOBILE = re.compile(
    r"android|iphone|ipad|ipod|micromessenger|wechat|mobile|harmonyos|openharmony|"
    r"windows phone|blackberry|bb10|opera mini|kaios|webos|silk/",
    re.IGNORECASE,
)
_DESKTOP = re.compile(r"windows|macintosh|mac os x|x11|linux|cros|freebsd|openbsd", re.IGNORECASE)


def agent_class(user_agent: str | bytes | None) -> str:
    """The class of a ``User-Agent`` header: ``'bot'``, ``'mobile'``, ``'desktop'`` or
    ``'other'`` (see the module docstring). Never raises; the string is not kept anywhere.

    >>> agent_class("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
    ...             " (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f)")
    'mobile'
    >>> agent_class("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0")
    'desktop'
    >>> agent_class("TelegramBot (like TwitterBot)"), agent_class("curl/8.4.0")
    ('bot', 'bot')
    >>> agent_class(""), agent_class(None)
    ('other', 'other')
    """
    if user_agent is None:
        return OTHER
    if isinstance(user_agent, bytes | bytearray):
        user_agent = bytes(user_agent).decode("latin-1")
    if not isinstance(user_agent, str):
        return OTHER
    text = user_agent[:_LOOK_AT].strip()
    if not text:
        return OTHER
    if _BOT_WORD.search(text) or _BOT.search(text):
        return BOT
    if _DESKTOP_APP.search(text):
        return DESKTOP
    if _MOBILE.search(text):
        return MOBILE
    if _DESKTOP.search(text):
        return DESKTOP
    return OTHER
