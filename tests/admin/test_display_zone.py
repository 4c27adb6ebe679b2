"""Each user's own display time zone: stored on the user, chosen on /admin/settings/, used for every time shown.

NULL means APP_TIMEZONE; outside a request (CLI, scheduler, reports) it is always APP_TIMEZONE. Choosing a zone
is a display preference, not audited data: it leaves the user's audit columns alone and is no feed event.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask_login import login_user
from sqlalchemy import column, insert, inspect, select, table, text

from admin_app import create_app
from admin_app.accounts import set_timezone
from admin_app.extensions import db
from admin_app.models import User
from flask_activity.reporting.models import ActivityModel, ReportRun
from flask_activity.timefmt import app_zone, display_zone, format_local, zone_names
from tests import factories
from tests.conftest import _config, fresh_database, logged_in
from tests.security.test_redirects import EVIL, HARMLESS_IF_ECHOED, off_host

UTC = UTC
AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 19:00 JST, 11:00 CET
SHOWN = {"UTC": "2026-03-02 10:00:00 UTC", "Asia/Tokyo": "2026-03-02 19:00:00 JST",
         "Europe/Paris": "2026-03-02 11:00:00 CET"}
PAGE = "/admin/settings/"
PREVIOUS_HEAD = "9b3e6f2a1c47"


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    return {"APP_TIMEZONE": "UTC", "REPORTS_DIR": str(tmp_path / "reports")}


def zone_of(user: User) -> str | None:
    """The user's committed zone, read on a connection of its own."""
    with db.engine.connect() as conn:
        return conn.execute(select(User.__table__.c.timezone).where(User.__table__.c.id == user.id)).scalar_one()


def user_row(user: User) -> tuple:
    with db.engine.connect() as conn:
        return tuple(conn.execute(select(User.__table__).where(User.__table__.c.id == user.id)).one())


def event_at(admin_user: User) -> None:
    """One item created (and so one feed event) at AT, and a bucketlist created a day earlier."""
    bl = factories.bucketlist(admin_user, actor=admin_user)
    bl.created_at = bl.updated_at = AT - timedelta(days=1)
    db.session.commit()
    factories.item(bl, "Zone probe", actor=admin_user, created_at=AT, updated_at=AT)


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


# --- which zone is in effect ----------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"APP_TIMEZONE": "Europe/Paris"}])
def test_display_zone_is_the_logged_in_users_own_else_app_timezone(app, admin_user, viewer_user):
    set_timezone(admin_user.id, "Asia/Tokyo")
    db.session.expire_all()
    with app.test_request_context("/admin/"):
        assert display_zone().key == "Europe/Paris"  # anonymous
        login_user(db.session.get(User, admin_user.id))
        assert display_zone().key == "Asia/Tokyo"
        assert format_local(AT) == SHOWN["Asia/Tokyo"]
    with app.test_request_context("/admin/"):
        login_user(db.session.get(User, viewer_user.id))  # NULL: the app's zone
        assert display_zone().key == "Europe/Paris"
        assert app_zone().key == "Europe/Paris"


def test_outside_a_request_the_zone_is_always_app_timezone(app, admin_user):
    set_timezone(admin_user.id, "Asia/Tokyo")
    assert display_zone().key == "UTC"  # the CLI, the scheduler and report runs have no user
    assert format_local(AT) == SHOWN["UTC"]


@pytest.mark.parametrize("stored", ["Mars/Olympus_Mons", "Europe", "../etc"])  # Europe: a folder of the tz database
def test_a_stored_zone_the_tz_database_does_not_know_falls_back_to_app_timezone(app, admin_user, admin_client,
                                                                                stored):
    with db.engine.begin() as conn:  # e.g. a name a tzdata update removed, or a hand edit
        conn.execute(text("UPDATE users SET timezone = :tz WHERE id = :id"), {"tz": stored, "id": admin_user.id})
    event_at(admin_user)
    assert SHOWN["UTC"] in page(admin_client, "/admin/activity/")
    settings = page(admin_client, PAGE)
    assert "Times are shown to you in <strong>UTC</strong>" in settings and stored in settings
    assert f'value="{stored}"' not in settings  # not offered (the select falls back to its first option)


# --- times shown in the user's zone, with the zone named --------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Tokyo", None])
def test_users_zone_changes_the_times_shown_on_every_page_and_names_the_zone(app, admin_user, admin_client, zone):
    set_timezone(admin_user.id, zone)
    event_at(admin_user)
    run = ReportRun(report="items", params={}, period_start=AT, period_end=AT + timedelta(days=1), started_at=AT,
                    finished_at=AT, status="failed", error="probe")
    db.session.add(run)
    db.session.commit()
    item_id = db.session.scalar(text("SELECT id FROM items WHERE title = 'Zone probe'"))
    key = zone or "UTC"
    other = "UTC" if zone else "Asia/Tokyo"

    pages = {
        "dashboard": page(admin_client, "/admin/"),
        "feed": page(admin_client, "/admin/activity/"),
        "reports": page(admin_client, "/admin/reports/"),
        "items list": page(admin_client, "/admin/items/"),
        "item details": page(admin_client, f"/admin/items/details/?id={item_id}"),
    }
    for name, html in pages.items():
        assert SHOWN[key] in html, name
        assert SHOWN[other] not in html, name
        # The navbar names the zone in effect and links (a plain, keyboard-reachable link) to the settings.
        assert re.search(r'<a class="nav-link[^"]*display-zone" href="/admin/settings/\?next=[^"]+"', html), name
        assert f'<span class="sr-only">Times in</span> {key}</a>' in html, name
    assert f"Time ({key})" in pages["feed"] and f"Times in {key}" in pages["dashboard"]
    assert f'"Today" starts at midnight {key}' in pages["dashboard"]
    assert f"Started ({key})" in pages["reports"] and f"Period ({key})" in pages["reports"]
    assert f"Times in {key}." in pages["items list"]


def test_the_dashboards_today_starts_at_midnight_in_the_users_zone(app, admin_user, admin_client):
    set_timezone(admin_user.id, "Asia/Tokyo")
    html = page(admin_client, "/admin/")
    since = parse_qs(urlsplit(re.search(r'href="(/admin/activity/\?[^"]*since=[^"]+)"', html).group(1)
                              .replace("&amp;", "&")).query)["since"][0]
    assert datetime.fromisoformat(since).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "00:00"


@pytest.mark.parametrize("zone, ids", [("Asia/Tokyo", ["late probe"]), (None, [])])
def test_feed_reads_typed_dates_in_the_users_zone(app, admin_user, admin_client, zone, ids):
    """since=2026-03-03 00:00 is 15:00 UTC on the 2nd in Tokyo: the 15:30 UTC event is in, the 14:30 one is not."""
    set_timezone(admin_user.id, zone)
    bl = factories.bucketlist(admin_user)
    for title, at in (("early probe", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
                      ("late probe", datetime(2026, 3, 2, 15, 30, tzinfo=UTC))):
        factories.item(bl, title, created_at=at, updated_at=at)
    query = {"since": "2026-03-03 00:00", "until": "2026-03-03 12:00", "model": "item"}
    events = admin_client.get("/admin/activity/feed.json", query_string=query).get_json()["events"]
    assert [e["label"] for e in events] == ids
    html = page(admin_client, "/admin/activity/?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert "early probe" not in html and ("late probe" in html) == bool(ids)
    assert f"Dates are read and shown in {zone or 'UTC'}" in html


def test_json_and_csv_keep_utc_whatever_the_users_zone(app, admin_user, admin_client):
    set_timezone(admin_user.id, "Asia/Tokyo")
    event_at(admin_user)
    events = admin_client.get("/admin/activity/feed.json?model=item").get_json()["events"]
    assert events[0]["at"] == "2026-03-02T10:00:00+00:00"
    assert "2026-03-02T10:00:00" in admin_client.get("/admin/activity/export.csv?model=item").get_data(as_text=True)


def test_run_now_periods_stay_in_the_reports_zone_not_the_users(app, admin_user, admin_client):
    set_timezone(admin_user.id, "Asia/Tokyo")
    response = admin_client.post_form("/admin/reports/run", {"report": "items", "period": "today"})
    assert response.status_code == 302
    run = db.session.scalars(select(ReportRun)).one()
    assert run.period_start.astimezone(UTC).strftime("%H:%M") == "00:00"  # the items report's zone is UTC
    assert run.period_end - run.period_start == timedelta(days=1)


# --- choosing it ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_any_logged_in_user_sets_their_own_zone_and_goes_back(app, make_user, role):
    user = make_user(f"{role}.tz@example.com", role)
    client = logged_in(app, user)
    response = client.post_form(PAGE, {"timezone": "Asia/Tokyo", "next": "/admin/activity/?model=item"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/activity/?model=item"
    assert zone_of(user) == "Asia/Tokyo"
    assert "Times are now shown in Asia/Tokyo." in page(client, "/admin/activity/")
    assert '<span class="sr-only">Times in</span> Asia/Tokyo</a>' in page(client, "/admin/")

    response = client.post_form(PAGE, {"timezone": ""})  # "App default (UTC)"
    assert response.status_code == 302 and response.headers["Location"] == PAGE  # no next: the settings page
    assert zone_of(user) is None


def test_settings_page_shows_the_zone_in_effect_the_app_default_and_every_zone(app, admin_user, admin_client):
    html = page(admin_client, PAGE + "?next=/admin/items/")
    assert "Times are shown to you in <strong>UTC</strong> (the app default)" in html
    assert '<option value="" selected>App default (UTC)</option>' in html
    assert 'name="csrf_token"' in html and '<input type="hidden" name="next" value="/admin/items/">' in html
    assert '<label for="timezone">Time zone</label>' in html
    offered = re.findall(r'<option value="([^"]+)"', html)
    assert set(offered) == set(zone_names()) and "localtime" not in offered
    assert 'style="' not in html  # CSP: no inline styles

    set_timezone(admin_user.id, "Pacific/Chatham")  # not a common zone: listed first, selected
    html = page(admin_client, PAGE)
    assert "Times are shown to you in <strong>Pacific/Chatham</strong>:" in html
    common = html.split('<optgroup label="Common">')[1]
    assert re.match(r'\s*<option value="Pacific/Chatham" selected>Pacific/Chatham \(UTC\+1[23]:45 now\)', common)
    assert html.count(" selected") == 1


def test_a_post_changes_only_the_posters_own_zone_whatever_it_names(app, admin_user, viewer_user, viewer_client):
    before = user_row(admin_user)
    response = viewer_client.post(PAGE + f"?id={admin_user.id}&user_id={admin_user.id}", data={
        "timezone": "Asia/Tokyo", "id": admin_user.id, "user_id": admin_user.id, "email": admin_user.email,
        "csrf_token": viewer_client.csrf()})
    assert response.status_code == 302
    assert zone_of(viewer_user) == "Asia/Tokyo"
    assert user_row(admin_user) == before


@pytest.mark.parametrize("choice", ["Mars/Olympus_Mons", "localtime", "../../../etc/passwd", "/etc/localtime",
                                    "europe/berlin", "x" * 5000, "UTC\x00", None])
def test_an_unknown_zone_is_400_with_a_message_and_nothing_saved(app, admin_user, admin_client, choice):
    set_timezone(admin_user.id, "Asia/Tokyo")
    before = user_row(admin_user)
    response = admin_client.post_form(PAGE, {} if choice is None else {"timezone": choice})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    if choice is None:
        assert "Choose a time zone" in body
    elif "\x00" not in choice:
        assert "Nothing was saved" in body and "is not a time zone" in body and "Traceback" not in body
        # the settings form again, the reason beside its field
        assert 'id="timezone-error"' in body and 'aria-invalid="true"' in body and 'class="settings-form"' in body
    assert user_row(admin_user) == before


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_a_post_without_a_valid_csrf_token_is_400_and_nothing_saved(app, viewer_user, viewer_client, token):
    data = {"timezone": "Asia/Tokyo"} | ({} if token is None else {"csrf_token": token})
    response = viewer_client.post(PAGE, data=data)
    assert response.status_code == 400 and "Form expired or forged" in response.get_data(as_text=True)
    assert zone_of(viewer_user) is None


def test_anonymous_is_sent_to_log_in_and_nothing_is_saved(app, client, viewer_user):
    response = client.get(PAGE + "?next=/admin/items/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/admin/settings/?next=/admin/items/"]
    response = client.post_form(PAGE, {"timezone": "Asia/Tokyo"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert zone_of(viewer_user) is None


def test_next_is_followed_only_when_it_is_a_path_on_this_host(app, admin_client):
    for evil in EVIL:
        location = admin_client.post_form(PAGE, {"timezone": "UTC", "next": evil}).headers["Location"]
        assert off_host(location) is None, (evil, location)
        if evil not in HARMLESS_IF_ECHOED:
            assert location == "/admin/", (evil, location)
        html = admin_client.get(PAGE, query_string={"next": evil}).get_data(as_text=True)
        assert 'name="next" value="/admin/"' in html or evil in HARMLESS_IF_ECHOED, evil


# --- not audited: no feed event, audit columns kept ------------------------------------------------------------


def test_setting_the_zone_keeps_the_audit_columns_and_makes_no_feed_event(app, admin_user, viewer_user,
                                                                          viewer_client, admin_client):
    columns = User.__table__.c
    audit = [columns.updated_at, columns.updated_by_id, columns.created_at, columns.created_by_id]
    with db.engine.connect() as conn:
        before = conn.execute(select(*audit).where(columns.id == viewer_user.id)).one()
    events_before = admin_client.get("/admin/activity/feed.json?model=user").get_json()["events"]

    assert viewer_client.post_form(PAGE, {"timezone": "Asia/Tokyo"}).status_code == 302
    assert zone_of(viewer_user) == "Asia/Tokyo"
    with db.engine.connect() as conn:
        assert conn.execute(select(*audit).where(columns.id == viewer_user.id)).one() == before
    events = admin_client.get("/admin/activity/feed.json?model=user").get_json()["events"]
    assert events == events_before and {e["action"] for e in events} == {"created"}


def test_an_admin_editing_a_user_keeps_that_users_zone(app, admin_user, viewer_user, admin_client):
    set_timezone(viewer_user.id, "Asia/Tokyo")
    response = admin_client.post_form(f"/admin/users/edit/?id={viewer_user.id}", {
        "email": viewer_user.email, "display_name": "Renamed", "role": "viewer", "active": "y"})
    assert response.status_code == 302
    assert zone_of(viewer_user) == "Asia/Tokyo"


# --- command line ---------------------------------------------------------------------------------------------


def test_create_user_takes_a_display_zone(app, runner):
    result = runner.invoke(args=["create-user", "tz@example.com", "--timezone", "Asia/Tokyo", "--password-stdin"],
                           input="long-enough-1\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User.timezone).where(User.email == "tz@example.com")) == "Asia/Tokyo"


def test_create_user_with_an_unknown_zone_exits_2_with_one_line_and_creates_nobody(app, runner):
    result = runner.invoke(args=["create-user", "tz@example.com", "--timezone", "Mars/Olympus_Mons",
                                 "--password-stdin"], input="long-enough-1\n")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: 'Mars/Olympus_Mons' is not a time zone")
    assert len(result.output.strip().splitlines()) == 1
    assert db.session.scalar(select(User).where(User.email == "tz@example.com")) is None


# --- schema ---------------------------------------------------------------------------------------------------


def test_models_match_the_migrations(app):
    """Autogenerate finds nothing to do: every model column (users.timezone too) is in a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), [db.metadata, ActivityModel.metadata]) == []
    column = {c["name"]: c for c in inspect(db.engine).get_columns("users")}["timezone"]
    assert column["nullable"] and column["type"].length == 64


def test_migration_adds_the_column_keeps_existing_users_and_downgrades(backend, tmp_path_factory):
    from flask_migrate import downgrade, upgrade

    with fresh_database(backend, tmp_path_factory) as url:  # its own: migrating down must not touch the session's
        other = create_app(_config(url))
        with other.app_context():
            directory = other.extensions["migrate"].directory
            downgrade(directory=directory, revision=PREVIOUS_HEAD)
            with db.engine.begin() as conn:  # a user from before the column (the model's other columns only)
                users = table("users", *(column(name) for name in ("email", "display_name", "role", "password_hash",
                                                                     "active", "created_at", "updated_at")))
                conn.execute(insert(users).values(email="old@example.com", display_name="Old", role="viewer",
                                                  password_hash="!", active=True, created_at=AT, updated_at=AT))
            upgrade(directory=directory)
            assert "timezone" in {c["name"] for c in inspect(db.engine).get_columns("users")}
            assert db.session.scalar(select(User.timezone).where(User.email == "old@example.com")) is None
            db.session.remove()
            downgrade(directory=directory, revision=PREVIOUS_HEAD)
            assert "timezone" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
            upgrade(directory=directory)
            assert "timezone" in {c["name"] for c in inspect(db.engine).get_columns("users")}
            db.session.remove()
            db.engine.dispose()
