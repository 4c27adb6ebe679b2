"""Subscriptions as data: what may be saved, checked in one place for the admin and the CLI; bad input names its
field and what to fix, and nothing is saved. The `subscription` and `deliveries` commands."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from admin_app.extensions import db
from flask_activity.delivery.models import Subscription
from flask_activity.delivery.subscriptions import (
    SubscriptionError,
    SubscriptionInput,
    cadence_cron,
    describe_cadence,
    save,
)
from tests import factories
from tests.delivery.helpers import items_at


@pytest.mark.parametrize(("given", "field", "says"), [
    ({"cadence": "cron", "cron": "61 * * * *"}, "cron", "cannot be read"),
    ({"cadence": "cron", "cron": "every day"}, "cron", "5 fields"),
    ({"cadence": "daily", "at": "25:00"}, "at", "HH:MM"),
    ({"cadence": "weekly", "weekday": "someday"}, "weekday", "choose one of"),
    ({"cadence": "fortnightly"}, "cadence", "choose one of"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ({"filters": {"model": ["spaceship"]}}, "model", "unknown model 'spaceship'"),
    ({"filters": {"action": ["exploded"]}}, "action", "unknown action"),
    ({"filters": {"actor": "nobody@example.com"}}, "actor", "no user"),
    ({"webhook_url": "http://example.com/hook"}, "webhook_url", "https://"),
    ({"name": "  "}, "name", "1 to 200 characters"),
    ({"email": False, "in_app": False}, "channels", "at least one channel"),
])
def test_bad_input_names_its_field_and_saves_nothing(app, admin_user, given, field, says):
    app.config["WEBHOOK_ALLOW_HTTP"] = False
    values = {"name": "watch", "email": True, **given}
    with pytest.raises(SubscriptionError) as info:
        save(admin_user, SubscriptionInput(**values))
    assert info.value.field == field and says in str(info.value)
    db.session.rollback()
    assert db.session.query(Subscription).count() == 0


def test_email_needs_smtp_and_an_address(app, admin_user):
    app.config["SMTP_URL"] = None
    with pytest.raises(SubscriptionError, match="set SMTP_URL"):
        save(admin_user, SubscriptionInput("watch", email=True))
    app.config["SMTP_URL"] = "smtp://127.0.0.1:25"
    nameless = SimpleNamespace(get_id=lambda: "99", email=None)  # a host whose accounts have no address (help desk)
    with pytest.raises(SubscriptionError, match="no email address"):
        save(nameless, SubscriptionInput("watch", email=True))


def test_cadences_become_cron_expressions_and_words():
    assert cadence_cron("live") == "* * * * *"
    assert cadence_cron("daily", at="07:05") == "5 7 * * *"
    assert cadence_cron("weekly", at="18:30", weekday="fri") == "30 18 * * fri"
    assert cadence_cron("cron", cron=" 15  8 * * mon-fri ") == "15 8 * * mon-fri"
    assert describe_cadence("5 7 * * *", "Europe/Berlin") == "daily at 07:05 (Europe/Berlin)"
    assert describe_cadence("30 18 * * fri", "UTC") == "weekly on fri at 18:30 (UTC)"
    assert describe_cadence("* * * * *", "UTC") == "as it happens (every minute)"


def test_the_cli_adds_lists_tests_pauses_and_removes_and_bad_input_exits_2(app, runner, admin_user, smtp):
    bad = runner.invoke(args=["subscription", "add", "x", "--as", admin_user.email, "--cadence", "cron",
                              "--cron", "99 * * * *"])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: --cron: ")
    unknown = runner.invoke(args=["subscription", "add", "x", "--as", "ghost@example.com"])
    assert unknown.exit_code == 2 and "--as: no user 'ghost@example.com'" in unknown.stderr

    added = runner.invoke(args=["subscription", "add", "Deleted items", "--as", admin_user.email, "--model", "item",
                                "--action", "deleted", "--email", "--cadence", "daily", "--at", "07:30",
                                "--timezone", "Europe/Berlin"])
    assert added.exit_code == 0, added.output
    assert "daily at 07:30 (Europe/Berlin)" in added.output
    sub = db.session.query(Subscription).one()
    assert sub.filters == {"model": ["item"], "action": ["deleted"]} and sub.schedule == "30 7 * * *"
    listed = runner.invoke(args=["subscription", "list", "--as", admin_user.email])
    assert "Deleted items" in listed.output and "active" in listed.output

    bucketlist = factories.bucketlist(admin_user)
    items_at(bucketlist, sub.email_cursor - timedelta(hours=1), 1)  # within the test's last day
    tested = runner.invoke(args=["subscription", "test", str(sub.id)])
    assert tested.exit_code == 0, tested.output
    assert f"email to {admin_user.email}: tested" in tested.output and len(smtp.messages) == 1
    db.session.refresh(sub)
    assert sub.email_cursor == sub.created_at  # a test moves nothing on

    assert runner.invoke(args=["subscription", "pause", str(sub.id)]).exit_code == 0
    db.session.refresh(sub)
    assert sub.paused_at is not None and sub.paused_reason == "paused by its owner"
    assert runner.invoke(args=["subscription", "resume", str(sub.id)]).exit_code == 0
    log = runner.invoke(args=["deliveries"])
    assert "tested" in log.output and admin_user.email in log.output
    assert runner.invoke(args=["deliveries", "--failed"]).output == ""
    assert runner.invoke(args=["subscription", "remove", str(sub.id)]).exit_code == 0
    missing = runner.invoke(args=["subscription", "pause", str(sub.id)])
    assert missing.exit_code == 2 and f"no subscription {sub.id}" in missing.stderr


def test_cron_expressions_read_as_words_in_their_zone():
    from flask_activity.timefmt import describe_cron

    assert describe_cron("15 0 * * *", "UTC") == "At 00:15, every day (UTC)"
    assert describe_cron("15 8 * * mon-fri", "Europe/Berlin") == "At 08:15, Monday through Friday (Europe/Berlin)"
    assert describe_cadence("15 8 * * mon-fri", "UTC") == "At 08:15, Monday through Friday (UTC)"
    assert describe_cron("not a cron", "UTC") == "cron not a cron (UTC)"
