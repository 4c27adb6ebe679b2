"""Every SELECT over the audit columns: one branch per (model, action), and the page, stream, count, summary,
export and day statements built from them; also the list filter's "has an event by" predicate.

Pagination is by keyset: every (model, action) branch is ordered and limited on its own so the database walks its
``(timestamp, id)`` index; the feed's total order is then applied over the few rows left, by numbers (model and
action ranks) rather than text, so SQLite and PostgreSQL order identically (no collation differences).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from ..specs import ModelSpec
from ..state import ActivityState, per_state_cache, state
from ..types import UTC
from .events import ACTION_RANK, ActivityFilter, Cursor, branches

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a placeholder value while a statement is built

Branch = tuple[str, ModelSpec, str]  # (model name, model spec, action)
ROLE = {"created": "created_at", "updated": "updated_at", "deleted": "deleted_at"}


def branch_columns(spec: ModelSpec, action: str) -> tuple[Any, Any]:
    """(time column, actor column or None) for a model and action."""
    return spec.time(ROLE[action]), spec.actor(action)


def _value(bound: bool, name: str, value: Any) -> Any:
    """The value itself, or a bind parameter named ``name`` when the statement is cached and reused."""
    return bindparam(name) if bound else value


def branch_where(spec: ModelSpec, action: str, flt: ActivityFilter, bound: bool = False) -> list[Any]:
    """The conditions of one branch: the action's own definition, then the filter's window and actor."""
    at, actor = branch_columns(spec, action)
    conds: list[Any] = []
    if action == "updated":  # the same terms as the partial index's WHERE, so the index serves the branch
        conds.extend(spec.where_updated())
    elif action == "deleted":
        conds.append(at.is_not(None))
    if flt.since is not None:
        conds.append(at >= _value(bound, "since", flt.since))
    if flt.until is not None:
        conds.append(at < _value(bound, "until", flt.until))
    if flt.record_id is not None:
        conds.append(spec.id == _value(bound, "record_id", flt.record_id))
    if flt.parent is not None:
        conds.append(spec.parent_column(state().specs[flt.parent[0]].table_name)
                     == _value(bound, "parent_id", flt.parent[1]))
    if flt.actor_id is not None or flt.system_actor:
        if actor is None:  # the model records no actor for this action: no event is known to be anyone's
            conds.append(false())
        elif flt.actor_id is not None:
            conds.append(actor == _value(bound, "actor_id", flt.actor_id))
        else:
            conds.append(actor.is_(None))
    return conds


def row_has_event_by(spec: ModelSpec, actor_id: Any) -> ColumnElement[bool]:
    """Rows of ``cls`` with at least one feed event by ``actor_id`` (None: at least one with no actor, the system).

    Built from the feed's own branch conditions, so a model list filtered "by X" holds exactly the rows whose
    events the feed shows for ``actor=X``.
    """
    flt = ActivityFilter(actor_id=actor_id, system_actor=actor_id is None)
    return or_(*(and_(*branch_where(spec, action, flt)) for action in spec.actions))


def keyset(spec: ModelSpec, name: str, action: str, cursor: Cursor, bound: bool = False) -> Any:
    """Rows of this branch that sort strictly after ``cursor`` (all keys descending).

    Model and action are constant within a branch, so the tuple comparison reduces
    to a range on (time, id) that the composite index serves.
    """
    at = branch_columns(spec, action)[0]
    c_at, c_id = _value(bound, "cursor_at", cursor.at), _value(bound, "cursor_id", cursor.id)
    if name < cursor.model:
        return at <= c_at
    if name > cursor.model:
        return at < c_at
    id_cmp = spec.id <= c_id if ACTION_RANK[action] < ACTION_RANK[cursor.action] else spec.id < c_id
    return and_(at <= c_at, or_(at < c_at, id_cmp))


def branch_select(name: str, spec: ModelSpec, action: str, flt: ActivityFilter,
                  cursor: Cursor | None, limit: Any, bound: bool = False, model_rank: int = 0) -> Select:
    """One branch's events (model, id, at, action, actor_id, label and the two ranks), newest first."""
    at, actor = branch_columns(spec, action)
    conds = branch_where(spec, action, flt, bound)
    if cursor is not None:
        conds.append(keyset(spec, name, action, cursor, bound))
    if actor is None:  # typed as the user key, so a UNION with models that record actors stays one type
        actor = null().cast(state().user_key.type)
    return (
        select(
            literal(name, String).label("model"),
            spec.id.label("id"),
            spec.shown_time(ROLE[action]).label("at"),
            literal(action, String).label("action"),
            actor.label("actor_id"),
            cast(spec.label, String).label("label"),
            literal_column(str(model_rank), Integer).label("model_rank"),  # the feed's order, as numbers
            literal_column(str(ACTION_RANK[action]), Integer).label("action_rank"),
        )
        .where(*conds)
        .order_by(at.desc(), spec.id.desc())
        .limit(limit)
    )


def actor_join(events: Any, label: str = "person") -> Select:
    """``events`` with the actor's person attribute (email, username) joined on, as column ``label``."""
    st = state()
    user: Any = aliased(st.user_model)
    return select(events, getattr(user, st.person).label(label)).outerjoin(user, user.id == events.c.actor_id)


def page_select(branches: tuple[tuple[str, str], ...], since: bool, until: bool, actor: str | None,
                cursor: tuple[str, str] | None, record: bool = False, parent: str | None = None) -> Select:
    """The page query for one shape of filter and cursor (_page_select, kept per app and shape)."""
    return _page_select(state(), branches, since, until, actor, cursor, record, parent)


@per_state_cache(maxsize=256)
def _page_select(st: ActivityState, branches: tuple[tuple[str, str], ...], since: bool, until: bool,
                 actor: str | None, cursor: tuple[str, str] | None, record: bool = False,
                 parent: str | None = None) -> Select:
    """The page query for one shape of filter and cursor, built once; values are bind parameters.

    ``branches`` are (model, action) pairs; ``actor`` is "id", "system" or None; ``cursor`` is the cursor's
    (model, action). Each branch is ordered and limited on its own (an index range scan), then the database sorts
    the few rows left in the feed's total order and keeps ``:limit`` of them. Building the statement
    cost about ten times running it, so it is kept per shape (at most 256 shapes).
    """
    registry = st.specs
    flt = ActivityFilter(since=EPOCH if since else None, until=EPOCH if until else None,
                         actor_id=0 if actor == "id" else None, system_actor=actor == "system",
                         record_id=0 if record else None, parent=(parent, 0) if parent else None)
    at_cursor = Cursor(EPOCH, cursor[0], 0, cursor[1]) if cursor else None
    ranks = {name: i for i, name in enumerate(sorted({n for n, _ in branches}))}  # model names sort as in Python
    limit = bindparam("limit", type_=Integer)
    parts = [select(branch_select(n, registry[n], a, flt, at_cursor, limit, bound=True, model_rank=ranks[n])
                    .subquery()) for n, a in branches]
    merged = union_all(*parts).subquery("events")
    return (actor_join(merged)
            .order_by(merged.c.at.desc(), merged.c.model_rank.desc(), merged.c.id.desc(), merged.c.action_rank.desc())
            .limit(limit))


def stream_select(name: str, spec: ModelSpec, action: str, flt: ActivityFilter) -> Select:
    """Every event of one branch with its actor's email, newest first (one streamed cursor of iter_events)."""
    branch = branch_select(name, spec, action, flt, None, None).subquery()
    return (actor_join(branch)
            .order_by(branch.c.at.desc(), branch.c.id.desc()))


def count_select(flt: ActivityFilter, cap: int | None = None) -> tuple[CompoundSelect | None, dict[str, Any]]:
    """(model, action, n) per branch of ``flt`` in one statement, and its parameters; with ``cap``, each branch
    stops at cap + 1 rows. The statement is None when the filter selects no branch.

    Built once per shape of filter (_count_select) with the values as bind parameters: building it cost more than
    the dashboard's two capped counts took to run.
    """
    shape = tuple((n, a) for n, _, a in branches(flt))
    if not shape:
        return None, {}
    actor = "id" if flt.actor_id is not None else "system" if flt.system_actor else None
    stmt = _count_select(state(), shape, flt.since is not None, flt.until is not None, actor,
                         flt.record_id is not None, flt.parent[0] if flt.parent else None, cap is not None)
    params = {"since": flt.since, "until": flt.until, "actor_id": flt.actor_id, "record_id": flt.record_id,
              "parent_id": flt.parent[1] if flt.parent else None, "cap_rows": (cap or 0) + 1}
    return stmt, params


@per_state_cache(maxsize=256)
def _count_select(st: ActivityState, shape: tuple[tuple[str, str], ...], since: bool, until: bool,
                  actor: str | None, record: bool, parent: str | None, capped: bool) -> CompoundSelect:
    flt = ActivityFilter(since=EPOCH if since else None, until=EPOCH if until else None,
                         actor_id=0 if actor == "id" else None, system_actor=actor == "system",
                         record_id=0 if record else None, parent=(parent, 0) if parent else None)
    parts = []
    for n, a in shape:
        c = st.specs[n]
        rows: Any = c
        if capped:
            rows = select(literal(1).label("one")).select_from(c.cls).where(*branch_where(c, a, flt, bound=True)) \
                .limit(bindparam("cap_rows", type_=Integer)).subquery()
        parts.append(select(literal(n, String).label("model"), literal(a, String).label("action"),
                            func.count().label("n")).select_from(rows if capped else c.cls)
                     .where(*(() if capped else branch_where(c, a, flt, bound=True))))
    return union_all(*parts)


def summary_select(flt: ActivityFilter) -> Select | None:
    """Per actor and action: events, first and last time (actor_id, action, n, first_at, last_at, and the actor's
    person attribute under its own name: email).

    One GROUP BY per branch, in one statement; None when the filter selects no branch.
    """
    parts = []
    for _name, spec, action in branches(flt):
        at, actor = spec.shown_time(ROLE[action]), spec.actor(action)
        part = select((actor if actor is not None else null().cast(state().user_key.type)).label("actor_id"),
                      literal(action, String).label("action"), func.count().label("n"),
                      func.min(at).label("first_at"), func.max(at).label("last_at")
                      ).select_from(spec.cls).where(*branch_where(spec, action, flt))
        # A model that records no actor: one row for all its events (none when there are none).
        parts.append(part.group_by(actor) if actor is not None else part.having(func.count() > 0))
    if not parts:
        return None
    merged = union_all(*parts).subquery("per_branch")
    return actor_join(merged, label=state().person)


def export_select(flt: ActivityFilter, chosen: list[Branch]) -> tuple[Subquery, list[Any]]:
    """(every chosen branch as one UNION ALL subquery, the feed's total order over it), for the CSV paths."""
    names = sorted({n for n, _, _ in chosen})
    parts = [branch_select(n, c, a, flt, None, None, model_rank=names.index(n)).order_by(None) for n, c, a in chosen]
    events = union_all(*parts).subquery("events")
    return events, [events.c.at.desc(), events.c.model_rank.desc(), events.c.id.desc(), events.c.action_rank.desc()]
