"""One-click unsubscribe from a digest email (RFC 8058): the link carries a signed token naming the subscription
and channel, so it works without a login; a mail client POSTs to it directly (no CSRF token exists there: the
signature is the authority), and a person who opens it gets a page with one button."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template, request

from ..delivery.digest import read_unsubscribe_token
from ..delivery.models import Subscription
from ..state import db

bp = Blueprint("activity_unsubscribe", __name__)


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


def init_app(app: Flask) -> None:
    if "activity_unsubscribe" in app.blueprints:
        return
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
