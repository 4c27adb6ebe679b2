"""The command line: create-user, set-password, seed-demo, activity, bootstrap, and manage.py itself."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from admin_app.accounts import find_user
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity.activity import ACTIONS
from flask_activity.types import UTC, utcnow
from tests import factories

REPO_ROOT = Path(__file__).resolve().parents[2]
OLD_PASSWORD = "the-old-passphrase"
NEW_PASSWORD = "a-brand-new-passphrase"
BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
N_ITEMS = 30


# --- helpers ---------------------------------------------------------------------------


def assert_one_error_line(result, *mentions: str) -> str:
    """Exit status 2 and exactly one line of output, starting with 'error:'."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:"), lines[0]
    for word in mentions:
        assert word in lines[0], lines[0]
    return lines[0]


def fresh_user(email: str) -> User | None:
    """The user as committed in the database (a new session, nothing cached)."""
    db.session.remove()
    return find_user(email)


def count(model: type) -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(model))


def make_history(owner: User) -> None:
    """One bucketlist and N_ITEMS items a minute apart; every 3rd updated, every 7th deleted."""
    bl_id = db.session.execute(
        insert(Bucketlist).returning(Bucketlist.id),
        [dict(title="Travel", description="", owner_id=owner.id, created_at=BASE - timedelta(hours=1),
              updated_at=BASE - timedelta(hours=1), created_by_id=owner.id, updated_by_id=owner.id)],
    ).scalar_one()
    factories.history_items(bl_id, N_ITEMS, BASE, timedelta(minutes=1), 3, 7, timedelta(seconds=30),
                            timedelta(seconds=45), actor_id=owner.id)


def activity_json(runner, *args: str) -> dict:
    result = runner.invoke(args=["activity", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def event_key(e: dict) -> tuple:
    return (datetime.fromisoformat(e["at"]), e["model"], e["id"], ACTIONS.index(e["action"]))


def identity(e: dict) -> tuple:
    return (e["model"], e["id"], e["action"])


# --- create-user -----------------------------------------------------------------------


def test_create_user_with_password_from_stdin_can_log_in(runner):
    result = runner.invoke(args=["create-user", "New.Admin@Example.com", "--role", "admin", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created admin new.admin@example.com" in result.output
    user = fresh_user("new.admin@example.com")
    assert user is not None
    assert user.role == "admin"
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(NEW_PASSWORD + "x")
    assert user.created_by_id is None  # no --as: a system write


def test_create_user_duplicate_email_exits_2_with_one_line(runner, make_user):
    make_user("dup@example.com")
    result = runner.invoke(args=["create-user", "DUP@example.com", "--password-stdin"], input=NEW_PASSWORD + "\n")
    assert_one_error_line(result, "already exists")
    assert count(User) == 1


def test_create_user_unknown_role_is_refused_by_click(runner):
    result = runner.invoke(args=["create-user", "x@example.com", "--role", "root", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 2
    assert "root" in result.output
    assert count(User) == 0


@pytest.mark.parametrize(("email", "password", "mention"), [
    ("short@example.com", "short", "at least 8"),
    ("not-an-email", NEW_PASSWORD, "not an email"),
    ("two@@example.com", NEW_PASSWORD, "not an email"),
])
def test_create_user_bad_input_exits_2_with_one_line(runner, email, password, mention):
    result = runner.invoke(args=["create-user", email, "--password-stdin"], input=password + "\n")
    assert_one_error_line(result, mention)
    assert count(User) == 0


def test_create_user_as_existing_user_records_the_creator(runner, admin_user):
    admin_id = admin_user.id
    result = runner.invoke(args=["create-user", "made@example.com", "--password-stdin", "--as", "ADMIN@example.com"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = fresh_user("made@example.com")
    assert user.created_by_id == admin_id
    assert user.updated_by_id == admin_id


def test_create_user_as_unknown_user_exits_2_and_creates_nothing(runner):
    result = runner.invoke(args=["create-user", "made@example.com", "--password-stdin", "--as", "nobody@x.io"],
                           input=NEW_PASSWORD + "\n")
    assert_one_error_line(result, "nobody@x.io")
    assert count(User) == 0


# --- set-password ----------------------------------------------------------------------


def test_set_password_replaces_the_old_password(runner, make_user):
    make_user("forgetful@example.com", password=OLD_PASSWORD)
    result = runner.invoke(args=["set-password", "Forgetful@example.com", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = fresh_user("forgetful@example.com")
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(OLD_PASSWORD)


def test_set_password_refuses_a_short_password_and_keeps_the_old_one(runner, make_user):
    make_user("forgetful@example.com", password=OLD_PASSWORD)
    result = runner.invoke(args=["set-password", "forgetful@example.com", "--password-stdin"], input="short\n")
    assert_one_error_line(result, "at least 8")
    assert fresh_user("forgetful@example.com").check_password(OLD_PASSWORD)


def test_set_password_for_unknown_user_exits_2(runner):
    result = runner.invoke(args=["set-password", "ghost@example.com", "--password-stdin"], input=NEW_PASSWORD + "\n")
    assert_one_error_line(result, "ghost@example.com")


# --- seed-demo -------------------------------------------------------------------------


def test_seed_demo_makes_users_bucketlists_and_items_with_history(runner):
    before = utcnow()
    result = runner.invoke(args=["seed-demo", "--users", "5", "--items", "300"])
    assert result.exit_code == 0, result.output
    assert "made 5 users, 30 bucketlists, 300 items" in result.stdout
    assert count(User) == 5
    assert count(Bucketlist) == 30
    assert count(Item) == 300

    now = utcnow()
    rows = [*db.session.scalars(select(User)), *db.session.scalars(select(Bucketlist)),
            *db.session.scalars(select(Item))]
    for row in rows:
        stamps = [row.created_at, row.updated_at] + ([row.deleted_at] if row.deleted_at else [])
        for stamp in stamps:
            assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0), (row, stamp)
            assert stamp <= now, (row, stamp)
        assert row.created_at <= row.updated_at
        assert row.created_at >= before - timedelta(days=6 * 30 + 1)
        if row.deleted_at is not None:
            assert row.updated_at == row.deleted_at, row

    items = db.session.scalars(select(Item)).all()
    updated = [i for i in items if i.deleted_at is None and i.updated_at > i.created_at]
    deleted = [i for i in items if i.deleted_at is not None]
    assert updated, "no item was updated after creation"
    assert deleted, "no item was soft-deleted"
    assert len(updated) < 300 and len(deleted) < 300


# --- activity --------------------------------------------------------------------------


@pytest.fixture
def history(admin_user) -> User:
    make_history(admin_user)
    return admin_user


def test_activity_table_lists_events_newest_first(runner, history):
    result = runner.invoke(args=["activity", "--limit", "500"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("time (UTC)")
    events = [line for line in lines[1:] if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)]
    # 1 user + 1 bucketlist + 30 items created, plus the items' updates and deletions
    assert len(events) == len(lines) - 1
    times = [datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S") for line in events]
    assert times == sorted(times, reverse=True)
    assert " user " in events[0] and "admin@example.com" in events[0]  # the user was created just now
    assert "bucketlist" in events[-1] and "created" in events[-1]  # the oldest event


def test_activity_filters_by_model_and_action(runner, history):
    page = activity_json(runner, "--model", "item", "--action", "created", "--limit", "500")
    assert len(page["events"]) == N_ITEMS
    assert {(e["model"], e["action"]) for e in page["events"]} == {("item", "created")}
    assert page["next_cursor"] is None


def test_activity_json_is_parseable_with_events_and_cursor(runner, history):
    page = activity_json(runner, "--limit", "5")
    assert set(page) == {"events", "next_cursor"}
    assert len(page["events"]) == 5
    assert isinstance(page["next_cursor"], str) and page["next_cursor"]
    first = page["events"][0]
    assert set(first) == {"at", "model", "id", "action", "actor", "label"}
    assert (first["model"], first["action"], first["actor"]) == ("user", "created", None)  # made by the system
    item = page["events"][1]
    assert item["model"] == "item"
    assert item["actor"] == {"id": history.id, "email": "admin@example.com"}
    assert datetime.fromisoformat(first["at"]).utcoffset() == timedelta(0)


def test_activity_cursor_pages_follow_each_other_without_overlap(runner, history):
    everything = activity_json(runner, "--limit", "500")["events"]
    keys = [event_key(e) for e in everything]
    assert keys == sorted(keys, reverse=True)

    first = activity_json(runner, "--limit", "10")
    second = activity_json(runner, "--limit", "10", "--cursor", first["next_cursor"])
    assert not {identity(e) for e in first["events"]} & {identity(e) for e in second["events"]}
    assert event_key(first["events"][-1]) > event_key(second["events"][0])
    assert first["events"] + second["events"] == everything[:20]

    # following cursors to the end visits every event exactly once
    seen, cursor = [], None
    while True:
        page = activity_json(runner, "--limit", "7", *(["--cursor", cursor] if cursor else []))
        seen.extend(page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


@pytest.mark.parametrize(("args", "mention"), [
    (["--model", "nope"], "nope"),
    (["--since", "yesterday"], "since"),
    (["--limit", "0"], "limit"),
    (["--limit", "501"], "limit"),
    (["--limit", "ten"], "limit"),
    (["--cursor", "garbage"], "cursor"),
    (["--action", "touched"], "touched"),
    (["--actor", "ghost@example.com"], "ghost@example.com"),
])
def test_activity_bad_input_exits_2_with_one_line(runner, history, args, mention):
    result = runner.invoke(args=["activity", *args])
    assert_one_error_line(result, mention)


# --- bootstrap -------------------------------------------------------------------------


def test_bootstrap_seeds_an_empty_database_and_prints_a_working_admin_password(runner):
    result = runner.invoke(args=["bootstrap", "--demo-users", "3", "--demo-items", "50"])
    assert result.exit_code == 0, result.output
    assert "admin login: admin@example.com" in result.stdout
    match = re.search(r"password:\s+(\S+)", result.stdout)
    assert match, result.stdout
    password = match.group(1)
    admin = fresh_user("admin@example.com")
    assert admin.role == "admin"
    assert admin.check_password(password)
    counts = (count(User), count(Bucketlist), count(Item))
    assert counts == (3 + 1, 5, 50)

    again = runner.invoke(args=["bootstrap", "--demo-users", "3", "--demo-items", "50"])
    assert again.exit_code == 0, again.output
    assert "exists" in again.stdout
    assert not re.search(r"password:\s", again.output)
    assert password not in again.output
    assert (count(User), count(Bucketlist), count(Item)) == counts
    assert fresh_user("admin@example.com").check_password(password)


# --- manage.py in a real process -----------------------------------------------------------


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "APP_ENV", "DATABASE_URL")}
    environ.update({"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
                    **env})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=environ,
                          capture_output=True, text=True, timeout=60)


def test_manage_py_help_lists_the_commands(tmp_path):
    proc = _manage(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"init-db", "create-user", "seed-demo", "activity", "run", "bootstrap", "set-password"} <= listed


def test_manage_py_in_production_without_secret_key_exits_2_naming_it(tmp_path):
    proc = _manage(tmp_path, "init-db", APP_ENV="production")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:") and "SECRET_KEY" in lines[0]
    assert not (tmp_path / "app.db").exists() or not (tmp_path / "app.db").stat().st_size


def test_manage_py_seed_demo_without_schema_exits_2_pointing_at_init_db(tmp_path):
    proc = _manage(tmp_path, "seed-demo", "--users", "2", "--items", "10")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:") and "init-db" in lines[0]


def assert_one_stderr_line(proc: subprocess.CompletedProcess, *mentions: str) -> str:
    """Exit status 2, nothing on stdout and exactly one line on stderr, starting with 'error:'."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for word in mentions:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("url", "mention"), [
    ("not a url", "not a database URL"),
    ("postgresql://user:secret@host:notaport/db", "port"),
    ("mysql+nosuchdriver://user:secret@x/y", "mysql+nosuchdriver"),
])
@pytest.mark.parametrize("command", [["init-db"], ["activity"], ["--help"]])
def test_manage_py_with_an_unusable_database_url_exits_2_naming_it(tmp_path, url, mention, command):
    line = assert_one_stderr_line(_manage(tmp_path, *command, DATABASE_URL=url), "DATABASE_URL", mention)
    assert "secret" not in line
    assert not (tmp_path / "instance" / "app.db").exists()


@pytest.mark.parametrize(("args", "mentions"), [
    (["activity", "--limit"], ["'--limit' requires an argument", "manage.py --help"]),
    (["nosuchcommand"], ["no such command 'nosuchcommand'", "manage.py --help"]),
    (["report", "run", "--param", "x"], ["missing argument 'NAME'", "manage.py report run --help"]),
    (["activity", "--lmit", "3"], ["'--lmit'", "'--limit'", "manage.py activity --help"]),
    (["create-user", "x@example.com", "--role", "root"], ["'root' is not one of", "manage.py create-user --help"]),
])
def test_manage_py_usage_errors_are_one_line_saying_what_to_fix(tmp_path, args, mentions):
    line = assert_one_stderr_line(_manage(tmp_path, *args), *mentions)
    assert "Usage:" not in line and "Try " not in line


def test_manage_py_help_of_a_command_is_unchanged_and_exits_0(tmp_path):
    proc = _manage(tmp_path, "activity", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: manage.py activity [OPTIONS]") and "--limit" in proc.stdout


def test_manage_py_group_without_a_command_shows_its_help(tmp_path):
    proc = _manage(tmp_path, "report")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Usage: manage.py report [OPTIONS] COMMAND") and "Commands:" in proc.stderr
