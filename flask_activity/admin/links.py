"""Pages reached from a delivery's signed link, without a login: the signature in the URL is the authority.

One-click unsubscribe from a digest email (RFC 8058): a mail client POSTs to it directly (no CSRF token exists
there), and a person who opens it gets a page with one button. A report's file too large to attach: a signed link
that expires after REPORT_LINK_MAX_AGE.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template, request

from ..delivery.digest import read_unsubscribe_token
from ..delivery.models import Subscription
from ..delivery.report_delivery import link_run
from ..state import db
from .report_views import serve_run_file

bp = Blueprint("activity_links", __name__)


@bp.route("/activity/unsubscribe/<token>", methods=("GET", "POST"))
def unsubscribe(token: str) -> Any:
    found = read_unsubscribe_token(token)
    sub = db.session.get(Subscription, found[0]) if found else None
    if sub is None:
        return render_template("activity/unsubscribed.html", sub=None, done=False), 404
    if request.method == "POST":
        sub.email = False  # only this channel stops: the webhook and the in-app count stay
        db.session.commit()
        return render_template("activity/unsubscribed.html", sub=sub, done=True)
    return render_template("activity/unsubscribed.html", sub=sub, done=False, token=token)


@bp.route("/activity/reports/file/<token>")
def report_file(token: str) -> Any:
    run = link_run(token)
    if run is None:
        abort(404, description="This download link is not valid or has expired; the report's page has the file.")
    return serve_run_file(run)


def init_app(app: Flask) -> None:
    if "activity_links" in app.blueprints:
        return
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
