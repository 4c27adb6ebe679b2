"""Accounts, login and logout, and the two rules of who may do what (agents read, admins change)."""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .extensions import db, login_manager
from .models import USERNAME_LENGTH, Account

bp = Blueprint("auth", __name__, url_prefix="/accounts")


def is_agent(user: Any) -> bool:
    """Any logged-in, active account is an agent: agents read tickets, comments, macros and the activity."""
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def is_admin(user: Any) -> bool:
    """Admins are agents with ``is_admin`` set: they edit records, manage accounts and run reports."""
    return is_agent(user) and bool(getattr(user, "is_admin", False))


def find_account(username: str) -> Account | None:
    """The account with this username (letter case ignored), or None."""
    return db.session.scalar(select(Account).where(func.lower(Account.username) == username.strip().lower()))


def create_account(username: str, password: str, is_admin: bool = False) -> Account:
    """Create and commit an account (password hashed with PASSWORD_METHOD)."""
    account = Account(username=username.strip(), is_admin=is_admin)
    account.set_password(password, current_app.config["PASSWORD_METHOD"])
    db.session.add(account)
    db.session.commit()
    return account


@login_manager.user_loader
def load_account(account_id: str) -> Account | None:
    """The account a session names (None for a malformed or unknown id)."""
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        return None
    return db.session.get(Account, key)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=USERNAME_LENGTH)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out is a POST, so no other site can log an agent out."""


def local_path(target: str | None) -> str:
    """``target`` when it is a path on this host, else the admin home."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("admin.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a right username and password start a fresh session and go on to ``next``."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        account = find_account(form.username.data or "")
        if account is not None and account.is_active and account.check_password(form.password.data or ""):
            session.clear()  # nothing from before the login survives (new CSRF token too)
            login_user(account)
            return redirect(local_path(form.next.data))
        flash("Wrong username or password.", "error")
        return render_template("helpdesk/login.html", form=form), 401
    return render_template("helpdesk/login.html", form=form), 400 if request.method == "POST" else 200


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """GET asks; POST (with its CSRF token) logs out."""
    form = LogoutForm()
    if form.validate_on_submit():
        logout_user()
        session.clear()
        return redirect(url_for(".login"))
    return render_template("helpdesk/logout.html", form=form)
