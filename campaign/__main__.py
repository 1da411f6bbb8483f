"""``python -m campaign``: the same command as ``campaign`` (see :mod:`campaign.cli`)."""

from campaign.cli import main

if __name__ == "__main__":
    main(prog_name="campaign")
