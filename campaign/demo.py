"""The whole journey on built-in synthetic data: what `campaign demo` runs.

Today the journey is its first step, loading the messy sample lists in ``data/``; sending
through the simulator, ingesting receipts and the report join it as they are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from campaign.errors import ConfigError
from campaign.phones import load_phones

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLES = ("contacts.csv", "contacts_gbk.csv", "contacts.xlsx", "numbers.txt")


@dataclass
class DemoResult:
    """What the demo did: each sample list loaded, and the tidy CSV written for it."""

    contacts: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def run_demo(*, out: str | Path = "out", data_dir: str | Path | None = None) -> DemoResult:
    """Load every sample list in ``data/`` and write each as a tidy CSV into ``out``.

    >>> result = run_demo(out="out")
    >>> result.files[0].name
    'contacts.csv'
    """
    data = Path(data_dir) if data_dir is not None else DATA_DIR
    if not data.is_dir():
        raise ConfigError(
            f"the demo reads the sample lists in {data}, which is missing; "
            "run it from a clone of the repository or pass data_dir=..."
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult()
    for name in SAMPLES:
        contacts = load_phones(data / name)
        target = out / f"{Path(name).stem}-{Path(name).suffix.lstrip('.')}.csv"
        contacts.to_csv(target, index=False, encoding="utf-8-sig")  # BOM: Excel shows Chinese
        result.contacts[f"data/{name}"] = contacts
        result.files.append(target)
    return result
