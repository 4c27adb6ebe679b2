"""The extension on an app that is not ours, built here: start-up errors are one line naming the fix, and a model
with its own naive timestamps yields exactly the events its columns can show, on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_activity import ActivityReporting, ConfigError, acting_as, state
from flask_activity.activity import ActivityFilter, fetch_page, iter_event_csv
from flask_activity.reporting.definition import ReportDefinition
from tests.hosts import host

REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 9, 0)  # naive UTC, as the host's columns hold it


def test_a_naive_mapped_model_yields_only_what_its_columns_show(host_url):
    app, db, _activity, Account, Ticket, Macro = host(host_url)
    with app.app_context():
        db.create_all()
        ActivityReporting.create_tables()
        ann = Account(id=uuid.uuid4(), username="Ann")
        db.session.add(ann)
        # created and modified a few microseconds apart (two default= calls): no update
        db.session.add(Ticket(id=1, subject="fresh", created=T0, modified=T0 + timedelta(microseconds=7)))
        db.session.add(Ticket(id=2, subject="edited", created=T0, modified=T0 + timedelta(hours=1)))
        db.session.add(Ticket(id=3, subject="archived", created=T0, modified=T0 + timedelta(hours=2, microseconds=3),
                              archived_at=T0 + timedelta(hours=2)))
        db.session.commit()
        with acting_as(ann.id):
            db.session.add(Macro(title="=HYPERLINK()"))
            db.session.commit()

        spec = state().specs["ticket"]
        assert spec.actions == ("created", "updated", "deleted") and not spec.records_actors
        assert spec.note() == "this model records no actors"
        assert state().specs["macro"].note() is None

        page = fetch_page(ActivityFilter(models=("ticket",)), limit=50)
        got = {(e.id, e.action, e.at) for e in page.events}
        t0 = T0.replace(tzinfo=UTC)
        assert got == {(1, "created", t0), (2, "created", t0), (3, "created", t0),
                       (2, "updated", t0 + timedelta(hours=1)), (3, "deleted", t0 + timedelta(hours=2))}
        # an aware window is compared with the naive columns as UTC
        since = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
        assert [(e.id, e.action) for e in fetch_page(ActivityFilter(since=since, models=("ticket",))).events] \
            == [(3, "deleted")]
        # the ticket records no actors: filtering by a user or by 'system' shows none of its events
        assert {e.model for e in fetch_page(ActivityFilter(actor_id=ann.id)).events} == {"macro"}
        assert {e.model for e in fetch_page(ActivityFilter(system_actor=True)).events} <= {"macro", "account"}
        macro = fetch_page(ActivityFilter(models=("macro",))).events[0]
        assert macro.actor_id == ann.id and macro.actor_email == "Ann"
        assert macro.to_json()["actor"] == {"id": str(ann.id), "username": "Ann"}
        text = "".join(str(chunk) for chunk in iter_event_csv(ActivityFilter(models=("macro",))))
        assert f",{ann.id},Ann,'=HYPERLINK()" in text  # the person's name, and the label formula-guarded
        db.session.remove()


def _error(build: Any) -> str:
    with pytest.raises(ConfigError) as info:
        build()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_mapping_and_user_model_mistakes_are_one_line_at_init_app(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert _error(lambda: host(url, {"created_at": "created", "updated_at": "changed"})) == (
        "Ticket.__activity__: 'updated_at' names 'changed', which is not a column of Ticket "
        "(columns: id, subject, created, modified, archived_at)")
    assert _error(lambda: host(url, {"updated_at": "modified"})).startswith(
        "Ticket.__activity__: map 'created_at' to the column")
    assert _error(lambda: host(url, {"created_at": "subject"})) == (
        "Ticket.__activity__: 'created_at' names 'subject', which is not a DateTime column")
    assert _error(lambda: host(url, {"created_at": "created", "when": "x"})).startswith(
        "Ticket.__activity__: unknown key 'when'")
    assert _error(lambda: host(url, person="email")) == (
        "user model Account has no attribute 'email': pass person= the attribute that names a user "
        "(email, username)")
    assert _error(lambda: host(url, {"created_at": "created", "zone": "Europe/Paris"})) == (
        "Ticket.__activity__: naive timestamps in Europe/Paris need PostgreSQL; on SQLite store them in UTC")
    assert _error(lambda: host(url, REPORT_MODULES="no_such_module")).startswith(
        "REPORT_MODULES: 'no_such_module' does not import")


def test_a_registered_report_in_an_unknown_zone_is_refused_at_init_app(tmp_path):
    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)

    class Person(UserMixin, db.Model):  # type: ignore[name-defined,misc]
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(String(50))

    activity = ActivityReporting()
    activity.register_report(ReportDefinition(name="mars", title="Mars", description="", columns=("a",),
                                              rows=lambda ctx: iter(()), timezone="Mars/Olympus_Mons"))
    app = Flask("zones")
    app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'z.db'}")
    db.init_app(app)
    assert _error(lambda: activity.init_app(app, db=db, user_model=Person)) == (
        "report mars: timezone 'Mars/Olympus_Mons' is not an IANA time zone (try 'UTC' or 'Europe/Paris')")


def test_a_bad_report_module_stops_manage_py_with_one_line_and_exit_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "REPORT_MODULES": "reports.nope", "APP_ENV": "development",
           "INSTANCE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "manage.py", "report", "list"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: REPORT_MODULES: 'reports.nope' does not import"), lines
