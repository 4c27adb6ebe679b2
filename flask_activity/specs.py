"""Which models the feed reads, and which of their columns mean what: one resolved spec per audited model.

A model is audited when its class has ``__activity__``: the audit mixin sets it (every column, exact times), and a
host sets it by hand on a model with timestamps of its own, naming the columns it has::

    class Ticket(db.Model):
        __activity__ = {"created_at": "created", "updated_at": "modified", "deleted_at": "archived_at",
                        "label": "subject"}

Keys: ``created_at`` (required), ``updated_at``, ``deleted_at``, ``created_by``, ``updated_by`` (columns holding
the user's key), ``label`` (the column a row is named by; default its key), ``name`` (the feed's name for the
model; default the class name in lower case), ``same_within`` (seconds: an update closer than this to the
creation or the deletion is that event, not an update; default 1 for a mapping, whose columns are usually set by
separate ``default=`` calls, 0 for the mixin) and ``zone`` (the zone a naive column's values are in; default
ACTIVITY_NAIVE_TIMEZONE, "UTC"). A model yields only the events its columns can show.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, func, literal, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

from .errors import ConfigError
from .types import UTCDateTime

ACTIONS: tuple[str, ...] = ("created", "updated", "deleted")
ROLES = ("created_at", "updated_at", "deleted_at", "created_by", "updated_by")
KEYS = frozenset({*ROLES, "label", "name", "same_within", "zone", "_exact"})  # _exact: the mixin's own


class NaiveTime(TypeDecorator):
    """A naive ``DateTime`` column read as aware UTC and compared with aware values, without changing its SQL.

    Used through ``type_coerce``: the WHERE still compares the bare column, so its index serves the feed.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def __init__(self, zone: str = "UTC") -> None:
        super().__init__()
        self.zone_name = zone
        self.zone = ZoneInfo(zone)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return value.replace(tzinfo=self.zone).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class plus_seconds(FunctionElement):
    """``column + n seconds`` on SQLite (text timestamps) and PostgreSQL; the type stays the column's."""

    inherit_cache = True

    def __init__(self, column: Any, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(column, literal(seconds))
        self.type = column.type


@compiles(plus_seconds, "sqlite")
def _plus_seconds_sqlite(element: plus_seconds, compiler: Any, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return (f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(column, **kw)}, "
            f"'{float(element.seconds):+f} seconds')")


@compiles(plus_seconds)
def _plus_seconds_default(element: plus_seconds, compiler: Any, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return f"({compiler.process(column, **kw)} + interval '{float(element.seconds):f} seconds')"


@dataclass(eq=False)
class ModelSpec:
    """One audited model as the query layer reads it: its feed name, key, label and the columns it maps."""

    name: str
    cls: type
    columns: dict[str, str]  # role (ROLES) -> the model's attribute name
    label_column: str
    same_within: float = 0.0
    naive_zone: str | None = None  # the zone of naive timestamp columns; None: aware columns (UTCDateTime)
    exact: bool = False  # the mixin's columns: updated_at == created_at exactly for a new row
    dialect: str = "sqlite"  # how a naive column is shown (PostgreSQL converts it in SQL)
    actions: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.actions = tuple(a for a in ACTIONS if self._role(a) in self.columns)

    @staticmethod
    def _role(action: str) -> str:
        return {"created": "created_at", "updated": "updated_at", "deleted": "deleted_at"}[action]

    @property
    def table_name(self) -> str:
        return str(self.cls.__table__.name)  # type: ignore[attr-defined]

    @property
    def id(self) -> Any:
        return self.cls.id  # type: ignore[attr-defined]

    @property
    def label(self) -> Any:
        return getattr(self.cls, self.label_column)

    def attribute(self, role: str) -> Any:
        """The mapped attribute playing ``role``, or None when the model has no such column."""
        name = self.columns.get(role)
        return getattr(self.cls, name) if name else None

    def time(self, role: str) -> Any:
        """A timestamp column for comparisons with aware datetimes (its own SQL: its index serves them)."""
        column = self.attribute(role)
        if column is None or self.naive_zone is None:
            return column
        return type_coerce(column, NaiveTime(self.naive_zone))

    def shown_time(self, role: str) -> Any:
        """A timestamp column as the feed selects it: aware UTC on every database (a UNION of naive and aware
        columns would otherwise mix two kinds of value)."""
        column = self.attribute(role)
        if self.naive_zone is None:
            return column
        if self.dialect == "postgresql":
            return func.timezone(self.naive_zone, column, type_=UTCDateTime())
        return self.time(role)

    def actor(self, action: str) -> Any:
        """The column holding who did ``action`` (a deletion is its row's last update), or None."""
        return self.attribute("created_by" if action == "created" else "updated_by")

    def parent_column(self, parent_table: str) -> Any:
        """This model's foreign key to ``parent_table`` (a bucketlist's items: ``Item.bucketlist_id``), or None.
        The actor columns are not parents: a user's "children" are what they own, not what they touched."""
        actors = {getattr(self.attribute(r), "key", None) for r in ("created_by", "updated_by")}
        table = self.cls.__table__  # type: ignore[attr-defined]
        found = [c for c in table.columns if c.key not in actors
                 and any(fk.column.table.name == parent_table for fk in c.foreign_keys)]
        return found[0] if len(found) == 1 else None

    @property
    def records_actors(self) -> bool:
        return "created_by" in self.columns or "updated_by" in self.columns

    def note(self) -> str | None:
        """What this model's columns cannot show, in words (None: they show everything)."""
        missing = []
        if "updated_at" not in self.columns:
            missing.append("no updates")
        if "deleted_at" not in self.columns:
            missing.append("no deletions")
        if not self.records_actors:
            missing.append("no actors")
        if not missing:
            return None
        return f"this model records {', '.join(missing[:-1]) + ' and ' if len(missing) > 1 else ''}{missing[-1]}"

    def where_updated(self) -> list[Any]:
        """The 'updated' branch's own condition: changed after creation, and that change was not the deletion."""
        updated, created, deleted = self.time("updated_at"), self.time("created_at"), self.time("deleted_at")
        if self.exact or not self.same_within:
            conds: list[Any] = [updated > created]
            if deleted is not None:
                conds.append((deleted.is_(None)) | (updated != deleted))
            return conds
        tol = self.same_within
        conds = [updated > plus_seconds(created, tol)]
        if deleted is not None:
            conds.append(deleted.is_(None) | (updated > plus_seconds(deleted, tol))
                         | (updated < plus_seconds(deleted, -tol)))
        return conds

    def describe(self) -> dict[str, Any]:
        """The spec in plain data (doctor, JSON)."""
        return {"model": self.name, "table": self.table_name, "columns": dict(self.columns),
                "label": self.label_column, "actions": list(self.actions), "naive_zone": self.naive_zone,
                "same_within": self.same_within, "note": self.note()}


def _columns_of(cls: type) -> dict[str, Any]:
    mapper: Mapper[Any] = cls.__mapper__  # type: ignore[attr-defined]
    return {attr.key: attr.columns[0] for attr in mapper.column_attrs}


def resolve(cls: type, declared: Mapping[str, Any], *, default_zone: str, dialect: str) -> ModelSpec:
    """The spec of one model from its ``__activity__``; ConfigError (one line) for a mapping that cannot work."""
    where = f"{cls.__name__}.__activity__"
    unknown = sorted(set(declared) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(sorted(KEYS))}")
    columns = _columns_of(cls)
    if "id" not in columns or not columns["id"].primary_key:
        raise ConfigError(f"{where}: the feed needs an integer primary key named 'id' on {cls.__name__}")
    try:
        if columns["id"].type.python_type is not int:
            raise ConfigError(f"{where}: {cls.__name__}.id must be an integer key for the feed's keyset paging")
    except NotImplementedError:
        raise ConfigError(f"{where}: {cls.__name__}.id must be an integer key") from None
    if "created_at" not in declared:
        raise ConfigError(f"{where}: map 'created_at' to the column holding each row's creation time")
    mapped = {role: str(declared[role]) for role in ROLES if declared.get(role)}
    naive: set[bool] = set()
    for role, attr in mapped.items():
        if attr not in columns:
            raise ConfigError(f"{where}: {role!r} names {attr!r}, which is not a column of {cls.__name__} "
                              f"(columns: {', '.join(columns)})")
        if role.endswith("_at"):
            coltype = columns[attr].type
            if not isinstance(coltype, UTCDateTime | DateTime):
                raise ConfigError(f"{where}: {role!r} names {attr!r}, which is not a DateTime column")
            naive.add(not isinstance(coltype, UTCDateTime) and not coltype.timezone)
    if len(naive) > 1:
        raise ConfigError(f"{where}: mix of naive and time-zone-aware timestamp columns; use one kind")
    label = str(declared.get("label") or getattr(cls, "__label_column__", "id"))
    if label not in columns:
        raise ConfigError(f"{where}: label {label!r} is not a column of {cls.__name__}")
    zone = str(declared.get("zone") or default_zone)
    if True in naive:
        try:
            ZoneInfo(zone)
        except Exception:  # noqa: BLE001 - any failure means the same thing: not a zone this host knows
            raise ConfigError(f"{where}: zone {zone!r} is not an IANA time zone") from None
        if dialect == "sqlite" and zone != "UTC":
            raise ConfigError(f"{where}: naive timestamps in {zone} need PostgreSQL; on SQLite store them in UTC")
    exact = bool(declared.get("_exact"))
    same_within = float(declared.get("same_within", 0.0 if exact else 1.0))
    spec = ModelSpec(name=str(declared.get("name") or cls.__name__.lower()), cls=cls, columns=mapped,
                     label_column=label, same_within=same_within, naive_zone=zone if True in naive else None,
                     exact=exact, dialect=dialect)
    return spec


def audited_classes(registries: Iterable[Any]) -> list[type]:
    """Every mapped class with ``__activity__`` in these registries (or declarative bases), sorted by name."""
    found: dict[str, type] = {}
    for reg in registries:
        mappers: Any = getattr(reg, "registry", reg).mappers
        for mapper in mappers:
            declared = getattr(mapper.class_, "__activity__", None)
            if isinstance(declared, Mapping) and mapper.local_table is not None:
                found[f"{mapper.class_.__module__}.{mapper.class_.__qualname__}"] = mapper.class_
    return sorted(found.values(), key=lambda c: c.__name__)


def build_specs(classes: Iterable[type], *, default_zone: str, dialect: str) -> dict[str, ModelSpec]:
    """Feed name -> spec for every audited class; ConfigError for a bad mapping or two models with one name."""
    specs: dict[str, ModelSpec] = {}
    for cls in classes:
        spec = resolve(cls, cls.__activity__, default_zone=default_zone, dialect=dialect)  # type: ignore[attr-defined]
        if spec.name in specs:
            raise ConfigError(f"two audited models are named {spec.name!r} in the feed; set 'name' in __activity__")
        specs[spec.name] = spec
    return specs

