"""Login, logout and the rules for who may do what."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from limits.errors import ConfigurationError
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from flask_activity import signals

from .accounts import end_sessions, find_user
from .config import ConfigError
from .extensions import login_manager, make_limiter
from .models import EMAIL_LENGTH, User, normalize_email
from .session_user import SessionUser, load_session_user

bp = Blueprint("auth", __name__)

# Checked against when the email is unknown, so both failures take about as long (one per hash method).
_DUMMY_HASH: dict[str, str] = {}


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_LENGTH)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


#: What a session carries besides Flask-Login's user id (stamp_session): the user's epoch at login, the login
#: time, the last request's time (to the minute) and a digest of the browser's User-Agent.
EPOCH, LOGIN_AT, SEEN_AT, AGENT = "_epoch", "_login_at", "_seen_at", "_agent"
SEEN_EVERY = 60  # seconds: the last-seen time is rewritten (a new cookie) at most this often


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    """The user a session names, for Flask-Login; None (anonymous: the login page) for a malformed or unknown id,
    or a session that has ended (session_refusal), which is then cleared."""
    if not user_id.isdigit():
        return None
    user = load_session_user(int(user_id))
    if user is None:
        return None
    now = int(time.time())
    reason = session_refusal(user, now)
    if reason is not None:
        session.clear()
        flash(f"Your session has ended ({reason}). Please log in again.", "info")
        return None
    if now - session[SEEN_AT] >= min(SEEN_EVERY, current_app.config["SESSION_IDLE_TIMEOUT"] // 4):
        session[SEEN_AT] = now  # often enough that a short idle timeout never ends a session in use
    return user


def agent_digest() -> str:
    """A digest of this request's User-Agent: a cookie replayed from another browser does not match it."""
    return hashlib.sha256(request.headers.get("User-Agent", "").encode()).hexdigest()[:32]


def stamp_session(user: User, now: int | None = None) -> None:
    """Bind the (new) session to ``user``'s epoch, this time and this browser."""
    now = int(time.time()) if now is None else now
    session.update({EPOCH: user.session_epoch, LOGIN_AT: now, SEEN_AT: now, AGENT: agent_digest()})


def session_refusal(user: User | SessionUser, now: int) -> str | None:
    """Why this request's session of ``user`` may no longer be used, or None.

    Ended: logged out, password or role changed, deactivated, or "log out everywhere else" (the epoch moved on);
    older than SESSION_MAX_AGE since login however much it is used; idle for SESSION_IDLE_TIMEOUT; or sent by
    another browser than the one that logged in.
    """
    config = current_app.config
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if session.get(EPOCH) != user.session_epoch or not isinstance(login_at, int) or not isinstance(seen_at, int):
        return "it was ended"
    if not user.is_active:  # deactivated or deleted, by the admin or the CLI, whoever did it and however
        return "the account is deactivated or deleted"
    if now - login_at > config["SESSION_MAX_AGE"]:
        return "it is older than the longest a session may last"
    if now - seen_at > config["SESSION_IDLE_TIMEOUT"]:
        return "no request for too long"
    if session.get(AGENT) != agent_digest():
        return "it was used from another browser"
    return None


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


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_METHOD"]
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = generate_password_hash("not-a-password", method=method)
    return _DUMMY_HASH[method]


def verify_password(user: User | None, password: str) -> bool:
    """Check ``password`` for ``user`` doing the same hashing work when there is no such user (or no password).

    So an unknown email and a wrong password cost the same time and cannot be told apart.
    """
    if user is None or user.password_hash == "!":  # "!": an account with no password set (see User)
        check_password_hash(_dummy_hash(), password)
        return False
    return user.check_password(password)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a good email and password start a fresh session and go to ``next`` (local paths only)."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = find_user(form.email.data or "")
        password_ok = verify_password(user, form.password.data or "")
        if password_ok and user is not None and user.is_active:
            session.clear()  # a fresh session at login (no fixation): new CSRF token, nothing carried over
            login_user(user)
            stamp_session(user)
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


# --- login rate limits -------------------------------------------------------------------


def account_key() -> str:
    """The rate-limit key of the account a login attempt names: its email as find_user reads it, hashed.

    Hashed so that storage (Redis) holds no email addresses and a 1 MB email is a short key.
    """
    email = normalize_email(request.form.get("email", ""))
    return "account:" + hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def address_key() -> str:
    """The client address as the WSGI server saw it (behind a proxy, configure ProxyFix, or it is the proxy's)."""
    return "address:" + (request.remote_addr or "unknown")


def _limited(limit: RequestLimit) -> None:
    """on_breach: a refused attempt is a failed login too, for the signal's subscribers (metrics, alerts)."""
    if signals.login_failed.receivers:
        signals.send(signals.login_failed, email=request.form.get("email", ""), remote_addr=request.remote_addr,
                     reason="rate-limited")


def init_rate_limits(app: Flask) -> None:
    """Limit POST /login per account and per client address (LOGIN_RATE_LIMIT_ACCOUNT / _ADDRESS).

    The limits wrap the view, so they are checked after the CSRF token and before anything else:
    a refused attempt neither looks the user up nor hashes the password. The 429 page is errors.too_many_attempts.
    """
    if not app.config.get("RATELIMIT_ENABLED"):
        return
    limiter = make_limiter()
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise ConfigError(f"RATELIMIT_STORAGE_URI={app.config.get('RATELIMIT_STORAGE_URI')!r} cannot be used "
                          f"({exc}); use sqlite:////path/ratelimits.db (one machine), redis://host:6379 (several; "
                          "pip install redis) or memory:// (one process)") from exc
    app.extensions["login_limiter"] = limiter
    # Flask-Limiter looks at every request; only login has limits, so let every other one skip the lookups.
    limiter.request_filter(lambda: request.endpoint != "auth.login")
    view: Callable[..., Any] = app.view_functions["auth.login"]
    for setting, key in (("LOGIN_RATE_LIMIT_ADDRESS", address_key), ("LOGIN_RATE_LIMIT_ACCOUNT", account_key)):
        view = limiter.limit(app.config[setting], key_func=key, methods=["POST"], on_breach=_limited)(view)
    app.view_functions["auth.login"] = view


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """GET asks to confirm (a link cannot log anyone out); POST ends the session and, since a copy of the cookie
    cannot be told apart from it, every session of the account (its epoch moves on)."""
    if request.method == "POST":
        if current_user.is_authenticated:
            end_sessions(int(current_user.get_id()))
        logout_user()
        session.clear()
        flash("You have been logged out.", "info")
        return redirect(url_for("auth.login"))
    return render_template("logout.html")


@bp.route("/logout/elsewhere", methods=["POST"])
def logout_elsewhere() -> ResponseReturnValue:
    """End every other session of the account (another browser, a stolen cookie) and keep this one."""
    if not current_user.is_authenticated:  # no ?next=: after logging in, a POST-only URL would only 405
        return redirect(url_for("auth.login"))
    session[EPOCH] = end_sessions(int(current_user.get_id()))
    flash("Every other session of your account has been logged out.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/")
def root() -> ResponseReturnValue:
    """The site's root is the admin."""
    return redirect(url_for("admin.index"))
