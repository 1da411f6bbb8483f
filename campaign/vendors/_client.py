"""The base of every vendor client: session, timeouts, retries, redaction, one transport boundary.

Vendor modules declare their :class:`VendorLimits` as data and build their requests; all HTTP
goes through :meth:`VendorClient._call`, the only place where :mod:`requests` exceptions are
turned into :class:`~campaign.errors.VendorUnreachable` (the request never left: safe to retry)
or :class:`~campaign.errors.VendorResponseUnknown` (it may have reached the vendor: the outcome
is unknown). Retrying is decided per *operation* (:class:`RetryPolicy`), never per HTTP verb:
sends are retried only when the vendor was certainly not reached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import http.client
import logging
import socket
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from campaign.errors import (
    ConfigError,
    InputError,
    PayloadError,
    VendorRejected,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.vendors._limits import VendorLimits, check_send_at
from campaign.vendors._records import Receipt, Reply, SendResult
from campaign.vendors._secrets import Secret, _SecretForms

__all__ = [
    "CHANGE",
    "DEFAULT_BACKOFF",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEQUEUE",
    "POOL_SIZE",
    "READ",
    "SEND",
    "RetryPolicy",
    "VendorClient",
    "rejected",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to the vendor.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds to wait for the vendor's answer once the request is sent (20,000 numbers take a while).
DEFAULT_READ_TIMEOUT = 30.0
#: Extra attempts after the first one, for calls whose policy allows a retry.
DEFAULT_RETRIES = 2
#: Seconds before the first retry; doubled for each further one.
DEFAULT_BACKOFF = 0.5
#: Connections kept per host: enough for ``cp.send(..., concurrency=8)`` with room to spare.
POOL_SIZE = 10


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of operation is retried.

    ``retry_unknown`` is False for anything with an effect at the vendor (a send: the message
    may already be on its way; a destructive pull: the items may already be dequeued).
    """

    name: str
    retry_unknown: bool


SEND = RetryPolicy("send", retry_unknown=False)
READ = RetryPolicy("read", retry_unknown=True)
#: A pull from a queue that the vendor empties as it answers (jzyyun reports and replies):
#: retrying after a lost answer would hide the loss, so only unreached calls are retried.
DEQUEUE = RetryPolicy("dequeue", retry_unknown=False)
#: Changing state (e.g. a password): replaying it after an unknown outcome can mislead.
CHANGE = RetryPolicy("change", retry_unknown=False)


def _never_connected(exc: BaseException) -> bool:
    """True only when requests/urllib3 say the TCP connection itself failed."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ProxyError | requests.exceptions.SSLError):
        return False  # could be either side of sending: stay conservative
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    return any(isinstance(item, NewConnectionError | ConnectTimeoutError) for item in _chain(exc))


def _chain(exc: BaseException):
    """``exc`` and every exception inside it: urllib3's ``reason``, exceptions among the
    ``args``, causes and contexts, each once (requests nests the OS error three deep)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        stack.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
        stack.append(item.__cause__)
        stack.append(item.__context__)


def _reason(exc: BaseException, timeout: tuple[float, float]) -> str:
    """What went wrong on the wire, in a few words: ``connection refused``, ``host name not
    found``, ``no answer within 30 s (read timeout)``..."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {timeout[0]:g} s (connect timeout)"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no answer within {timeout[1]:g} s (read timeout)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed (certificate or protocol)"
    for item in _chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, socket.gaierror):
            return "host name not found"
        if isinstance(item, ConnectionResetError):
            return "connection reset"
        if isinstance(item, http.client.RemoteDisconnected):
            return "connection closed without an answer"
        if isinstance(item, ConnectTimeoutError) and not isinstance(item, NewConnectionError):
            return f"no connection within {timeout[0]:g} s (connect timeout)"
    return type(exc).__name__


class VendorClient:
    """Base of every vendor client: credentials, session, timeouts, retries, redaction.

    Subclasses set ``KEY``, ``DEFAULT_BASE_URL``, ``LIMITS`` and ``SECRET_PARAMS`` (the request
    parameters whose values are secrets: redaction declared per vendor); a vendor whose
    deployments live under a context path sets ``BASE_URL_PATH = True``, so that ``base_url``
    may carry a path prefix (``http://host:9002/sms``).
    """

    KEY: ClassVar[str] = ""
    DEFAULT_BASE_URL: ClassVar[str] = ""
    LIMITS: ClassVar[VendorLimits]
    SECRET_PARAMS: ClassVar[tuple[str, ...]] = ()
    BASE_URL_PATH: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        limits: Mapping[str, Any] | VendorLimits | None = None,
        retries: int | None = None,
    ):
        self.vendor = self.KEY
        self.base_url = _base_url(
            base_url or self.DEFAULT_BASE_URL, vendor=self.KEY, path=self.BASE_URL_PATH
        )
        self.timeout = _timeout(timeout, vendor=self.KEY)
        if isinstance(limits, VendorLimits):
            self.limits = limits
        else:
            self.limits = self.LIMITS.replace(limits or {})
        self.retries = DEFAULT_RETRIES if retries is None else int(retries)
        if self.retries < 0:
            raise InputError(f"{self.KEY}: retries must be >= 0, not {retries}")
        self.backoff = DEFAULT_BACKOFF
        self._secrets: list[Secret] = []
        self._secret_forms = _SecretForms()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "campaign (python-requests)"

    # -- identity -----------------------------------------------------------------------------

    def _identity(self) -> str:
        """Non-secret words for repr (e.g. a masked account id)."""
        return ""

    def __repr__(self) -> str:
        extra = self._identity()
        return (
            f"<{type(self).__name__} {self.vendor!r} base_url={self.base_url!r}"
            f"{' ' + extra if extra else ''}>"
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- secrets ------------------------------------------------------------------------------

    def _secret(self, value: str) -> Secret:
        secret = Secret(value)
        self._secrets.append(secret)
        self._secret_forms.add(value)
        return secret

    def redact(self, text: str) -> str:
        """``text`` with every form of every credential of this client replaced by ``***``."""
        for form in self._secret_forms.forms:
            if form in text:
                text = text.replace(form, "***")
        return text

    def _safe_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Parameters fit for a log line: secrets masked, long values (20,000 phones) cut."""
        safe: dict[str, Any] = {}
        for name, value in dict(params or {}).items():
            if name in self.SECRET_PARAMS:
                safe[name] = "***"
            elif isinstance(value, str) and len(value) > 120:
                safe[name] = f"{value[:100]}...({len(value)} chars)"
            else:
                safe[name] = value
        return safe

    # -- the transport boundary ---------------------------------------------------------------

    def _call(
        self,
        policy: RetryPolicy,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        log_params: Mapping[str, Any] | None = None,
        retry: bool = True,
    ) -> requests.Response:
        """POST to ``base_url + path``; map transport failures; retry as ``policy`` allows
        (``retry=False``: one attempt, whatever the policy).

        Credentials go in the form body only (never in the URL), so no URL in a log or an
        exception can carry them.
        """
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Content-Type": content_type} if content_type else None
        attempts = 1 + self.retries if retry else 1
        for attempt in range(1, attempts + 1):
            logger.debug(
                "%s %s: POST %s params=%s (attempt %d/%d)",
                self.vendor,
                policy.name,
                url,
                self._safe_params(log_params if log_params is not None else data),
                attempt,
                attempts,
            )
            delay = self.backoff * 2 ** (attempt - 1)
            try:
                return self._post_once(url, data=data, body=body, headers=headers)
            except VendorUnreachable as exc:
                if attempt == attempts:
                    raise
                # one plain line a retry: "veesing-sms: cannot reach 127.0.0.1:9 (connection
                # refused); nothing was sent; retry 1 of 2 in 0.5 s"
                logger.warning("%s; retry %d of %d in %.1f s", exc, attempt, self.retries, delay)
            except VendorResponseUnknown as exc:
                if not policy.retry_unknown or attempt == attempts:
                    raise
                logger.warning("%s; retry %d of %d in %.1f s", exc, attempt, self.retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_once(
        self,
        url: str,
        *,
        data: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        try:
            response = self._session.post(
                url,
                data=body if body is not None else data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,  # a redirected POST becomes a GET elsewhere: don't guess
            )
            response.content  # noqa: B018  read the whole body inside the boundary
        except requests.exceptions.RequestException as exc:
            self._scrub(exc)
            # requests' and urllib3's own words (pools, adapters, object addresses) go to the
            # debug log and the chained cause; the message says what happened in a few words
            logger.debug("%s: %s", self.vendor, self.redact(f"{type(exc).__name__}: {exc}"))
            if _never_connected(exc):
                raise VendorUnreachable(
                    f"cannot reach {self._where()} ({_reason(exc, self.timeout)}); "
                    "nothing was sent",
                    vendor=self.vendor,
                ) from exc
            raise VendorResponseUnknown(
                f"no usable answer from {self._where()} ({_reason(exc, self.timeout)}); "
                "the request may have been processed",
                vendor=self.vendor,
            ) from exc
        if response.status_code >= 300:
            raise VendorResponseUnknown(
                f"HTTP {response.status_code} from {self._where()} (the request may have been "
                "processed)",
                vendor=self.vendor,
                code=str(response.status_code),
                vendor_message=self.redact(response.text)[:200] or None,
            )
        return response

    def _where(self) -> str:
        return urllib.parse.urlsplit(self.base_url).netloc or self.base_url

    def _scrub(self, exc: BaseException) -> None:
        """Drop what a chained requests exception could leak (the prepared request body)."""
        seen: set[int] = set()
        item: BaseException | None = exc
        while item is not None and id(item) not in seen:
            seen.add(id(item))
            if hasattr(item, "request"):
                with contextlib.suppress(AttributeError):
                    item.request = None  # type: ignore[attr-defined]
            if item.args:
                item.args = tuple(self.redact(a) if isinstance(a, str) else a for a in item.args)
            item = item.__cause__ or item.__context__

    def _unknown(self, what: str, body: str) -> VendorResponseUnknown:
        """An answer we cannot read: for a send, the outcome is unknown."""
        return VendorResponseUnknown(
            f"unreadable answer ({what})",
            vendor=self.vendor,
            vendor_message=self.redact(body)[:200],  # redact first: a cut key would slip by
        )

    def _answered(self, result: SendResult, body: str) -> SendResult:
        """A send's result as callers see it: the vendor's words with our secrets removed.

        Vendors echo parameters back in messages; ``message`` is stored in the batches table.
        """
        message = self.redact(result.message) if result.message else result.message
        return dataclasses.replace(result, message=message, raw=self.redact(body))

    def _refused(self, what: str, code: str | None, message: str | None) -> VendorRejected:
        """The vendor said no to a non-send call, in its words with our secrets removed."""
        return rejected(self.vendor, what, code, self.redact(message) if message else message)

    # -- the public API, overridden per vendor -------------------------------------------------

    def send(
        self,
        phones: str | Sequence[str],
        *,
        content: str | None = None,
        template_id: str | None = None,
        variables: str | None = None,
        send_at: dt.datetime | str | None = None,
    ) -> SendResult:
        """Submit one call to the vendor (see the vendor module)."""
        raise NotImplementedError

    def balance(self, *, wait: bool = True) -> int:
        """Units left that this client's sends draw on.

        ``wait=False``: ask once and raise at once, with no retry and no waiting out a limit
        on how often the balance may be asked (jzyyun's 查询频繁); ``cp.send`` reads it so,
        to never hold a send up.
        """
        raise NotImplementedError

    def parse_push(self, form: Mapping[str, str]) -> Receipt | Reply:
        """One pushed form as a :class:`Receipt` or :class:`Reply`."""
        raise PayloadError(f"{self.vendor}: this vendor pushes nothing (delivery: none)")

    def fetch_raw(self, kind: Literal["receipt", "reply"]) -> bytes:
        """The raw answer of one pull of reports (``"receipt"``) or replies (``"reply"``),
        as the vendor sent it, for the ``parse_pulled`` of the vendor's protocol (pulled
        vendors only)."""
        raise self._nothing_to_pull("reports" if kind == "receipt" else "replies")

    def fetch_reports(self) -> pd.DataFrame:
        """Pull delivery reports (pulled vendors only)."""
        raise self._nothing_to_pull("reports")

    def fetch_replies(self) -> pd.DataFrame:
        """Pull inbound replies (pulled vendors only)."""
        raise self._nothing_to_pull("replies")

    def _nothing_to_pull(self, what: str) -> InputError:
        mode = self.limits.delivery if what == "reports" else self.limits.replies
        field = "delivery" if what == "reports" else "replies"
        return InputError(
            f"{self.vendor} does not offer {what} to pull ({field}: {mode}); "
            f"pushed {'receipts' if what == 'reports' else 'replies'} arrive through "
            "`campaign receive`"
        )

    def _check_send_at(self, send_at: dt.datetime | str | None) -> dt.datetime | None:
        return check_send_at(send_at, limits=self.limits, vendor=self.vendor)


def _base_url(value: str, *, vendor: str, path: bool = False) -> str:
    """``scheme://host:port``, and with ``path`` a context path too (``/sms``, no trailing
    slash) for deployments that live under one; a query or fragment is always refused."""
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{vendor}: base_url must look like http://host:port, not {value!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{vendor}: base_url must not carry credentials")
    prefix = "/".join(s for s in parts.path.split("/") if s)
    if parts.query or parts.fragment or (prefix and not path):
        keep = f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if path and prefix else "")
        what = "scheme, host, port and a context path" if path else "scheme, host and port"
        raise ConfigError(
            f"{vendor}: base_url replaces only {what} (the documented paths are kept): use {keep}"
        )
    if any(s in (".", "..") for s in prefix.split("/")):
        raise ConfigError(f"{vendor}: base_url path {parts.path!r} must not hold . or ..")
    return f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")


def _timeout(value: float | tuple[float, float] | None, *, vendor: str) -> tuple[float, float]:
    if value is None:
        return (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    if isinstance(value, int | float):
        pair = (float(value), float(value))
    else:
        try:
            connect, read = value
            pair = (float(connect), float(read))
        except (TypeError, ValueError):
            raise ConfigError(
                f"{vendor}: timeout must be seconds or (connect, read), not {value!r}"
            ) from None
    if min(pair) <= 0:
        raise ConfigError(f"{vendor}: timeouts must be positive, not {value!r}")
    return pair


def rejected(vendor: str, what: str, code: str | None, message: str | None) -> VendorRejected:
    """The vendor answered and said no, where no result object fits (a balance query)."""
    return VendorRejected(f"{what} refused", vendor=vendor, code=code, vendor_message=message)
