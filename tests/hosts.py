"""A small host app that is not ours (its own base, UUID-keyed accounts, a model with naive created / modified /
archived_at columns mapped by ``__activity__``, and one using the audit mixin), on SQLite and PostgreSQL: the
extension's own tests (test_extension, test_doctor) build on it."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_activity import ActivityReporting, audit_mixin


def host(url: str, mapping: dict[str, Any] | None = None, person: str = "username", **config: Any):
    """A small host app of its own (own base, own UUID-keyed accounts, naive created/modified/archived_at)."""

    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)

    class Account(UserMixin, db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "accounts"
        id: Mapped[Any] = mapped_column(Uuid, primary_key=True)
        username: Mapped[str] = mapped_column(String(50), unique=True)

    class Ticket(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "tickets"
        __activity__ = mapping if mapping is not None else {
            "created_at": "created", "updated_at": "modified", "deleted_at": "archived_at", "label": "subject"}
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        subject: Mapped[str] = mapped_column(String(200))
        created: Mapped[datetime] = mapped_column(DateTime)
        modified: Mapped[datetime] = mapped_column(DateTime)
        archived_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    AuditMixin = audit_mixin(user_table="accounts", user_model="Account", key_type=Uuid)

    class Macro(AuditMixin, db.Model):  # type: ignore[valid-type,misc,name-defined]
        __tablename__ = "macros"
        __label_column__ = "title"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(100))
        account_id: Mapped[Any] = mapped_column(ForeignKey("accounts.id"), nullable=True)

    app = Flask("host")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="host-secret", **config)
    db.init_app(app)
    LoginManager(app)
    activity = ActivityReporting()
    activity.init_app(app, db=db, user_model=Account, person=person)
    return app, db, activity, Account, Ticket, Macro


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def host_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the host's own (SQLite file, or a throwaway PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.db'}"
        return
    from flask_activity.testing import postgresql_unreachable, throwaway_postgresql
    from tests.conftest import PG_ADMIN_URL

    problem = postgresql_unreachable(PG_ADMIN_URL)
    if problem:
        pytest.skip(f"PostgreSQL not reachable ({problem})")
    with throwaway_postgresql(PG_ADMIN_URL, prefix="host_app") as url:
        yield url
