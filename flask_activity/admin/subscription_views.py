"""My subscriptions: subscribe to what the feed shows, see what is new in the app, send a test, pause, resume,
delete, and the delivery log. Any reader may keep subscriptions of their own; an administrator sees everyone's.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import func, select

from .. import activity
from ..delivery import deliverer
from ..delivery.models import Delivery, Subscription
from ..delivery.subscriptions import (
    CADENCES,
    WEEKDAYS,
    SubscriptionError,
    SubscriptionInput,
    describe_cadence,
    load_owner,
    save,
    set_paused,
    window_filter,
)
from ..state import db, model_label, state
from ..timefmt import display_zone
from ..types import utcnow
from .access import ActivityAccessMixin, can_administer

UNSEEN_CAP = 99  # the navbar says "99+" beyond this: each in-app subscription's count stops there
LOG_LIMIT = 200


def describe_filters(filters: dict[str, Any]) -> str:
    """A subscription's filters in words: 'item, bucketlist; deleted; by ada@example.com'."""
    parts = [", ".join(model_label(m) for m in filters.get("model") or []) or "every model",
             ", ".join(filters.get("action") or []) or "every action"]
    actor = filters.get("actor")
    if actor == "system":
        parts.append("by the system")
    elif actor:
        owner = load_owner(str(actor))
        parts.append(f"by {getattr(owner, state().person, actor) if owner is not None else actor}")
    return "; ".join(parts)


def unseen(sub: Subscription, now: Any = None) -> int:
    """Events for ``sub`` since its owner last opened it in the app (capped at UNSEEN_CAP + 1)."""
    flt = window_filter(sub, sub.seen_cursor, now or utcnow())
    return min(sum(activity.count_events(flt, cap=UNSEEN_CAP).values()), UNSEEN_CAP + 1)


def paused_total() -> int:
    """How many of the current user's subscriptions are paused (the navbar warns)."""
    if not getattr(current_user, "is_authenticated", False):
        return 0
    return len(db.session.scalars(select(Subscription.id).where(
        Subscription.owner_key == str(current_user.get_id()), Subscription.paused_at.is_not(None))).all())


def unseen_total() -> int:
    """The navbar's number: new events in the current user's in-app subscriptions."""
    if not getattr(current_user, "is_authenticated", False):
        return 0
    subs = db.session.scalars(select(Subscription).where(Subscription.owner_key == str(current_user.get_id()),
                                                         Subscription.in_app.is_(True))).all()
    now = utcnow()
    return sum(unseen(s, now) for s in subs)


class SubscriptionsView(ActivityAccessMixin, BaseView):
    """/admin/subscriptions: readers manage their own subscriptions (POST included); administrators everyone's."""

    readers_post = True  # each handler lets a reader change only their own (_get)

    def _mine(self) -> str:
        return str(current_user.get_id())

    def _get(self, sub_id: int) -> Subscription:
        """The subscription if the current user owns it or administers; 404 otherwise (its existence included)."""
        sub = db.session.get(Subscription, sub_id)
        if sub is None or (sub.owner_key != self._mine() and not can_administer()):
            abort(404)
        return sub

    @expose("/")
    def index(self) -> Any:
        query = select(Subscription).order_by(Subscription.id)
        everyone = can_administer()
        if not everyone:
            query = query.where(Subscription.owner_key == self._mine())
        subs = db.session.scalars(query).all()
        latest = (select(func.max(Delivery.id)).where(Delivery.subscription_id.in_([s.id for s in subs]),
                                                      Delivery.test.is_(False))
                  .group_by(Delivery.subscription_id))  # one row per subscription, not its whole log
        last = {d.subscription_id: d for d in db.session.scalars(
            select(Delivery).where(Delivery.id.in_(latest)))} if subs else {}
        now = utcnow()
        rows = [{"sub": s, "filters": describe_filters(s.filters or {}),
                 "cadence": describe_cadence(s.schedule, s.timezone),
                 "channels": s.channels() + (["in the app"] if s.in_app else []),
                 "next": deliverer.next_fire(s, now) if s.channels() and s.paused_at is None else None,
                 "last": last.get(s.id), "unseen": unseen(s, now) if s.in_app else None,
                 "owner": load_owner(s.owner_key) if everyone else None} for s in subs]
        return self.render("activity/subscriptions.html", rows=rows, everyone=everyone, zone=display_zone(),
                           person=state().person, cap=UNSEEN_CAP)

    @expose("/new/", methods=("GET", "POST"))
    def new(self) -> Any:
        zone = display_zone()
        given = SubscriptionInput(name="", filters={k: request.args.getlist(k) if k != "actor" else
                                                    request.args.get(k, "") for k in ("model", "action", "actor")},
                                  timezone=zone.key, email=False)
        error: SubscriptionError | None = None
        if request.method == "POST":
            form = request.form
            given = SubscriptionInput(
                name=form.get("name", ""), filters={"model": form.getlist("model"), "action": form.getlist("action"),
                                                    "actor": form.get("actor", "")},
                cadence=form.get("cadence", "hourly"), at=form.get("at", "08:00"), weekday=form.get("weekday", "mon"),
                cron=form.get("cron", ""), timezone=form.get("timezone", zone.key), email="email" in form,
                webhook_url=form.get("webhook_url", ""), in_app="in_app" in form, send_empty="send_empty" in form)
            try:
                sub, secret = save(current_user, given)
            except SubscriptionError as exc:
                db.session.rollback()
                error = exc
            else:
                flash(f"Subscribed: {sub.name}, {describe_cadence(sub.schedule, sub.timezone)}.", "success")
                if secret:
                    return self.render("activity/subscription_secret.html", sub=sub, secret=secret)
                return redirect(url_for(".index"))
        page = self.render("activity/subscription_form.html", given=given, error=error, cadences=CADENCES,
                           weekdays=WEEKDAYS, models=sorted(activity.model_registry()), actions=activity.ACTIONS,
                           person=state().person, smtp=bool(current_app.config["SMTP_URL"]))
        return (page, 400) if error is not None else page

    @expose("/<int:sub_id>/")
    def detail(self, sub_id: int) -> Any:
        """What is new since the owner last opened it (opening it moves their cursor), and its deliveries."""
        sub = self._get(sub_id)
        now = utcnow()
        flt = window_filter(sub, sub.seen_cursor, now)
        page = activity.fetch_page(flt, 100)
        since = sub.seen_cursor
        if sub.owner_key == self._mine():
            sub.seen_cursor = now
            db.session.commit()
        log = db.session.scalars(select(Delivery).where(Delivery.subscription_id == sub.id)
                                 .order_by(Delivery.id.desc()).limit(50)).all()
        return self.render("activity/subscription.html", sub=sub, page=page, since=since, log=log,
                           zone=display_zone(), filters=describe_filters(sub.filters or {}),
                           cadence=describe_cadence(sub.schedule, sub.timezone),
                           feed_url=url_for("activity.index") + "?" + urlencode(activity.filter_args(flt), doseq=True))

    @expose("/<int:sub_id>/test/", methods=("POST",))
    def test(self, sub_id: int) -> Any:
        """Send the last day's events on each channel now (one attempt each, in this request)."""
        sub = self._get(sub_id)
        owner = load_owner(sub.owner_key)
        if not sub.channels():
            flash("This subscription has no email or webhook to test; it shows its events here.", "warning")
        for channel in sub.channels():
            try:
                d = deliverer.send_test(sub, channel, owner, utcnow())
            except SubscriptionError as exc:
                flash(f"Test by {channel}: {exc}", "error")
                continue
            flash(f"Test by {channel} to {d.target}: " + (f"sent ({d.events} events of the last day)."
                  if d.status == "tested" else f"failed: {d.error}"), "success" if d.status == "tested" else "error")
        return redirect(url_for(".detail", sub_id=sub.id))

    @expose("/<int:sub_id>/pause/", methods=("POST",))
    def pause(self, sub_id: int) -> Any:
        set_paused(self._get(sub_id), True)
        flash("Paused: nothing is sent until you resume it.", "success")
        return redirect(url_for(".index"))

    @expose("/<int:sub_id>/resume/", methods=("POST",))
    def resume(self, sub_id: int) -> Any:
        set_paused(self._get(sub_id), False)
        flash("Resumed: the next delivery covers everything since the last one.", "success")
        return redirect(url_for(".index"))

    @expose("/<int:sub_id>/delete/", methods=("POST",))
    def delete(self, sub_id: int) -> Any:
        sub = self._get(sub_id)
        db.session.delete(sub)
        db.session.commit()
        flash(f"Deleted the subscription {sub.name} and its delivery log.", "success")
        return redirect(url_for(".index"))

    @expose("/deliveries/")
    def deliveries(self) -> Any:
        """Every attempt: channel, target, status, code, error, events and response time; newest first."""
        query = select(Delivery, Subscription).join(Subscription).order_by(Delivery.id.desc()).limit(LOG_LIMIT)
        if not can_administer():
            query = query.where(Subscription.owner_key == self._mine())
        if request.args.get("failed") == "1":
            query = query.where(Delivery.status.in_(("failed", "lost", "test-failed")))
        rows = db.session.execute(query).all()
        return self.render("activity/deliveries.html", rows=rows, zone=display_zone(),
                           failed=request.args.get("failed") == "1")
