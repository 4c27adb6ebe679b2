"""Login, logout and the rules for who may do what."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from . import signals
from .accounts import find_user
from .extensions import db, login_manager
from .models import User

bp = Blueprint("auth", __name__)

# Checked against when the email is unknown, so both failures take about as long.
_DUMMY_HASH: dict[str, str] = {}


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


def safe_next(target: str | None) -> str:
    """Return ``target`` only if it is a path on this host; otherwise the admin home."""
    default = url_for("admin.index")
    if not target:
        return default
    target = target.strip()
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def require_admin() -> None:
    """Abort with 403 unless the logged-in user is an admin (server-side enforcement)."""
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(403)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = find_user(form.email.data or "")
        password = form.password.data or ""
        if user is None:
            method = current_app.config["PASSWORD_METHOD"]
            if method not in _DUMMY_HASH:
                from werkzeug.security import generate_password_hash

                _DUMMY_HASH[method] = generate_password_hash("not-a-password", method=method)
            check_password_hash(_DUMMY_HASH[method], password)
        password_ok = user is not None and user.check_password(password)
        if password_ok and user.is_active:
            session.clear()  # a fresh session at login (no fixation)
            login_user(user)
            session.permanent = True
            if signals.login_succeeded.receivers:
                signals.send(signals.login_succeeded, user=user, remote_addr=request.remote_addr)
            return redirect(safe_next(form.next.data))
        if signals.login_failed.receivers:
            reason = "unknown-user" if user is None else "wrong-password" if not password_ok else "inactive"
            signals.send(signals.login_failed, email=form.email.data, remote_addr=request.remote_addr, reason=reason)
        flash("Wrong email or password.", "error")
        return render_template("login.html", form=form), 401
    if request.method == "POST":
        return render_template("login.html", form=form), 400
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "POST":
        logout_user()
        session.clear()
        flash("You have been logged out.", "info")
        return redirect(url_for("auth.login"))
    return render_template("logout.html")


@bp.route("/")
def root():
    return redirect(url_for("admin.index"))
