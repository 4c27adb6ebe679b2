"""The help desk's Flask-Admin (built per app, in the factory): tickets, comments, macros and accounts.

Every page needs a login; agents read, admins also create, edit, archive and delete (others get 403).
"""
from __future__ import annotations

import uuid
from typing import Any, ClassVar

from flask import Flask, abort, current_app, flash, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField
from wtforms.validators import Length, Optional

from flask_activity import GuardedWrites

from .auth import is_admin, is_agent
from .extensions import db
from .models import STATUSES, Account, Comment, Macro, Ticket

#: ModelView endpoints that change data (or show a form that only serves to).
WRITE_ENDPOINTS = frozenset({"create_view", "edit_view", "delete_view", "action_view", "ajax_update"})
TIMES = ("created", "modified", "archived_at", "created_at", "updated_at", "deleted_at")


class AgentsOnly:
    """Mix into a view: anonymous -> the login page, agents read, only admins write."""

    def is_accessible(self) -> bool:
        return is_agent(current_user)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not getattr(current_user, "is_authenticated", False):
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target))
        if not self.is_accessible():
            abort(403)
        if not is_admin(current_user) and (name in WRITE_ENDPOINTS or request.method not in ("GET", "HEAD")):
            abort(403)
        return super()._handle_view(name, **kwargs)  # type: ignore[misc]


class HomeView(AgentsOnly, AdminIndexView):
    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("tickets.index_view"))


class CsrfForm(FlaskForm):
    """Model forms carry Flask-WTF's token (CSRFProtect checks every POST)."""

    def __init__(self, *args: Any, obj: Any = None, **kwargs: Any) -> None:
        self._obj = obj  # Flask-Admin's Unique validator skips the row being edited through this
        super().__init__(*args, obj=obj, **kwargs)


class HelpdeskModelView(AgentsOnly, ModelView):
    form_base_class = CsrfForm
    can_view_details = True
    page_size = 25
    form_excluded_columns = TIMES

    @property
    def can_create(self) -> bool:
        return is_admin(current_user)

    @property
    def can_edit(self) -> bool:
        return is_admin(current_user)


class TicketView(HelpdeskModelView):
    can_delete = False  # tickets are archived, never deleted
    column_list = ("id", "subject", "status", "requester", "created", "modified", "archived_at")
    column_default_sort = ("created", True)
    column_filters = ("status", "archived_at", "created")
    column_searchable_list = ("subject",)
    form_columns = ("subject", "status", "requester")
    form_overrides: ClassVar[dict[str, Any]] = {"status": SelectField}
    form_args: ClassVar[dict[str, Any]] = {"status": {"choices": list(STATUSES)}}

    @action("archive", "Archive", "Archive the selected tickets?")
    def archive(self, ids: list[str]) -> None:
        self._each(ids, Ticket.archive, "archived")

    @action("unarchive", "Unarchive")
    def unarchive(self, ids: list[str]) -> None:
        self._each(ids, Ticket.unarchive, "unarchived")

    def _each(self, ids: list[str], change: Any, verb: str) -> None:
        keys = [int(i) for i in ids if i.isdigit()]
        tickets = db.session.scalars(select(Ticket).where(Ticket.id.in_(keys))).all()
        for ticket in tickets:
            change(ticket)
        db.session.commit()
        flash(f"{len(tickets)} tickets {verb}.", "success")


class CommentView(HelpdeskModelView):
    column_list = ("id", "ticket", "author", "body", "created", "modified")
    column_default_sort = ("created", True)
    form_columns = ("ticket", "body")

    def on_model_change(self, form: Any, model: Comment, is_created: bool) -> None:
        if is_created:
            model.author_id = current_user.id


class MacroView(GuardedWrites, HelpdeskModelView):
    """Macros carry the audit mixin's version: a stale edit or a racing delete is refused, never written."""

    column_list = ("id", "title", "created_at", "created_by", "updated_at", "updated_by", "deleted_at")
    column_default_sort = ("created_at", True)
    form_columns = ("title", "body")

    def get_query(self) -> Any:  # deleted macros are out of use; their rows stay for the record
        return super().get_query().filter(Macro.deleted_at.is_(None))

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(Macro.deleted_at.is_(None))

    def delete_model(self, model: Macro) -> bool:
        # The row stays; the feed shows it deleted, and by whom. A racing edit or delete wins, and we say so.
        conflict = None if model.deleted_at is not None else self.guarded_commit(model, Macro.soft_delete)
        if conflict:
            flash(f"This macro was {conflict} meanwhile; nothing was deleted.", "error")
        return conflict is None


class AccountView(HelpdeskModelView):
    column_list = ("username", "is_admin", "active")
    form_columns = ("username", "is_admin", "active")
    form_extra_fields: ClassVar[dict[str, Any]] = {
        "new_password": PasswordField("New password", validators=[Optional(), Length(min=8)])}

    def get_one(self, id: str) -> Account | None:
        try:
            return db.session.get(Account, uuid.UUID(id))
        except ValueError:
            return None

    def on_model_change(self, form: Any, model: Account, is_created: bool) -> None:
        if form.new_password.data:
            model.set_password(form.new_password.data, current_app.config["PASSWORD_METHOD"])


def init_admin(app: Flask) -> Admin:
    """This app's Admin with its four model views (the activity views are added by init_activity)."""
    admin = Admin(app, name="Helpdesk", url="/admin", index_view=HomeView(url="/admin"))
    admin.add_view(TicketView(Ticket, db, name="Tickets", endpoint="tickets"))
    admin.add_view(CommentView(Comment, db, name="Comments", endpoint="comments"))
    admin.add_view(MacroView(Macro, db, name="Macros", endpoint="macros"))
    admin.add_view(AccountView(Account, db, name="Accounts", endpoint="accounts"))
    return admin
