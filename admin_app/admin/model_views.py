"""Model views for the audited models: soft delete, restore, read-only audit columns."""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from flask import Response, flash, has_request_context, session
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.model import typefmt
from flask_admin.model.helpers import prettify_name
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.utils import secure_filename
from wtforms import PasswordField
from wtforms.validators import Length, Optional, Regexp

from flask_activity.activity import parse_id
from flask_activity.admin.export import csv_response
from flask_activity.admin.filters import AwareDateTimeBetweenFilter, DeletedFilter, timestamp_filters
from flask_activity.admin.guarded import GuardedWrites, last_change
from flask_activity.csvsafe import chunked
from flask_activity.http import bad_request
from flask_activity.timefmt import format_local

from ..accounts import EMAIL_PATTERN, MIN_PASSWORD, set_password
from ..auth import EPOCH
from ..extensions import db
from ..models import ROLES, User, normalize_email
from .access import SecureViewMixin
from .list_format import FilteredList, list_time
from .refusals import log_refusal, refusal_message

AUDIT_COLUMNS = ("created_at", "updated_at", "deleted_at", "created_by", "updated_by")
#: One convention (sentence case, no "At") for lists, filters and details.
COLUMN_LABELS = {"id": "ID", "created_at": "Created", "updated_at": "Updated", "deleted_at": "Deleted",
                 "created_by": "Created by", "updated_by": "Updated by", "due_date": "Due date",
                 "display_name": "Display name"}
#: CSV headers stay as they were ("Created At", "Display Name"): scripts read the columns by these names.
EXPORT_HEADERS = {"created_by": "Created by", "updated_by": "Updated by"}
#: The deletion time filter's name: "Deleted" is the tri-state filter's (hide / include / only deleted rows).
DELETION_TIME = "Deletion time"


MAX_PAGE = 1_000_000
MAX_AJAX_PAGE = 100
MAX_AJAX_OFFSET = MAX_PAGE * MAX_AJAX_PAGE


def _int_ids(ids: list[str]) -> list[int]:
    """Row ids posted by the list's checkboxes, as integers; anything else is ignored."""
    return [i for i in map(parse_id, ids) if i is not None]


def _fmt_datetime(view: Any, value: datetime, name: str | None = None) -> str:
    return format_local(value)


def _is_deletion_time(flt: Any, model: Any) -> bool:
    return isinstance(flt, AwareDateTimeBetweenFilter) and flt.column is model.deleted_at


class IntIdAjaxLoader(QueryAjaxModelLoader):
    """Ajax select loader that treats a malformed id as no choice (PostgreSQL rejects it with an error) and never
    offers a soft-deleted row (a deleted user as a new owner, a deleted bucketlist for an item)."""

    def get_query(self) -> Any:
        query = super().get_query()
        deleted_at = getattr(self.model, "deleted_at", None)
        return query if deleted_at is None else query.filter(deleted_at.is_(None))

    def get_one(self, pk: Any) -> Any:
        pk = parse_id(pk)
        return super().get_one(pk) if pk is not None else None

    def get_list(self, term: str, offset: int = 0, limit: int = MAX_AJAX_PAGE) -> Any:
        # An offset past what a database integer holds was an OverflowError (SQLite) or a DataError (PostgreSQL).
        return super().get_list(term, min(max(0, offset or 0), MAX_AJAX_OFFSET),
                                min(max(1, limit or MAX_AJAX_PAGE), MAX_AJAX_PAGE))


class SecureForm(FlaskForm):
    """Flask-Admin forms carry Flask-WTF's CSRF token, checked app-wide by CSRFProtect."""

    def __init__(self, *args: Any, obj: Any = None, **kwargs: Any) -> None:
        # Flask-Admin's Unique validator skips the row being edited by comparing with form._obj,
        # which only Flask-Admin's own BaseForm sets; without it no user could be edited.
        self._obj = obj
        super().__init__(*args, obj=obj, **kwargs)


class AuditedModelView(SecureViewMixin, GuardedWrites, FilteredList, ModelView):
    """Base view for any model with the audit mixin: writes are guarded by its version (GuardedWrites)."""

    form_base_class = SecureForm
    simple_list_pager = True  # never COUNT(*) the table on a list page
    page_size = 50
    can_view_details = True
    can_export = True
    # Flask-Admin settings: class attributes shared by every instance of the view (ClassVar says so to checkers).
    export_types: ClassVar[list[str]] = ["csv"]
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("created_at", True), ("id", True)]
    form_excluded_columns = AUDIT_COLUMNS
    column_type_formatters: ClassVar[dict[type, Any]] = {**typefmt.BASE_FORMATTERS, datetime: list_time}
    column_type_formatters_detail: ClassVar[dict[type, Any]] = {**typefmt.DETAIL_FORMATTERS, datetime: _fmt_datetime}
    column_type_formatters_export: ClassVar[dict[type, Any]] = {**typefmt.EXPORT_FORMATTERS,
                                                                datetime: lambda view, value, name=None: value}
    column_labels: ClassVar[dict[str, str]] = COLUMN_LABELS
    TIME_COLUMNS = ("created_at", "updated_at", "deleted_at")
    list_template = "admin/model/audited_list.html"
    details_template = "admin/model/audited_details.html"  # the record's own history under its fields

    def __init__(self, model: type, database: Any, **kwargs: Any) -> None:
        audit_filters = timestamp_filters(model)
        for flt in audit_filters:
            if _is_deletion_time(flt, model):
                flt.name = DELETION_TIME
        self.column_filters = list(getattr(self, "extra_filters", [])) + audit_filters
        super().__init__(model, database, **kwargs)
        names = [name for name, _label in self._list_columns]
        if "deleted_at" in names[:-1]:  # hiding it must not move the other columns' sort indexes
            raise ValueError(f"{type(self).__name__}: deleted_at must be the last of column_list")

    # Role-dependent permissions: hide controls for viewers; SecureViewMixin enforces on the server.
    @property
    def can_create(self) -> bool:
        return self.is_admin_user

    @property
    def can_edit(self) -> bool:
        return self.is_admin_user

    @property
    def can_delete(self) -> bool:
        return self.is_admin_user

    def is_action_allowed(self, name: str) -> bool:
        return self.is_admin_user and super().is_action_allowed(name)

    # --- soft delete: the default list hides deleted rows unless the Deleted filter says otherwise
    def _deleted_filters(self) -> list[tuple[Any, str]]:
        """The applied filters that decide about deleted rows, with their values: the Deleted filter, and a
        Deletion time (which asks for deleted rows: while the list hid them it matched none)."""
        if not has_request_context():
            return []
        return [(self._filters[i], value) for i, _name, value in self._get_list_filter_args() or []
                if isinstance(self._filters[i], DeletedFilter) or _is_deletion_time(self._filters[i], self.model)]

    def _deleted_filter_active(self) -> bool:
        return bool(self._deleted_filters())

    def list_columns_shown(self) -> list[tuple[str, str]]:
        """The list's columns: Deleted only when deleted rows may be listed (else it is always empty)."""
        if any(not isinstance(flt, DeletedFilter) or value != "hide" for flt, value in self._deleted_filters()):
            return list(self._list_columns)
        return [column for column in self._list_columns if column[0] != "deleted_at"]

    def get_query(self) -> Any:
        query = super().get_query()
        if not self._deleted_filter_active():
            query = query.filter(self.model.deleted_at.is_(None))
        return query

    def get_count_query(self) -> Any:
        query = super().get_count_query()
        if not self._deleted_filter_active():
            query = query.filter(self.model.deleted_at.is_(None))
        return query

    def _get_list_extra_args(self) -> Any:
        """Flask-Admin's list arguments, made safe: page within range, and only the list's own state.

        Flask-Admin copies every argument it does not know into each link of the page (25,000 of them made a
        23.5 MB list); these lists keep no state beyond page, size, sort, search and filters, so none is copied.
        That also drops url_for's own options (_method, _external, ?self=x was a TypeError: a 500).
        """
        args = super()._get_list_extra_args()
        args.page = min(max(args.page or 0, 0), MAX_PAGE)
        args.extra_args = {}
        return args

    def get_export_columns(self) -> list[tuple[str, str]]:
        return [(name, EXPORT_HEADERS.get(name) or prettify_name(name)) for name, _ in super().get_export_columns()]

    def export_url(self, export_type: str) -> str:
        """Link to the CSV export with the list's current filters, search and sort."""
        view_args = self._get_list_extra_args()
        kwargs = dict(sort=view_args.sort, desc=1 if view_args.sort_desc else None, search=view_args.search,
                      **view_args.extra_args)
        kwargs.update(self._get_filters(view_args.filters))
        return self.get_url(".export", export_type=export_type, **kwargs)

    def handle_view_exception(self, exc: Exception) -> bool:
        """A database refusal on create, update, delete or an action is a sentence on the page, never the
        statement, its parameters or the driver's text (Flask-Admin flashed all three)."""
        if isinstance(exc, SQLAlchemyError) and not isinstance(exc, StaleDataError):  # stale: GuardedWrites
            log_refusal(self.name, exc)
            flash(refusal_message(exc), "error")
            return True
        return bool(super().handle_view_exception(exc))

    def _refused(self, exc: SQLAlchemyError) -> None:
        db.session.rollback()
        self.handle_view_exception(exc)

    def _create_ajax_loader(self, name: str, options: dict[str, Any]) -> Any:
        loader = super()._create_ajax_loader(name, options)
        return IntIdAjaxLoader(name, loader.session, loader.model, **options)

    def get_one(self, id: Any) -> Any:
        # Details and edit pages still open a deleted row (so it can be inspected and restored).
        pk = parse_id(id)
        return db.session.get(self.model, pk) if pk is not None else None

    def delete_model(self, model: Any) -> bool:
        """Soft delete: set deleted_at and updated_by; the row stays."""
        refusal = self.refuse_delete(model) or self._delete(model)
        if refusal:
            flash(refusal, "error")
        return refusal is None

    def _delete(self, model: Any) -> str | None:
        """Soft delete ``model`` in a guarded statement; None when done, else why not ("" when already said)."""
        if model.deleted_at is not None:
            return f"This {self.noun()} was {last_change(model)}; nothing was changed."
        try:
            conflict = self.guarded_commit(model, lambda row: row.soft_delete())
        except SQLAlchemyError as exc:
            self._refused(exc)
            return ""
        if conflict is None:
            self.after_model_delete(model)
            return None
        if model.deleted_at is not None:
            return f"This {self.noun()} was {conflict}; nothing was changed."
        return (f"This {self.noun()} was {conflict} while you were deleting it; nothing was deleted. Look at it "
                "again and delete it if you still mean to.")

    def refuse_delete(self, model: Any) -> str | None:
        """Why ``model`` may not be deleted by the current user (None: it may)."""
        return None

    @action("delete", "Delete", "Are you sure you want to delete selected records?")
    def action_delete(self, ids: list[str]) -> None:
        """Soft delete the selected rows, each in its own guarded statement. (Flask-Admin's version compares the
        integer id with text parameters, which PostgreSQL refuses.)"""
        rows = db.session.scalars(select(self.model).where(self.model.id.in_(_int_ids(ids)))).all()
        done = skipped = 0
        for row in rows:
            refusal = self.refuse_delete(row)
            if refusal:
                flash(refusal, "error")
                continue
            refusal = self._delete(row)
            done, skipped = (done + 1, skipped) if refusal is None else (done, skipped + (refusal != ""))
        self._say_bulk(done, skipped + len(_int_ids(ids)) - len(rows), "deleted")

    @action("restore", "Restore", "Restore the selected records?")
    def action_restore(self, ids: list[str]) -> None:
        """Restore the selected deleted rows, each in its own guarded statement."""
        rows = db.session.scalars(select(self.model).where(self.model.id.in_(_int_ids(ids)))).all()
        done = skipped = 0
        for row in rows:
            if row.deleted_at is None:
                skipped += 1
                continue
            try:
                conflict = self.guarded_commit(row, lambda r: r.restore())
            except SQLAlchemyError as exc:
                self._refused(exc)
                return
            done, skipped = (done + 1, skipped) if conflict is None else (done, skipped + 1)
        self._say_bulk(done, skipped, "restored")

    @staticmethod
    def _say_bulk(done: int, skipped: int, verb: str) -> None:
        message = f"{done} record(s) {verb}."
        if skipped:
            message += f" {skipped} skipped: already {verb}, or changed by someone else meanwhile."
        flash(message, "success" if done or not skipped else "warning")

    def _export_csv(self, return_url: Any) -> Response:
        """Stream the filtered list as formula-safe CSV without loading every row."""
        errors = self.list_filters().errors
        if errors:
            return bad_request(" ".join(f"{message}." for _row, message in errors))
        view_args = self._get_list_extra_args()
        sort = self._get_column_by_idx(view_args.sort)
        columns = self._export_columns

        def rows() -> Any:
            # The query is made here, as the response streams: the view's session is closed when the view
            # returns, and a query bound to it would open a connection again that nobody gives back.
            _, query = self.get_list(0, sort[0] if sort else None, view_args.sort_desc, view_args.search,
                                     view_args.filters, execute=False, page_size=0)
            for obj in query.yield_per(1000):
                yield [self.get_export_value(obj, c[0]) for c in columns]

        filename = secure_filename(self.get_export_name(export_type="csv"))
        return csv_response(filename, [c[1] for c in columns], chunked(rows(), 1000), export=self.endpoint)


class UserView(AuditedModelView):
    column_list = ("id", "email", "display_name", "role", "active", "created_at", "updated_at", "deleted_at")
    column_details_exclude_list = ("password_hash",)
    column_export_exclude_list = ("password_hash",)
    column_exclude_list = ("password_hash",)
    column_searchable_list = ("email", "display_name")
    form_columns = ("email", "display_name", "role", "active", "new_password")
    form_choices: ClassVar[dict[str, list[tuple[str, str]]]] = {"role": [(r, r) for r in ROLES]}
    form_extra_fields: ClassVar[dict[str, Any]] = {
        "new_password": PasswordField("Set password", validators=[Optional(), Length(min=MIN_PASSWORD, max=1024)],
                                      description="Leave empty to keep the current password."),
    }
    extra_filters = ("email", "role", "active")

    form_args: ClassVar[dict[str, dict[str, Any]]] = {"email": {
        "filters": [lambda value: normalize_email(value) if isinstance(value, str) else value],
        "validators": [Regexp(EMAIL_PATTERN, message="Enter an email address.")],
    }}

    def refuse_delete(self, model: Any) -> str | None:
        if current_user.is_authenticated and str(model.id) == current_user.get_id():
            return "You cannot delete your own account: you would lock yourself out. Another admin can."
        return None

    def on_model_change(self, form: Any, model: User, is_created: bool) -> None:
        super().on_model_change(form, model, is_created)
        password = form.new_password.data if hasattr(form, "new_password") else None
        if password:
            set_password(model, password)  # the form's Length(min=MIN_PASSWORD) has said why a short one is refused
        elif is_created:
            raise ValueError("a new user needs a password")
        attrs: Any = inspect(model).attrs
        if not is_created and not password and (attrs.role.history.has_changes()
                                                 or attrs.active.history.has_changes()):
            model.session_epoch += 1  # a new role or a deactivation holds from the user's next request

    def after_model_change(self, form: Any, model: User, is_created: bool) -> None:
        """An admin who changed their own account stays logged in here (their other sessions have ended)."""
        super().after_model_change(form, model, is_created)
        if current_user.is_authenticated and str(model.id) == current_user.get_id():
            session[EPOCH] = model.session_epoch


class BucketlistView(AuditedModelView):
    column_list = ("id", "title", "owner", "created_at", "updated_at", "created_by", "updated_by", "deleted_at")
    column_searchable_list = ("title",)
    form_columns = ("title", "description", "owner")
    form_ajax_refs: ClassVar[dict[str, dict[str, Any]]] = {
        "owner": {"fields": ("email",), "page_size": 20, "placeholder": "Choose an owner"}}
    extra_filters = ("title",)


class ItemView(AuditedModelView):
    column_list = ("id", "title", "bucketlist", "done", "due_date", "created_at", "updated_at",
                   "created_by", "updated_by", "deleted_at")
    column_searchable_list = ("title",)
    form_columns = ("title", "bucketlist", "done", "due_date")
    form_ajax_refs: ClassVar[dict[str, dict[str, Any]]] = {
        "bucketlist": {"fields": ("title",), "page_size": 20, "placeholder": "Choose a bucketlist"}}
    extra_filters = ("title", "done", "due_date")
