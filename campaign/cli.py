"""The `campaign` command: one thin click command per public function.

Library first: every command calls the same function a notebook would, and only this
module echoes to the terminal.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from campaign.errors import CampaignError


class _Group(click.Group):
    """Turns a CampaignError into a one-line message and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.version_option(package_name="campaign")
@click.option("-v", "--verbose", is_flag=True, help="Log what each step does.")
def main(verbose: bool) -> None:
    """Run SMS and voice campaigns through Chinese vendors, and report on them."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--column", help="Column holding the numbers (default: found from headers/values).")
@click.option("--sheet", help="Excel sheet name or 0-based position (default: the first).")
@click.option("--encoding", help="Text encoding (default: UTF-8 or GBK, detected).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tidy list here (.csv, opened correctly by Excel; or .xlsx).",
)
def load(
    source: Path, column: str | None, sheet: str | None, encoding: str | None, out: Path | None
) -> None:
    """Load a phone list and say which numbers can be sent to, and why the rest cannot."""
    from campaign.phones import load_phones

    sheet_arg: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    contacts = load_phones(source, column=column, sheet=sheet_arg, encoding=encoding)
    click.echo(summarize_contacts(contacts, name=str(source)))
    if out is not None:
        write_table(contacts, out)
        click.echo(f"wrote {out}")


def summarize_contacts(contacts, *, name: str) -> str:
    """A few plain lines on a load_phones result, for the terminal."""
    total = len(contacts)
    valid = int(contacts["valid"].sum())
    dup = int(contacts["duplicate"].sum())
    lines = [
        f"{name}: {total} rows, phone column {contacts.attrs.get('phone_column')!r}",
        f"  sendable: {valid - dup} ({valid} valid, {dup} repeats)",
    ]
    reasons = contacts["reason"].value_counts()
    if len(reasons):
        lines.append(f"  not sendable: {int(reasons.sum())}")
        lines += [f"    {count:>8}  {reason}" for reason, count in reasons.items()]
    carriers = contacts.loc[contacts["valid"], "carrier"].value_counts(dropna=False)
    if len(carriers):
        lines.append("  by carrier:")
        lines += [
            f"    {count:>8}  {carrier if isinstance(carrier, str) else 'unknown'}"
            for carrier, count in carriers.items()
        ]
    return "\n".join(lines)


def write_table(frame, path: Path) -> None:
    """CSV with a BOM (so Excel shows Chinese correctly) or .xlsx, by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, encoding="utf-8-sig")


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for what the demo writes.",
)
def demo(out: Path) -> None:
    """Run the whole journey on the built-in synthetic data."""
    from campaign.demo import run_demo

    result = run_demo(out=out)
    for name, contacts in result.contacts.items():
        click.echo(summarize_contacts(contacts, name=name))
    click.echo(f"wrote {', '.join(str(f) for f in result.files)}")


if __name__ == "__main__":  # pragma: no cover
    main()
