"""The help desk as an app of its own: its commands, its settings and its own views' access rules (what it shares
with every adopting app is in test_adoption.py)."""
from __future__ import annotations

import json
import re

import pytest

from examples.helpdesk import SettingError, create_app
from tests.adoption.conftest import helpdesk_config
from tests.conftest import Client

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def helpdesk(tmp_path):
    """The help desk on an empty SQLite file: no schema yet (init-db makes it)."""
    app = create_app(helpdesk_config(f"sqlite:///{tmp_path / 'helpdesk.db'}") | {"REPORTS_DIR": str(tmp_path)})
    app.test_client_class = Client
    return app


def login(app, username: str, password: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    token = _CSRF.search(client.get("/accounts/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    response = client.post("/accounts/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def test_init_db_and_seed_make_a_demo_whose_feed_shows_every_model(helpdesk):
    runner = helpdesk.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    seeded = runner.invoke(args=["seed"])
    assert seeded.exit_code == 0, seeded.output
    passwords = dict(re.findall(r"^\w+\s+(\w+)\s+password: (\S+)$", seeded.output, re.M))
    assert set(passwords) == {"admin", "sam", "kim", "lee"}
    assert login(helpdesk, "admin", passwords["admin"]).get("/admin/reports/").status_code == 200

    feed = json.loads(runner.invoke(args=["activity", "--format", "json", "--limit", "500"]).output)
    shown = {(e["model"], e["action"]) for e in feed["events"]}
    assert shown == {("ticket", "created"), ("ticket", "updated"), ("ticket", "deleted"), ("comment", "created"),
                     ("macro", "created"), ("macro", "deleted")}
    assert set(feed["notes"]) == {"ticket", "comment"}  # what their columns cannot show, said once per model
    table = runner.invoke(args=["activity", "--model", "ticket", "--limit", "5"]).output.splitlines()[1:6]
    assert len(table) == 5 and all(" not recorded " in line and " system " not in line for line in table)

    again = runner.invoke(args=["seed"])
    assert again.exit_code == 1 and "has accounts already" in again.output


def test_the_helpdesk_refuses_to_start_without_a_secret_key_unless_testing(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(SettingError) as info:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert info.value.exit_code == 2 and "\n" not in info.value.message
    assert info.value.message.startswith("SECRET_KEY is not set")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}).config["SECRET_KEY"]


def test_agents_read_the_helpdesk_views_and_only_admins_write(helpdesk):
    runner = helpdesk.test_cli_runner()
    runner.invoke(args=["init-db"])
    passwords = dict(re.findall(r"^\w+\s+(\w+)\s+password: (\S+)$", runner.invoke(args=["seed"]).output, re.M))
    clients = {"anonymous": helpdesk.test_client(), "agent": login(helpdesk, "sam", passwords["sam"]),
               "admin": login(helpdesk, "admin", passwords["admin"])}
    views = [v.url for v in helpdesk.extensions["admin"][0]._views if getattr(v, "model", None) is not None]
    assert len(views) == 4
    got = {(url + page, who): client.get(url + page).status_code
           for url in views for page in ("/", "/new/") for who, client in clients.items()}
    assert got == {(url + page, who): {"anonymous": 302, "agent": 200 if page == "/" else 403, "admin": 200}[who]
                   for url in views for page in ("/", "/new/") for who in clients}
    assert clients["anonymous"].get("/admin/tickets/").location == "/accounts/login?next=/admin/tickets/"


def test_the_doctor_wrote_the_helpdesks_index_migration_and_head_leaves_nothing_missing(helpdesk):
    from flask_migrate import upgrade

    runner = helpdesk.test_cli_runner()
    with helpdesk.app_context():
        upgrade(directory=helpdesk.extensions["migrate"].directory, revision="0001_helpdesk_schema")
    before = runner.invoke(args=["activity", "doctor", "--format", "json"])
    assert before.exit_code == 1
    missing = {index["name"] for index in json.loads(before.output)["missing_indexes"]}
    assert missing == {"ix_tickets_created_id", "ix_tickets_modified_id", "ix_tickets_archived_at_id",
                       "ix_comments_created_id", "ix_comments_modified_id", "ix_comments_created_by_at_id"}
    assert runner.invoke(args=["init-db"]).exit_code == 0  # to head: 0003_macro_version
    after = runner.invoke(args=["activity", "doctor", "--format", "json"])
    assert after.exit_code == 0 and json.loads(after.output)["missing_indexes"] == []


def test_the_readme_shows_the_helpdesks_glue_as_it_is_and_counts_it_right():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    glue = (root / "examples/helpdesk/activity.py").read_text()
    counted = [line for line in glue.splitlines() if line.strip() and not line.strip().startswith("#")]
    readme = (root / "README.md").read_text()
    assert f"({len(counted)} lines" in readme and f"in {len(counted)} lines of glue" in readme
    assert glue.split("from __future__ import annotations\n", 1)[1].lstrip("\n") in readme


def test_the_helpdesks_macro_view_refuses_a_stale_edit(helpdesk):
    """The help desk adopts GuardedWrites from the public API: its macros carry the audit mixin's version."""
    from examples.helpdesk.extensions import db
    from examples.helpdesk.models import Macro
    from flask_activity.admin.guarded import OPENED

    runner = helpdesk.test_cli_runner()
    runner.invoke(args=["init-db"])
    passwords = dict(re.findall(r"^\w+\s+(\w+)\s+password: (\S+)$", runner.invoke(args=["seed"]).output, re.M))
    admin = login(helpdesk, "admin", passwords["admin"])
    with helpdesk.app_context():
        macro = db.session.scalars(db.select(Macro).where(Macro.deleted_at.is_(None))).first()
        assert macro is not None
        macro_id = macro.id
    page = admin.get(f"/admin/macros/edit/?id={macro_id}").get_data(as_text=True)
    opened = re.search(rf'name="{OPENED}"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="{OPENED}"', page)
    assert opened is not None
    with helpdesk.app_context():
        db.session.get(Macro, macro_id).body = "changed by someone else"
        db.session.commit()
    token = _CSRF.search(page).group(1)  # type: ignore[union-attr]
    response = admin.post(f"/admin/macros/edit/?id={macro_id}", data={
        OPENED: opened.group(1) or opened.group(2), "title": "stale", "body": "stale", "csrf_token": token})
    assert response.status_code == 200 and "since you opened it" in response.get_data(as_text=True)
    with helpdesk.app_context():
        assert db.session.get(Macro, macro_id).body == "changed by someone else"
