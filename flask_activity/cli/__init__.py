"""The extension's commands under the host's ``flask`` command: ``activity`` (the feed, ``activity doctor`` and
``activity counts``)
and the ``report`` group. Added by ActivityReporting.init_app; importing this package registers nothing."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Add ``activity`` (with ``doctor`` and ``counts``) and ``report`` to ``app.cli``."""
    from .activity import activity_command, counts_command
    from .doctor import doctor_command
    from .reports import report_group, schedule_command
    from .subscriptions import deliveries_command, subscription_group

    if "doctor" not in activity_command.commands:
        activity_command.add_command(doctor_command)
    if "counts" not in activity_command.commands:
        activity_command.add_command(counts_command)
    app.cli.add_command(activity_command)
    app.cli.add_command(report_group)
    app.cli.add_command(subscription_group)
    app.cli.add_command(deliveries_command)
    app.cli.add_command(schedule_command, "schedule")  # reports and deliveries; `report schedule` is the same
