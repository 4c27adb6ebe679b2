"""Every error page and error answer: what a refused or failed request gets back, JSON or HTML.

Refusing bad input the same way everywhere: a 400 that says what to fix, never a 500.
"""
from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, TooManyRequests

from .dbutil import over_budget
from .extensions import login_manager

#: HTTP errors shown on the app's error page with Werkzeug's description.
PAGE_CODES = (400, 403, 404, 405, 409, 410)
#: Errors that mean the database is not answering (lost or refused connection, lock or statement timeout).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)
RETRY_AFTER = "30"  # seconds a client should wait after a 503

ErrorAnswer = tuple[Any, int] | tuple[Any, int, dict[str, str]]


def wants_json() -> bool:
    """True for the API's ``.json`` paths: their errors are ``{"error": message}``, not a page."""
    return request.path.endswith(".json")


def bad_request(message: str) -> Response:
    """400 with ``message``: JSON for the API's ``.json`` paths, the app's error page for people.

    A page rather than plain text, so a browser shows it styled, with a way back, and asks for no favicon.
    """
    if wants_json():
        response = jsonify(error=message)
    else:
        response = make_response(render_template("error.html", code=400, message=message))
    response.status_code = 400
    return response


def init_app(app: Flask) -> None:
    """Register every error handler on ``app``."""
    app.register_error_handler(CSRFError, csrf_error)
    for code in PAGE_CODES:
        app.register_error_handler(code, error_page)
    app.register_error_handler(413, too_large)
    app.register_error_handler(503, busy)
    app.register_error_handler(429, too_many_attempts)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, database_unavailable)


def csrf_error(exc: CSRFError) -> ErrorAnswer:
    """400 for a form whose CSRF token is missing, expired or forged: reloading the page gives a fresh one."""
    message = f"Form expired or forged: {exc.description} Reload the page and try again."
    return render_template("error.html", code=400, message=message), 400


def error_page(exc: HTTPException) -> ErrorAnswer:
    """The app's error page for a 400, 403, 404 or 405, with Werkzeug's description."""
    code = exc.code or 500
    return render_template("error.html", code=code, message=getattr(exc, "description", "")), code


def too_large(exc: RequestEntityTooLarge) -> ErrorAnswer:
    """413 for a body over MAX_CONTENT_LENGTH (refused before it is read) or a form over Flask's form limits,
    saying the limit."""
    config = current_app.config
    most = config.get("MAX_CONTENT_LENGTH")
    if most and (request.content_length is None or request.content_length > most):
        message = f"The request is larger than {most:,} bytes, the most this site accepts. Send less."
    else:
        message = (f"The form is larger than this site accepts (a field over {config['MAX_FORM_MEMORY_SIZE']:,} "
                   f"bytes, or over {config['MAX_FORM_PARTS']:,} fields). Send less.")
    if wants_json():
        return {"error": message}, 413
    return render_template("error.html", code=413, message=message), 413


def busy(exc: HTTPException) -> ErrorAnswer:
    """503 the app raised itself (too many exports at once): its description, and its Retry-After if it has one."""
    headers = {k: v for k, v in exc.get_headers() if k == "Retry-After"}
    message = exc.description or "The server is busy. Try again in a minute."
    if wants_json():
        return {"error": message}, 503, headers
    return render_template("error.html", code=503, message=message), 503, headers


def too_many_attempts(exc: TooManyRequests) -> ErrorAnswer:
    """429 for a login refused by its rate limit, saying how many seconds to wait (also as Retry-After)."""
    limiter = current_app.extensions.get("login_limiter")
    limit = limiter.current_limit if limiter is not None else None
    # window[0]: when the oldest counted attempt leaves the window (reset_at would round up a further second)
    wait = max(1, math.ceil(limit.window[0] - time.time())) if limit is not None else 60
    message = f"Too many login attempts. Wait {wait} seconds, then try again."
    headers = {"Retry-After": str(wait)}
    if wants_json():
        return {"error": message}, 429, headers
    return render_template("429.html", message=message, wait=wait), 429, headers


def database_unavailable(exc: Exception) -> ErrorAnswer:
    """503 with Retry-After: retrying later helps a lost connection or a timeout, so not a 500.

    The details (host, path, SQL) go to the log, never to the page. A statement stopped by the request's time
    budget (WEB_STATEMENT_TIMEOUT) says so instead: retrying the same request would not help, narrowing it does.
    """
    if over_budget(exc):
        return over_time_budget(exc)
    current_app.logger.error("database unavailable for %s %s", request.method, request.path, exc_info=exc)
    # Flask-Login's template context loads current_user: if the user was not loaded yet, rendering the page
    # would ask the database again. Render it as for an anonymous visitor (the session cookie is kept).
    g.setdefault("_login_user", login_manager.anonymous_user())
    message = "The database is not answering right now. Try again in a minute."
    headers = {"Retry-After": RETRY_AFTER}
    if wants_json():
        return {"error": message}, 503, headers
    return render_template("error.html", code=503, message=message), 503, headers


def over_time_budget(exc: Exception) -> ErrorAnswer:
    """503 for a query cancelled by the web request's time budget: which budget, and what to change."""
    seconds = current_app.config.get("WEB_STATEMENT_TIMEOUT") or 0
    current_app.logger.warning("query over the %gs budget for %s %s?%s", seconds, request.method, request.path,
                               request.query_string[:200].decode("latin-1"), exc_info=exc)
    g.setdefault("_login_user", login_manager.anonymous_user())  # as above: no further query for the page
    message = (f"The query took longer than {seconds:g} s, the limit for one page, and was stopped. "
               "Narrow the filters (fewer search words, a shorter period) and try again.")
    if wants_json():
        return {"error": message}, 503
    return render_template("error.html", code=503, message=message), 503
