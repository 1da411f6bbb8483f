"""What a protocol module gives the HTTP server: routes and replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaign.simulator.state import State


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: body bytes, content type and status."""

    body: bytes
    content_type: str
    status: int = 200


@dataclass(frozen=True)
class Route:
    """One documented path of one vendor product.

    ``operation(params)`` names the call as (operation, vendor's own method name or None);
    ``handle(state, operation, params)`` validates, changes state and answers;
    ``vendor_error(state, operation, params)`` is the vendor's generic failure answer
    (the ``vendor_error`` fault), changing nothing; ``malformed(state, operation, params)``
    its answer to a body it cannot read (a multipart body without a boundary), in its own
    format with HTTP status 400, changing nothing (``params`` then hold the query string's).
    """

    vendor: str
    charset: str
    methods: frozenset[str]
    operation: Callable[[dict[str, str]], tuple[str | None, str | None]]
    handle: Callable[[State, str | None, dict[str, str]], Reply]
    vendor_error: Callable[[State, str | None, dict[str, str]], Reply]
    malformed: Callable[[State, str | None, dict[str, str]], Reply]
