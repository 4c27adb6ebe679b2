"""Unbound extension instances, bound to an app in create_app(), and the models' base class."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from . import ratelimit_store  # noqa: F401  (registers the sqlite:// limiter storage with Flask-Limiter)
from .dbutil import WebSession

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base: one registry and one metadata (with NAMING) for every model."""

    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base, session_options={"class_": WebSession})

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FSAModel

    class Model(_FSAModel, Base):
        """What ``db.Model`` is at run time (Flask-SQLAlchemy's Model mixed into Base, sharing its registry and
        metadata), written as a class: a type checker cannot take a base class from an attribute."""

else:
    Model = db.Model  # models subclass this, not db.Model, so the type checker sees their base
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def make_limiter() -> Limiter:
    """A new, unbound Flask-Limiter for one app (create_app binds it).

    Unlike the instances above, not one shared module-level object: a Limiter keeps its storage,
    its limits and its on/off switch on itself, so apps sharing one (the tests, a CLI next to a
    server) would share counters and whichever app was created last would decide for all.
    """
    return Limiter(key_func=get_remote_address)
