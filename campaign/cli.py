"""The `campaign` command: one thin click command per public function."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="campaign")
def main() -> None:
    """Run SMS and voice campaigns through Chinese vendors, and report on them."""


if __name__ == "__main__":  # pragma: no cover
    main()
