"""The subscription pages: subscribe from a filtered feed, bad input kept on the form with its error, a webhook
secret shown once, the navbar's count of new events and opening a subscription, and one-click unsubscribe."""
from __future__ import annotations

import html
import re

from admin_app.extensions import db
from flask_activity.delivery.digest import unsubscribe_token
from flask_activity.delivery.models import Subscription
from tests import factories
from tests.delivery.helpers import subscribe


def test_subscribe_from_a_filtered_feed_keeps_its_filters(app, admin_client, admin_user, viewer_user):
    feed = admin_client.get(f"/admin/activity/?model=item&action=deleted&actor={viewer_user.email}")
    link = html.unescape(re.search(r'href="([^"]+)">Subscribe</a>', feed.get_data(as_text=True)).group(1))
    assert link.startswith("/admin/subscriptions/new/?") and "model=item" in link and "action=deleted" in link
    form = admin_client.get(link).get_data(as_text=True)
    assert '<option value="item" selected>' in form and '<option value="deleted" selected>' in form
    assert f'value="{viewer_user.email}"' in form

    r = admin_client.post_form("/admin/subscriptions/new/", {
        "name": "Items the viewer deletes", "model": "item", "action": "deleted", "actor": viewer_user.email,
        "cadence": "daily", "at": "07:30", "timezone": "Europe/Berlin", "in_app": "y", "email": "y"})
    assert r.status_code == 302
    sub = db.session.query(Subscription).one()
    assert sub.filters == {"model": ["item"], "action": ["deleted"], "actor": str(viewer_user.id)}
    page = html.unescape(admin_client.get("/admin/subscriptions/").get_data(as_text=True))
    assert "Items the viewer deletes" in page and f"Items; deleted; by {viewer_user.email}" in page
    assert "daily at 07:30 (Europe/Berlin)" in page and "email, in the app" in page


def test_bad_input_is_a_400_with_the_form_kept_and_the_error_beside_its_field(app, admin_client):
    r = admin_client.post_form("/admin/subscriptions/new/", {"name": "Nightly", "cadence": "cron",
                                                             "cron": "0 25 * * *", "in_app": "y"})
    body = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 400
    assert 'id="cron-error"' in body and "cannot be read" in body and 'value="0 25 * * *"' in body
    assert 'value="Nightly"' in body and "Nothing was saved" in body
    assert db.session.query(Subscription).count() == 0


def test_a_webhook_secret_is_shown_once(app, admin_client):
    app.config.update(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True)
    r = admin_client.post_form("/admin/subscriptions/new/", {"name": "Hook", "cadence": "hourly",
                                                             "webhook_url": "http://127.0.0.1:9/hook"})
    secret = re.search(r"whsec_[0-9a-f]{64}", r.get_data(as_text=True))
    assert r.status_code == 200 and secret is not None
    listing = admin_client.get("/admin/subscriptions/").get_data(as_text=True)
    assert secret.group(0) not in listing and "whsec_" not in listing
    sub = db.session.query(Subscription).one()
    assert secret.group(0) not in str([getattr(sub, c.name) for c in Subscription.__table__.columns])


def test_the_navbar_counts_new_events_and_opening_the_subscription_clears_it(app, admin_client, admin_user):
    sub, _ = subscribe(admin_user, email=False, in_app=True, filters={"model": ["bucketlist"]})
    assert "badge-light\">0<" in admin_client.get("/admin/").get_data(as_text=True)
    factories.bucketlist(admin_user, "Seen in the app")
    factories.bucketlist(admin_user, "And another")
    home = admin_client.get("/admin/").get_data(as_text=True)
    assert "badge-warning\">2<" in home
    opened = admin_client.get(f"/admin/subscriptions/{sub.id}/").get_data(as_text=True)
    assert "Seen in the app" in opened and "And another" in opened
    assert "badge-light\">0<" in admin_client.get("/admin/").get_data(as_text=True)


def test_one_click_unsubscribe_stops_the_emails_and_a_forged_link_changes_nothing(app, client, admin_user):
    sub, _ = subscribe(admin_user, email=True)
    token = unsubscribe_token(sub.id, "email")
    page = client.get(f"/activity/unsubscribe/{token}")
    assert page.status_code == 200 and "Stop these emails" in page.get_data(as_text=True)
    forged = client.post(f"/activity/unsubscribe/{token[:-2]}xx")
    assert forged.status_code == 404
    db.session.refresh(sub)
    assert sub.email is True
    done = client.post(f"/activity/unsubscribe/{token}")  # as a mail client's one-click POST: no token, no login
    assert done.status_code == 200 and "Unsubscribed" in done.get_data(as_text=True)
    db.session.refresh(sub)
    assert sub.email is False


def test_the_list_shows_each_subscriptions_latest_delivery(app, admin_client, admin_user, smtp):
    from datetime import timedelta

    from flask_activity.delivery import deliverer
    from tests.delivery.helpers import items_at, minute_after

    sub, _ = subscribe(admin_user, send_empty=True)
    start = sub.email_cursor
    items_at(factories.bucketlist(admin_user), start + timedelta(milliseconds=1), 2)
    deliverer.tick(minute_after(start) + timedelta(seconds=1))  # 3 events (the bucketlist and 2 items)
    smtp.replies.append("550 No such user")
    deliverer.tick(minute_after(start, 2) + timedelta(seconds=1))  # the latest: failed
    page = html.unescape(admin_client.get("/admin/subscriptions/").get_data(as_text=True))
    row = page.split(sub.name)[1].split("</tr>")[0]
    assert "failed (email, 0 events)" in row and "550 No such user" in row and "sent (email" not in row
