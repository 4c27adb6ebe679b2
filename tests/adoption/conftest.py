"""Two apps that adopted flask-activity, each on SQLite and PostgreSQL, behind one small adapter each.

An adapter says how its app does what the shared tests need: build the app on a database, make an admin and a
reader, log in through the app's own form, and create, update and soft-delete a record of each audited model the
way the app does. It writes down every audited write in a journal (model, id, action, actor): the tests compare
the feed with that journal and with the stored columns, never with a list of models written in the test.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from flask_activity import ModelSpec, acting_as, state
from tests.conftest import PASSWORD, Client, _config, empty_database, fresh_database

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Write:
    """One audited write an adapter made: which row, what happened, as whom (None: no user, the system)."""

    model: str
    id: int
    action: str
    actor: Any


@dataclass
class Adapter:
    """How one app does what the tests need. Subclasses fill in the per-model functions."""

    name: str = ""
    login_path: str = ""
    report: str = ""  # a report whose file holds the feed's events of its window
    journal: list[Write] = field(default_factory=list)
    actor: Any = None  # whom the writes being made are attributed to

    def build(self, url: str, reports_dir: Path) -> Flask:
        raise NotImplementedError

    def make_account(self, admin: bool) -> Any:
        raise NotImplementedError

    def login_form(self, account: Any) -> dict[str, str]:
        raise NotImplementedError

    def creators(self) -> dict[str, Callable[[str], int]]:
        """Feed name -> make a record labelled (starting with) the text; returns its id."""
        raise NotImplementedError

    def updaters(self) -> dict[str, Callable[[int], None]]:
        raise NotImplementedError

    def deleters(self) -> dict[str, Callable[[int], None]]:
        """Feed name -> soft-delete a record, for the models the app soft-deletes."""
        raise NotImplementedError

    def empty(self) -> None:
        raise NotImplementedError

    def wrote(self, model: str, pk: int, action: str) -> int:
        self.journal.append(Write(model, pk, action, self.actor))
        return pk

    def session(self) -> Any:
        """The app's own Flask-SQLAlchemy session."""
        raise NotImplementedError

    def classes(self) -> dict[str, type]:
        """Feed name -> the app's model class."""
        raise NotImplementedError

    def _add(self, model: str, row: Any) -> int:
        self.session().add(row)
        self.session().commit()
        return self.wrote(model, row.id, "created")

    def _change(self, model: str, change: Callable[[Any], None], action: str = "updated") -> Callable[[int], None]:
        cls = self.classes()[model]

        def apply(pk: int) -> None:
            change(self.session().get(cls, pk))
            self.session().commit()
            self.wrote(model, pk, action)

        return apply


class BucketlistAdapter(Adapter):
    """The bucketlist admin (admin_app): integer users named by email, every model with the audit mixin."""

    def __init__(self) -> None:
        super().__init__(name="bucketlist", login_path="/login", report="activity")
        self._owner: Any = None
        self._parent: int | None = None

    def build(self, url: str, reports_dir: Path) -> Flask:
        from admin_app import create_app

        return create_app({**_config(url), "REPORTS_DIR": str(reports_dir)})

    def make_account(self, admin: bool) -> Any:
        from admin_app.accounts import create_user

        user = create_user("admin@example.com" if admin else "reader@example.com", PASSWORD,
                           "admin" if admin else "viewer")
        self.wrote("user", user.id, "created")
        self._owner = self._owner or user
        return user

    def login_form(self, account: Any) -> dict[str, str]:
        return {"email": account.email, "password": PASSWORD}

    def session(self) -> Any:
        from admin_app.extensions import db

        return db.session

    def classes(self) -> dict[str, type]:
        from admin_app.models import Bucketlist, Item, User

        return {"user": User, "bucketlist": Bucketlist, "item": Item}

    def _user(self, label: str) -> int:
        from admin_app.accounts import create_user

        email = f"{label.replace(' ', '-')}{len(self.journal)}@example.com"
        return self.wrote("user", create_user(email, PASSWORD).id, "created")

    def _bucketlist(self, label: str) -> int:
        from admin_app.models import Bucketlist

        return self._add("bucketlist", Bucketlist(title=label, owner_id=self._owner.id))

    def _item(self, label: str) -> int:
        from admin_app.models import Item

        if self._parent is None:
            self._parent = self._bucketlist("a parent")
        return self._add("item", Item(title=label, bucketlist_id=self._parent))

    def creators(self) -> dict[str, Callable[[str], int]]:
        return {"user": self._user, "bucketlist": self._bucketlist, "item": self._item}

    def updaters(self) -> dict[str, Callable[[int], None]]:
        return {"user": self._change("user", lambda u: setattr(u, "display_name", "Renamed")),
                "bucketlist": self._change("bucketlist", lambda b: setattr(b, "description", "more")),
                "item": self._change("item", lambda i: setattr(i, "done", True))}

    def deleters(self) -> dict[str, Callable[[int], None]]:
        return {m: self._change(m, lambda row: row.soft_delete(), "deleted") for m in ("user", "bucketlist", "item")}

    def empty(self) -> None:
        empty_database()


class HelpdeskAdapter(Adapter):
    """The help desk (examples.helpdesk): UUID accounts named by username, naive tickets and comments, mixin
    macros."""

    def __init__(self) -> None:
        super().__init__(name="helpdesk", login_path="/accounts/login", report="helpdesk-activity")
        self._requester: Any = None
        self._ticket: int | None = None

    def build(self, url: str, reports_dir: Path) -> Flask:
        from examples.helpdesk import create_app

        return create_app(helpdesk_config(url) | {"REPORTS_DIR": str(reports_dir)})

    def make_account(self, admin: bool) -> Any:
        from examples.helpdesk.auth import create_account

        account = create_account("boss" if admin else "agent", PASSWORD, is_admin=admin)
        self._requester = self._requester or account
        return account

    def login_form(self, account: Any) -> dict[str, str]:
        return {"username": account.username, "password": PASSWORD}

    def session(self) -> Any:
        from examples.helpdesk.extensions import db

        return db.session

    def classes(self) -> dict[str, type]:
        from examples.helpdesk.models import Comment, Macro, Ticket

        return {"ticket": Ticket, "comment": Comment, "macro": Macro}

    def _new_ticket(self, label: str) -> int:
        from examples.helpdesk.models import Ticket

        return self._add("ticket", Ticket(subject=label, requester_id=self._requester.id))

    def _comment(self, label: str) -> int:
        from examples.helpdesk.models import Comment

        if self._ticket is None:
            self._ticket = self._new_ticket("a parent")
        return self._add("comment", Comment(ticket_id=self._ticket, body=label, author_id=self.actor))

    def _macro(self, label: str) -> int:
        from examples.helpdesk.models import Macro

        return self._add("macro", Macro(title=label))

    def creators(self) -> dict[str, Callable[[str], int]]:
        return {"ticket": self._new_ticket, "comment": self._comment, "macro": self._macro}

    def updaters(self) -> dict[str, Callable[[int], None]]:
        return {"ticket": self._change("ticket", lambda t: setattr(t, "status", "pending")),
                "comment": self._change("comment", lambda c: setattr(c, "body", c.body + " (edited)")),
                "macro": self._change("macro", lambda m: setattr(m, "body", "Hello again"))}

    def deleters(self) -> dict[str, Callable[[int], None]]:
        return {"ticket": self._change("ticket", lambda t: t.archive(), "deleted"),
                "macro": self._change("macro", lambda m: m.soft_delete(), "deleted")}

    def empty(self) -> None:
        from examples.helpdesk.extensions import db

        empty_database(db, ("report_runs", "comments", "tickets", "macros", "accounts"))


ADAPTERS: dict[str, Callable[[], Adapter]] = {"bucketlist": BucketlistAdapter, "helpdesk": HelpdeskAdapter}


def helpdesk_config(url: str) -> dict[str, Any]:
    return {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "helpdesk-test-secret", "TESTING": True,
            "PASSWORD_METHOD": "pbkdf2:sha256:1000"}


def _init_helpdesk(url: str) -> None:
    from examples.helpdesk import create_app
    from examples.helpdesk.cli import init_db
    from examples.helpdesk.extensions import db

    app = create_app(helpdesk_config(url))
    with app.app_context():
        init_db()
        db.engine.dispose()


@pytest.fixture(scope="session", params=[
    pytest.param((name, kind), marks=getattr(pytest.mark, kind), id=f"{name}-{kind}")
    for name in ADAPTERS for kind in ("sqlite", "postgresql")
])
def adopted_database(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(app name, URL of a database with that app's schema) for this session, per app and kind of database."""
    name, kind = request.param
    with (fresh_database(kind, tmp_path_factory, _init_helpdesk) if name == "helpdesk"
          else fresh_database(kind, tmp_path_factory)) as url:
        yield name, url


@dataclass
class Host:
    """An adopting app under test, inside its app context, with an admin and a reader account."""

    app: Flask
    adapter: Adapter
    admin: Any = None
    reader: Any = None

    @property
    def specs(self) -> dict[str, ModelSpec]:
        return state().specs

    def person(self, account: Any) -> str:
        """What the feed calls an account (its email, username: the person= the app gave init_app)."""
        return str(getattr(account, state().person))

    @contextlib.contextmanager
    def acting(self, account: Any) -> Iterator[None]:
        """Writes in the block are the account's (None: the system's), in the database and in the journal."""
        self.adapter.actor = None if account is None else account.id
        try:
            if account is None:
                yield
            else:
                with acting_as(account.id):
                    yield
        finally:
            self.adapter.actor = None

    def create(self, model: str, label: str) -> int:
        return self.adapter.creators()[model](label)

    def client(self, account: Any = None) -> Client:
        """A browser: anonymous, or logged in through the app's own login form."""
        c: Client = self.app.test_client()  # type: ignore[assignment]
        if account is not None:
            form = self.adapter.login_form(account) | {"csrf_token": self.form_token(c, self.adapter.login_path)}
            assert c.post(self.adapter.login_path, data=form).status_code == 302
        return c

    @staticmethod
    def form_token(client: Client, path: str) -> str:
        """The CSRF token a form on ``path`` carries for this client's session."""
        match = _CSRF.search(client.get(path).get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def backdate(self, model: str, pk: int, delta: timedelta) -> None:
        """Move every timestamp of a row ``delta`` into the past, keeping its actors (an UPDATE would otherwise
        stamp its own)."""
        spec = self.specs[model]
        row = state().db.session.get(spec.cls, pk)
        values = {}
        for role, attr in spec.columns.items():
            value = getattr(row, attr)
            values[attr] = value - delta if role.endswith("_at") and value is not None else value
        state().db.session.execute(update(spec.cls).where(spec.cls.id == pk).values(values))  # type: ignore[attr-defined]
        state().db.session.commit()
        state().db.session.expire_all()

    def stamp(self, model: str, pk: int, at: datetime) -> None:
        """Give a row creation time ``at`` (aware), unchanged since and not deleted."""
        spec = self.specs[model]
        value = at if spec.naive_zone is None else at.astimezone(UTC).replace(tzinfo=None)
        values = {spec.columns[r]: value for r in ("created_at", "updated_at") if r in spec.columns}
        values |= {spec.columns[r]: getattr(state().db.session.get(spec.cls, pk), spec.columns[r])
                   for r in ("created_by", "updated_by") if r in spec.columns}
        state().db.session.execute(update(spec.cls).where(spec.cls.id == pk).values(values))  # type: ignore[attr-defined]
        state().db.session.commit()
        state().db.session.expire_all()

    def stored(self, model: str, pk: int, role: str) -> Any:
        """A column of a row (a role, or "label") as stored; a timestamp as aware UTC (both apps keep naive ones
        in UTC)."""
        spec = self.specs[model]
        attr = spec.label_column if role == "label" else spec.columns[role]
        value = getattr(state().db.session.get(spec.cls, pk), attr)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


@pytest.fixture
def host(adopted_database: tuple[str, str], tmp_path: Path) -> Iterator[Host]:
    """One adopting app on its database, an admin and a reader made; the database emptied afterwards."""
    name, url = adopted_database
    adapter = ADAPTERS[name]()
    app = adapter.build(url, tmp_path / "reports")
    app.test_client_class = Client
    with app.app_context():
        found = Host(app, adapter)
        try:
            found.admin = adapter.make_account(admin=True)
            found.reader = adapter.make_account(admin=False)
            yield found
        finally:
            adapter.empty()
