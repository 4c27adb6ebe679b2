"""People's pages (/admin/activity/by/<key>): what one user did, or the system (writes with no recorded user).

Read from the feed's own actor filter through the query layer (``activity.person_summary``), so each count and
event here is what the feed filtered by that person shows; the page links there for the rest.
"""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, request, url_for

from .. import activity
from ..state import state
from ..timefmt import display_zone
from ..types import utcnow

SYSTEM = activity.SYSTEM_ACTOR


def person_name(user: Any) -> str:
    """How a page names a user: "Display Name (person)" when the user model has a display_name or name, else the
    person attribute (email, username)."""
    person = str(getattr(user, state().person, "") or "")
    name = getattr(user, "display_name", None) or getattr(user, "name", None)
    return f"{name} ({person})" if isinstance(name, str) and name and name != person else person


def find_actor(who: str) -> tuple[Any, Any]:
    """(the user's key, the user) for a page's ``who``; (None, None) for "system"; 404 for anyone else."""
    if who == SYSTEM:
        return None, None
    st = state()
    # an int key past any id's range is nobody's, not a database error (as the feed's actor= reads it)
    key = activity.parse_id(who) if st.user_key.type.python_type is int else st.parse_actor_key(who)
    user = st.db.session.get(st.user_model, key) if key is not None else None
    if user is None:
        abort(404, description=f"No user {who[:40]!r}; people's pages are at /admin/activity/by/<user id> or "
                               f"/admin/activity/by/{SYSTEM}.")
    return key, user


def person_context(who: str) -> dict[str, Any]:
    """Everything people.html shows for ``who`` (a user key or "system")."""
    key, user = find_actor(who)
    zone = display_zone()
    cap = None if request.args.get("exact") == "1" else current_app.config["DASHBOARD_COUNT_CAP"]
    summary = activity.person_summary(key, zone, utcnow(), cap=cap)
    actor_arg = SYSTEM if key is None else str(key)
    rows = sorted({pair for _, _, counts in summary.windows for pair, n in counts.items() if n})
    return dict(
        summary=summary,
        name=person_name(user) if user is not None else "System",
        user=user,
        rows=rows,
        zone=zone,
        feed_url=url_for(".index", actor=actor_arg),
        count_url=lambda model, action, since: url_for(".index", actor=actor_arg, model=model, action=action,
                                                      since=since.astimezone(zone).isoformat()),
        exact_url=url_for(".person", who=who, exact=1),
    )


def person_url(actor_id: Any) -> str:
    """The page of the actor with this key (None: the system's page)."""
    return url_for("activity.person", who=SYSTEM if actor_id is None else str(actor_id))
