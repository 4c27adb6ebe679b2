"""The built-in report definitions: the daily report counts through the dashboard's day counts, and the model
parameter knows the models defined when it is read, not when reports.builtin was imported."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from admin_app.extensions import db
from flask_activity import activity
from flask_activity.reporting.definition import RunContext
from flask_activity.types import UTC
from reports.builtin import daily_rows
from tests import factories

REPO_ROOT = Path(__file__).resolve().parents[2]
NEW_YORK = ZoneInfo("America/New_York")


def rows_before_count_windows(ctx: RunContext) -> Iterator[Sequence[Any]]:
    """daily_rows as it was written before it used count_windows: count_events once per clipped local day."""
    day = ctx.since.astimezone(ctx.zone).date()
    last = (ctx.until - timedelta(microseconds=1)).astimezone(ctx.zone).date()
    models = (ctx.params["model"],) if ctx.params.get("model") else ()
    actions = (ctx.params["action"],) if ctx.params.get("action") else ()
    while day <= last:
        start = max(ctx.since, datetime.combine(day, time(0), tzinfo=ctx.zone))
        end = min(ctx.until, datetime.combine(day + timedelta(days=1), time(0), tzinfo=ctx.zone))
        flt = activity.ActivityFilter(start, end, models, actions)
        for (model, action), n in sorted(activity.count_events(flt, session=ctx.session).items()):
            yield (day.isoformat(), model, action, n)
        day += timedelta(days=1)


@pytest.mark.parametrize("params", [{"model": "", "action": ""}, {"model": "item", "action": ""},
                                    {"model": "", "action": "deleted"}], ids=["all", "items", "deletions"])
def test_daily_rows_equal_the_per_day_counts_across_the_autumn_change_in_new_york(app, admin_user, params):
    """2026-11-01 has 25 hours in New York; the window starts and ends inside a day, so both ends are clipped."""
    bl = factories.bucketlist(admin_user, actor=admin_user)
    base = datetime(2026, 10, 29, 22, 0, tzinfo=NEW_YORK).astimezone(UTC)
    factories.history_items(bl.id, 240, base, timedelta(minutes=37), update_every=3, delete_every=7,
                            update_after=timedelta(hours=5), delete_after=timedelta(hours=29), actor_id=admin_user.id)
    since = datetime(2026, 10, 30, 13, 0, tzinfo=NEW_YORK).astimezone(UTC)
    until = datetime(2026, 11, 3, 5, 0, tzinfo=NEW_YORK).astimezone(UTC)
    ctx = RunContext(since, until, params, NEW_YORK, db.session)
    expected = list(rows_before_count_windows(ctx))
    got = list(daily_rows(ctx))
    assert got == expected
    assert (got[0][0], got[-1][0]) == ("2026-10-30", "2026-11-03")
    assert sum(n for d, _, _, n in got if d == "2026-11-01") > 0  # the 25-hour day has events of its own
    assert sum(n for *_, n in got) > 0


MODEL_DEFINED_LATER = textwrap.dedent("""
    import sys

    from sqlalchemy.orm import Mapped, mapped_column

    import reports.builtin  # the definitions first: the model below did not exist when they were made
    from admin_app import create_app
    from admin_app.extensions import db
    from admin_app.models import AuditMixin
    from flask_activity import ActivityReporting
    from flask_activity.reporting.definition import ReportError
    from flask_activity.reporting.registry import get_report

    config = {"APP_ENV": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": sys.argv[1],
              "REPORTS_DIR": sys.argv[2]}
    with create_app(config).app_context():
        try:
            get_report("activity").parse_params({"model": "invoice"})
            print("invoice accepted before it was defined")
        except ReportError:
            pass

    class Invoice(AuditMixin, db.Model):
        __tablename__ = "invoices"
        id: Mapped[int] = mapped_column(primary_key=True)

    app = create_app(config)
    with app.app_context():
        db.create_all()
        ActivityReporting.create_tables()
        print(get_report("activity").parse_params({"model": "invoice"})["model"])
    result = app.test_cli_runner().invoke(args=["report", "run", "activity", "--period", "today",
                                                "--param", "model=invoice"])
    print(result.exit_code, result.output.strip().splitlines()[-1])
""")



def test_a_model_defined_after_reports_builtin_was_imported_is_a_model_choice(tmp_path):
    proc = subprocess.run([sys.executable, "-c", MODEL_DEFINED_LATER, f"sqlite:///{tmp_path / 'app.db'}",
                           str(tmp_path / "reports")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "invoice"
    assert lines[1].startswith("0 activity: 0 rows,"), lines
