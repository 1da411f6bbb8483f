"""The vendor interface: what each vendor module declares, by how its data arrives.

Every vendor module ends with ``PROTOCOL = VendorProtocol(...)``; the registry hands it out
(:func:`campaign.vendors.vendor_protocol`), and ``ingest`` and the receiver read pushes and
pulled answers only through it, never naming a vendor's fields or tags:

- ``parse_push(form)``: one pushed form as a Receipt or Reply (every vendor has it; one that
  pushes nothing raises :class:`~campaign.errors.PayloadError`, so the form is kept in
  ``rejected``).
- ``push_format``: for a vendor that pushes, its form's field names as data
  (:class:`PushFormat`): which field carries the phone, which marks a receipt, which a reply.
- ``parse_receipt_columns(table, rows)``: optional fast path for many pushed forms at once
  (a :class:`PushTable`): it takes only the rows it can vouch for and returns which those
  are and, as tuples of :class:`Receipt`'s fields, exactly what ``parse_push`` would give
  for them; every other row goes through ``parse_push``.
- ``parse_pulled(raw, kind)``: for a vendor whose reports or replies are pulled, a whole
  answer as :class:`Pulled`: the records, plus each item that could not be read with its error
  (the rest of the answer is still read). Its client's :meth:`VendorClient.fetch_raw` returns
  such an answer as the vendor sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from campaign.vendors._limits import VendorLimits
from campaign.vendors._records import Receipt, Reply

__all__ = ["Kind", "Pulled", "PushFormat", "PushTable", "VendorProtocol"]

#: What a record is: a delivery receipt or an inbound reply.
Kind = Literal["receipt", "reply"]


@dataclass(frozen=True)
class PushFormat:
    """A pushed form's field names, as data.

    ``phone``: the field with the number; ``receipt_marker`` / ``reply_marker``: the field
    only a receipt / only a reply has; ``receipt_fields``: the fields the vendor's page marks
    required in a receipt (named in errors about captured files).
    """

    phone: str
    receipt_marker: str
    reply_marker: str
    receipt_fields: tuple[str, ...]

    def kind(self, has_receipt_marker: bool, has_reply_marker: bool) -> Kind | None:
        """What a form with (or without) the two markers is; None when it has both or
        neither (``parse_push`` then says what is wrong)."""
        if has_receipt_marker and not has_reply_marker:
            return "receipt"
        if has_reply_marker and not has_receipt_marker:
            return "reply"
        return None


@dataclass
class Pulled:
    """A pulled answer read: its records, and the items that could not be read, each as
    ``(item's raw bytes, error)``."""

    records: list[Receipt | Reply] = field(default_factory=list)
    bad_items: list[tuple[bytes, str]] = field(default_factory=list)


@dataclass(frozen=True)
class VendorProtocol:
    """What one vendor module provides (see the module docstring)."""

    key: str
    limits: VendorLimits
    parse_push: Callable[[Mapping[str, Any]], Receipt | Reply]
    push_format: PushFormat | None = None
    parse_receipt_columns: (
        Callable[[PushTable, np.ndarray], tuple[np.ndarray, list[tuple]]] | None
    ) = None
    parse_pulled: Callable[[bytes, Kind], Pulled] | None = None


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class PushTable:
    """Pushed forms (a list of dicts, or a DataFrame of captured pushes) read column-wise."""

    def __init__(self, forms: Sequence[Mapping[str, Any]] | pd.DataFrame):
        self.forms = forms
        self.n = len(forms)
        self.is_frame = isinstance(forms, pd.DataFrame)
        self._cache: dict[str, list[Any]] = {}

    def column(self, name: str) -> list[Any]:
        """The field's values, one per form (None where absent or missing)."""
        if name not in self._cache:
            if self.is_frame:
                if name in self.forms.columns:
                    values = self.forms[name].astype(object).tolist()
                    values = [None if _missing(v) else v for v in values]
                else:
                    values = [None] * self.n
            else:
                values = [f.get(name) for f in self.forms]
            self._cache[name] = values
        return self._cache[name]

    def present(self, name: str) -> np.ndarray:
        """True where the form has the field (a key in a dict; a non-missing cell in a frame)."""
        if self.is_frame:
            return np.fromiter((v is not None for v in self.column(name)), bool, self.n)
        return np.fromiter((name in f for f in self.forms), bool, self.n)

    def row(self, i: int) -> Mapping[str, Any]:
        """Form ``i`` as a mapping (a frame's missing cells left out)."""
        if self.is_frame:
            return {str(k): v for k, v in self.forms.iloc[i].items() if not _missing(v)}
        return self.forms[i]
