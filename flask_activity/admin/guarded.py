"""Admin writes that never overwrite what someone else did meanwhile.

The audit mixin's ``version`` column makes every ORM UPDATE conditional on the copy it was based on; this mixin
for a Flask-Admin ``ModelView`` turns that into what the person sees. The edit form carries the version it was
opened at: a form opened before someone else's save (or delete) is refused with who did it and when, and shown
again with the current values; a write racing another between its read and its UPDATE matches no row
(StaleDataError) and is refused the same way. Nothing is written in either case, so the feed keeps the truth:
a deleted row is never edited afterwards and a deletion stays credited to whoever deleted.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, g
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from wtforms import HiddenField

from ..activity import parse_id
from ..timefmt import format_local

#: The edit form's hidden field: the row's version when the form was opened.
OPENED = "opened_version"
_STALE = "_flask_activity_stale_write"


def _populate_except_opened(form: Any, obj: Any) -> None:
    for name, field in form._fields.items():
        if name != OPENED:
            field.populate_obj(obj, name)


def last_change(row: Any) -> str:
    """'deleted by B at T' or 'changed by A at T', read from the row as the database holds it now."""
    who = row.updated_by
    verb = "deleted" if row.deleted_at is not None else "changed"
    return f"{verb} by {who if who is not None else 'the system'} at {format_local(row.updated_at)}"


class GuardedWrites:
    """Mix into a Flask-Admin SQLAlchemy ``ModelView`` (before it) of a model made with the audit mixin.

    Edits carry the version they were opened at; deletes and actions go through ``guarded_commit``. A host that
    overrides ``handle_view_exception`` calls this one first.
    """

    model: Any
    session: Any  # a Session, or Flask-SQLAlchemy's db as Flask-Admin still accepts

    def noun(self) -> str:
        """What one row is called in a message ('item')."""
        return str(self.model.__name__).lower()

    # --- the edit form carries the version it was opened at
    def get_edit_form(self) -> Any:
        form_class = super().get_edit_form()  # type: ignore[misc]
        return type(form_class.__name__, (form_class,),
                    {OPENED: HiddenField(), "populate_obj": _populate_except_opened})

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)  # type: ignore[misc]
        field = getattr(form, OPENED, None)
        if field is not None and obj is not None and parse_id(field.data) is None:
            field.data = obj.version  # a GET, or a post from a client that sent none: the row as read now
        return form

    def update_model(self, form: Any, model: Any) -> bool:
        if model.deleted_at is not None:
            flash(f"This {self.noun()} was {last_change(model)}; restore it to edit it. Nothing was saved.", "error")
            return False
        opened = parse_id(getattr(getattr(form, OPENED, None), "data", None))
        if opened is None or opened == model.version:
            g.pop(_STALE, None)
            if super().update_model(form, model):  # type: ignore[misc]
                return True
            if not g.pop(_STALE, False):
                return False  # refused for another reason, already said
            try:
                model.version  # noqa: B018 -- after the rollback: the row as the database holds it now
            except ObjectDeletedError:
                flash(f"This {self.noun()} no longer exists. Nothing was saved.", "error")
                return False
        if model.deleted_at is not None:
            flash(f"This {self.noun()} was {last_change(model)}; restore it to edit it. Nothing was saved.", "error")
            return False
        flash(f"This {self.noun()} was {last_change(model)} since you opened it. The form now shows the current "
              "values; nothing was saved.", "error")
        form.process(formdata=None, obj=model)
        getattr(form, OPENED).data = model.version
        return False

    def handle_view_exception(self, exc: Exception) -> bool:
        """A write refused because its row changed meanwhile: rolled back and said by the caller."""
        if isinstance(exc, StaleDataError):
            g.setdefault(_STALE, True)
            return True
        return bool(super().handle_view_exception(exc))  # type: ignore[misc]

    # --- deletes, restores and other actions
    def guarded_commit(self, row: Any, change: Callable[[Any], None]) -> str | None:
        """Apply ``change`` to ``row`` and commit. None when saved; else why not ('deleted by B at T'): the row
        changed between its read and the UPDATE, which then matched nothing."""
        session = self.session if isinstance(self.session, Session | scoped_session) else self.session.session
        try:
            change(row)
            session.commit()
        except StaleDataError:
            session.rollback()
            try:
                return last_change(row)
            except ObjectDeletedError:
                return "deleted for good"
        return None
