"""Feed input read from requests, forms and the CLI: filters, page size, ids, actors and signed cursor tokens."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..state import state
from ..timefmt import parse_datetime
from ..types import UTC
from .events import (
    ACTIONS,
    DEFAULT_LIMIT,
    MAX_ID,
    MAX_LIMIT,
    SYSTEM_ACTOR,
    ActivityFilter,
    BadActivityQuery,
    Cursor,
    check_actions,
    check_models,
    session_or_default,
)


def _values(args: Mapping[str, Any], name: str) -> list[str]:
    """Every value of ``name``, repeated (?model=a&model=b) or comma-separated (?model=a,b)."""
    getlist = getattr(args, "getlist", None)  # a werkzeug MultiDict; a plain mapping holds a str or a list
    if getlist is not None:
        raw = getlist(name)
    else:
        raw = args.get(name) or []
        raw = [raw] if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in raw:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def parse_filter(args: Mapping[str, Any], zone: ZoneInfo, session: Session | None = None) -> ActivityFilter:
    """Build a filter from request-like args (since, until, model, action, actor).

    Dates without an offset are read in ``zone``. Raises BadActivityQuery.
    """
    since = until = None
    for name in ("since", "until"):
        text = (args.get(name) or "").strip()
        if text:
            try:
                value = parse_datetime(text, zone)
            except ValueError as exc:
                raise BadActivityQuery(f"{name}: {exc}") from None
            if name == "since":
                since = value
            else:
                until = value
    if since and until and since >= until:
        raise BadActivityQuery("since must be earlier than until")

    models = tuple(dict.fromkeys(v.lower() for v in _values(args, "model")))
    check_models(models)
    actions = tuple(dict.fromkeys(v.lower() for v in _values(args, "action")))
    check_actions(actions)

    actor_id, system_actor = None, False
    actor = (args.get("actor") or "").strip()
    if actor.lower() == SYSTEM_ACTOR:
        system_actor = True
    elif actor:
        actor_id = resolve_actor(actor, session)
    return ActivityFilter(since, until, models, actions, actor_id, system_actor, parse_record(args, models))


def parse_record(args: Mapping[str, Any], models: tuple[str, ...]) -> int | None:
    """The ``id`` of one record (with exactly one ``model``), or None; BadActivityQuery for anything else."""
    text = str(args.get("id") or "").strip()
    if not text:
        return None
    record = parse_id(text)
    if record is None:
        raise BadActivityQuery(f"id: {text[:40]!r} is not a record id (a whole number)")
    if len(models) != 1:
        raise BadActivityQuery("id: a record belongs to one model; give exactly one model with it")
    return record


def parse_id(value: Any) -> int | None:
    """A row id typed in a URL or form as an int, or None if it cannot be one."""
    text = str(value).strip()
    # Length first: int() refuses text of over 4,300 digits (a ValueError), and no id has more than 10.
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def resolve_actor(text: str, session: Session | None = None) -> Any:
    """Find a user key by the user's person attribute (email, username; letter case ignored) or by key; raise
    BadActivityQuery if there is none."""
    if "\x00" in text:  # no name holds one, and PostgreSQL refuses it in a query (the web refuses it earlier)
        raise BadActivityQuery("actor: a NUL character is not allowed")
    session = session_or_default(session)
    st = state()
    key = parse_id(text) if st.user_key.type.python_type is int else st.parse_actor_key(text)
    found = None
    if key is not None:
        found = session.scalar(select(st.user_key).where(st.user_key == key))
    if found is None:
        found = session.scalar(select(st.user_key).where(func.lower(st.person_column) == text.strip().lower()))
    if found is None:
        raise BadActivityQuery(f"actor: no user {text!r}")
    return found


def parse_limit(value: str | int | None, default: int = DEFAULT_LIMIT) -> int:
    """Parse a page size in 1..MAX_LIMIT; raise BadActivityQuery otherwise."""
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise BadActivityQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadActivityQuery(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")
    return limit


def cursor_serializer() -> URLSafeSerializer:
    """Signs and reads cursor tokens with the app's secret key (salted: a token is good for nothing else)."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="activity-cursor")


def encode_cursor(cursor: Cursor) -> str:
    """An opaque, signed token for a cursor."""
    return cursor_serializer().dumps([cursor.at.isoformat(), cursor.model, cursor.id, cursor.action])


def decode_cursor(token: str | None) -> Cursor | None:
    """Read a token from encode_cursor; a forged or malformed one raises BadActivityQuery."""
    if not token:
        return None
    try:
        at, model, pk, action = cursor_serializer().loads(token)
        when = datetime.fromisoformat(at)
        # Signed, so only this app made it; checked anyway, so even a leaked key cannot make a position the
        # database refuses (an id past the column, a time that overflows in UTC: OverflowError).
        if when.tzinfo is None or type(pk) is not int or not 0 <= pk <= MAX_ID or action not in ACTIONS \
                or not isinstance(model, str):
            raise ValueError
        when = when.astimezone(UTC)
    except (BadSignature, ValueError, TypeError, OverflowError):
        raise BadActivityQuery("cursor is not valid; start again from the first page") from None
    return Cursor(when, model, pk, action)


def filter_args(flt: ActivityFilter) -> dict[str, Sequence[str] | str]:
    """Query-string arguments that reproduce ``flt`` exactly (for links such as Older and CSV).

    Times keep full precision and their offset, so a link never widens or shifts the window.
    """
    out: dict[str, Sequence[str] | str] = {}
    if flt.since:
        out["since"] = flt.since.isoformat()
    if flt.until:
        out["until"] = flt.until.isoformat()
    if flt.models:
        out["model"] = list(flt.models)
    if flt.actions:
        out["action"] = list(flt.actions)
    if flt.system_actor:
        out["actor"] = SYSTEM_ACTOR
    elif flt.actor_id is not None:
        out["actor"] = str(flt.actor_id)
    if flt.record_id is not None:
        out["id"] = str(flt.record_id)
    return out
