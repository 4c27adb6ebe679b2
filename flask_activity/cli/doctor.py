"""`flask activity doctor` (being written: see flask_activity/doctor.py)."""
from __future__ import annotations

import click


@click.command("doctor")
def doctor_command() -> None:
    """Check the audited models and the indexes the feed needs."""
    raise click.ClickException("doctor is not ready")
