"""Credentials: where they come from, how they print (``***``), and every form they take in text."""

from __future__ import annotations

import base64
import os
import urllib.parse
from typing import Any

from campaign.errors import MissingCredential

__all__ = ["Secret", "credential", "secret_forms"]


class Secret:
    """A credential that prints as ``***`` everywhere (repr, str, f-strings, vars())."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The real value, for building a request."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("credentials are not picklable")


class _SecretForms:
    """Every textual form of a client's secrets, longest first; prints as ``<redacted>``."""

    __slots__ = ("forms",)

    def __init__(self) -> None:
        self.forms: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        merged = set(self.forms) | secret_forms(value)
        self.forms = tuple(sorted(merged, key=len, reverse=True))

    def __repr__(self) -> str:
        return "<redacted>"

    def __reduce__(self) -> Any:
        raise TypeError("credentials are not picklable")


def credential(
    given: str | None, *, keyword: str, env: str, vendor: str, required: bool = True
) -> str | None:
    """A credential from the keyword argument, else the environment variable.

    A missing required one is a :class:`~campaign.errors.MissingCredential` (a ConfigError)
    naming both places to set it.
    """
    value = given if given not in (None, "") else os.environ.get(env, "")
    value = "" if value is None else str(value).strip()
    if not value:
        if required:
            raise MissingCredential(
                f"{vendor}: missing credential: pass {keyword}=... to cp.vendor(...) "
                f"or set the environment variable {env}",
                vendor=vendor,
                keyword=keyword,
                env=env,
            )
        return None
    return value


def secret_forms(value: str) -> set[str]:
    """The ways a secret can show up in text: as-is, URL-encoded, BASE64."""
    if not value:
        return set()
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        base64.b64encode(value.encode()).decode(),
    }
    forms |= {urllib.parse.quote(f, safe="") for f in list(forms)}
    return {f for f in forms if len(f) >= 3}
