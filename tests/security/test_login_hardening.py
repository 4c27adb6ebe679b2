"""Login hardening: rate limits per account and per address, and failures that cannot be told apart.

The limits are off in TestConfig (the rest of the suite logs in many times a minute); this module turns
them on with small numbers through the ``app_config`` fixture, and a test that needs other settings
passes them with ``@pytest.mark.parametrize("app_config", [...], indirect=True)``.
"""
from __future__ import annotations

import os
import re
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import werkzeug.security
from flask import Flask

import admin_app.auth
from admin_app import ConfigError, create_app
from admin_app.extensions import db
from flask_activity.testing import record_signals
from tests.conftest import PASSWORD, Client, _config
from tests.security.clients import is_logged_in, login_post

ACCOUNT_LIMIT = 3
ADDRESS_LIMIT = 6
LIMITED = {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT_ACCOUNT": f"{ACCOUNT_LIMIT} per minute",
           "LOGIN_RATE_LIMIT_ADDRESS": f"{ADDRESS_LIMIT} per minute"}
WRONG = "wrong-password-123"
_ALERT = re.compile(r'role="alert">([^<]*)<')


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return getattr(request, "param", LIMITED)


def attempt(client: Client, email: str, password: str = WRONG, addr: str | None = None) -> Any:
    """One login POST with a valid CSRF token, from ``addr`` (REMOTE_ADDR) if given."""
    environ = {"REMOTE_ADDR": addr} if addr else {}
    page = client.get("/login", environ_base=environ).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base=environ)


def retry_after(response: Any) -> int:
    value = response.headers.get("Retry-After", "")
    assert value.isdigit(), response.headers
    return int(value)


def assert_refused(response: Any) -> None:
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True)[:300])
    assert 1 <= retry_after(response) <= 60
    body = response.get_data(as_text=True)
    assert "Too many login attempts" in body and "seconds" in body
    assert "Traceback" not in body


class HashCounter:
    """Counts password-hash computations (werkzeug's one internal hashing function)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = werkzeug.security._hash_internal

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(werkzeug.security, "_hash_internal", counted)


@contextmanager
def worker_app(database_url: str, **settings: Any) -> Iterator[Flask]:
    """Another app on the test database with the limits on (a second gunicorn worker, say)."""
    worker = create_app({**_config(database_url), **LIMITED, **settings})
    worker.test_client_class = Client
    try:
        yield worker
    finally:
        with worker.app_context():
            db.engine.dispose()


# --- the limits ---------------------------------------------------------------------------


def test_attempt_past_the_account_limit_gets_429_with_retry_after(client, admin_user):
    for _ in range(ACCOUNT_LIMIT):
        assert attempt(client, admin_user.email).status_code == 401
    assert_refused(attempt(client, admin_user.email))


def test_even_the_right_password_is_refused_once_the_account_is_limited(app, admin_user):
    """Otherwise the limit would only slow guessing down, and a guess that is right would still get in."""
    c = app.test_client()
    for _ in range(ACCOUNT_LIMIT):
        attempt(c, admin_user.email)
    assert_refused(attempt(c, admin_user.email, PASSWORD))
    assert c.get("/admin/").status_code == 302


def test_account_limit_counts_the_email_as_login_reads_it(client, admin_user):
    """Case and surrounding spaces do not make a new account to guess against."""
    for variant in ("ADMIN@example.com", " admin@Example.COM ", "admin@example.com"):
        assert attempt(client, variant).status_code == 401
    assert_refused(attempt(client, "Admin@Example.Com"))


def test_a_limited_account_does_not_block_other_accounts(app, admin_user, viewer_user):
    c = app.test_client()
    for _ in range(ACCOUNT_LIMIT):
        attempt(c, admin_user.email, addr="10.0.0.1")
    assert_refused(attempt(c, admin_user.email, addr="10.0.0.1"))
    assert attempt(app.test_client(), viewer_user.email, PASSWORD, addr="10.0.0.2").status_code == 302


def test_account_limit_holds_across_client_addresses(client, admin_user):
    """A botnet spreading guesses over many addresses still gets ACCOUNT_LIMIT guesses per account."""
    for i in range(ACCOUNT_LIMIT):
        assert attempt(client, admin_user.email, addr=f"10.1.0.{i}").status_code == 401
    assert_refused(attempt(client, admin_user.email, addr="10.1.0.99"))


def test_address_limit_refuses_one_client_trying_many_accounts(app, admin_user):
    c = app.test_client()
    for i in range(ADDRESS_LIMIT):
        assert attempt(c, f"user{i}@example.com", addr="10.2.0.1").status_code == 401
    assert_refused(attempt(c, "someone.else@example.com", addr="10.2.0.1"))
    # another client address is not affected
    assert attempt(app.test_client(), admin_user.email, PASSWORD, addr="10.2.0.2").status_code == 302


def test_login_page_itself_is_never_limited(client):
    for _ in range(ADDRESS_LIMIT * 2):
        assert client.get("/login").status_code == 200


def test_refused_attempt_neither_reads_the_user_nor_hashes_the_password(client, admin_user, viewer_user,
                                                                         monkeypatch):
    for _ in range(ACCOUNT_LIMIT):
        attempt(client, admin_user.email)
    hashes = HashCounter(monkeypatch)
    lookups: list[str] = []
    real_find = admin_app.auth.find_user
    monkeypatch.setattr(admin_app.auth, "find_user", lambda email: lookups.append(email) or real_find(email))
    assert_refused(attempt(client, admin_user.email, PASSWORD))
    assert (hashes.calls, lookups) == (0, [])
    # control: an attempt that is not refused does both, so the counters above can see them
    assert attempt(client, viewer_user.email, addr="10.3.0.1").status_code == 401
    assert (hashes.calls, lookups) == (1, [viewer_user.email])


def test_refused_attempt_fires_login_failed_with_reason_rate_limited(client, admin_user):
    for _ in range(ACCOUNT_LIMIT):
        attempt(client, admin_user.email)
    with record_signals("login-failed", "login-succeeded") as fired:
        assert_refused(attempt(client, admin_user.email, PASSWORD, addr="10.4.0.1"))
    assert fired.names() == ["login-failed"]
    kwargs = fired.one("login-failed").kwargs
    assert kwargs == {"email": admin_user.email, "remote_addr": "10.4.0.1", "reason": "rate-limited"}


@pytest.mark.parametrize("app_config", [{**LIMITED, "LOGIN_RATE_LIMIT_ACCOUNT": "2 per 1 second"}], indirect=True)
def test_account_can_try_again_once_the_window_has_passed(client, admin_user):
    for _ in range(2):
        attempt(client, admin_user.email)
    refused = attempt(client, admin_user.email, PASSWORD)
    assert refused.status_code == 429 and retry_after(refused) == 1
    time.sleep(1.05)
    assert attempt(client, admin_user.email, PASSWORD).status_code == 302


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_limits_are_off_in_the_test_config_so_other_tests_can_log_in_freely(client, admin_user):
    for _ in range(ADDRESS_LIMIT + 2):
        assert attempt(client, admin_user.email).status_code == 401
    assert attempt(client, admin_user.email, PASSWORD).status_code == 302


def test_each_app_counts_on_its_own_limiter(app, admin_user, database_url):
    """Limiter state is per app (not a module-level instance): a new app does not inherit the counts."""
    for _ in range(ACCOUNT_LIMIT):
        attempt(app.test_client(), admin_user.email)
    assert_refused(attempt(app.test_client(), admin_user.email))
    with worker_app(database_url) as other:
        assert attempt(other.test_client(), admin_user.email, PASSWORD).status_code == 302
        assert other.extensions["login_limiter"] is not app.extensions["login_limiter"]


# --- Redis storage (several workers) ---------------------------------------------------------


def _redis_problem() -> str | None:
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis client is not installed (pip install -r requirements-dev.txt)"
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as exc:
        return f"no Redis server on 127.0.0.1:6379 ({exc})"
    return None


@pytest.fixture
def redis_url() -> str:
    problem = _redis_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires Redis for the shared-limit test: {problem}")
        pytest.skip(problem)
    return "redis://127.0.0.1:6379/0"


def test_workers_sharing_redis_share_the_account_limit(app, admin_user, database_url, redis_url):
    """Two apps standing in for two gunicorn workers: with Redis the attempts add up across them."""
    prefix = f"test-{uuid.uuid4().hex}"  # parallel test runs must not share counters (keys expire in a minute)
    with worker_app(database_url, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=prefix) as one, \
            worker_app(database_url, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=prefix) as two:
        statuses = [attempt((one if i % 2 else two).test_client(), admin_user.email).status_code
                    for i in range(ACCOUNT_LIMIT)]
        assert statuses == [401] * ACCOUNT_LIMIT
        assert_refused(attempt(one.test_client(), admin_user.email))
        assert_refused(attempt(two.test_client(), admin_user.email))


def test_workers_with_memory_storage_count_separately(app, admin_user, database_url):
    """The contrast that makes the Redis test meaningful (and why the README says redis:// for workers)."""
    with worker_app(database_url) as one, worker_app(database_url) as two:
        for i in range(ACCOUNT_LIMIT):
            attempt((one if i % 2 else two).test_client(), admin_user.email)
        assert attempt(one.test_client(), admin_user.email).status_code == 401


def test_unreachable_redis_falls_back_to_counting_in_memory(app, admin_user, database_url, redis_url):
    """Redis down must neither break logins (500) nor switch the limits off."""
    with worker_app(database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0") as worker:
        c = worker.test_client()
        for _ in range(ACCOUNT_LIMIT):
            assert attempt(c, admin_user.email).status_code == 401
        assert_refused(attempt(c, admin_user.email, PASSWORD))


# --- configuration ---------------------------------------------------------------------------


def _settings(tmp_path: Any, **extra: Any) -> dict[str, Any]:
    return {"INSTANCE_DIR": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "k" * 64,
            "APP_ENV": "development", **extra}


@pytest.mark.parametrize("setting", ["LOGIN_RATE_LIMIT_ACCOUNT", "LOGIN_RATE_LIMIT_ADDRESS"])
@pytest.mark.parametrize("value", ["lots", "", "5 per fortnight", "-1/minute"])
def test_unparseable_login_limit_is_refused_at_start(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=setting):
        create_app(_settings(tmp_path, **{setting: value}))


def test_unknown_limiter_storage_is_refused_at_start(tmp_path):
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        create_app(_settings(tmp_path, RATELIMIT_STORAGE_URI="carrier-pigeon://coop"))


def test_limits_are_on_by_default_outside_tests(tmp_path):
    app = create_app(_settings(tmp_path))
    assert app.config["RATELIMIT_ENABLED"] is True
    assert (app.config["LOGIN_RATE_LIMIT_ACCOUNT"], app.config["LOGIN_RATE_LIMIT_ADDRESS"]) == \
        ("5 per minute", "20 per minute")
    assert "login_limiter" in app.extensions


def test_limits_and_storage_are_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGIN_RATE_LIMIT_ACCOUNT", "7/hour")
    monkeypatch.setenv("LOGIN_RATE_LIMIT_ADDRESS", "30 per minute")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.setenv("RATELIMIT_ENABLED", "yes")
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("SECRET_KEY", "k" * 64)
    monkeypatch.delenv("APP_ENV", raising=False)
    app = create_app()
    assert (app.config["LOGIN_RATE_LIMIT_ACCOUNT"], app.config["LOGIN_RATE_LIMIT_ADDRESS"]) == \
        ("7/hour", "30 per minute")
    monkeypatch.setenv("RATELIMIT_ENABLED", "maybe")
    with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
        create_app()


# --- unknown email and wrong password look the same -----------------------------------------


def _alerts(response: Any) -> list[str]:
    return _ALERT.findall(response.get_data(as_text=True))


def _normalised(response: Any) -> str:
    """The page with what differs per request anyway (CSRF token, CSP nonce, typed email) blanked."""
    body = response.get_data(as_text=True)
    body = re.sub(r'value="[^"]*"', 'value=""', body)
    return re.sub(r'nonce="[^"]*"', 'nonce=""', body)


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_unknown_email_and_wrong_password_get_the_same_page(app, admin_user):
    wrong = attempt(app.test_client(), admin_user.email)
    unknown = attempt(app.test_client(), "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert _alerts(wrong) == _alerts(unknown) == ["Wrong email or password."]
    assert _normalised(wrong) == _normalised(unknown)
    assert sorted(wrong.headers.keys()) == sorted(unknown.headers.keys())


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_wrong_password_gives_401_and_no_session(client, admin_user):
    r = login_post(client, admin_user.email, WRONG)
    assert r.status_code == 401
    assert "Wrong email or password." in r.get_data(as_text=True)
    assert not is_logged_in(client)


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_inactive_user_cannot_log_in(client, make_user):
    user = make_user("sleepy@example.com", "admin")
    user.active = False
    db.session.commit()
    r = login_post(client, "sleepy@example.com")
    assert r.status_code == 401
    assert not is_logged_in(client)


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_soft_deleted_user_cannot_log_in(client, make_user):
    user = make_user("gone@example.com", "admin")
    user.soft_delete()
    db.session.commit()
    assert login_post(client, "gone@example.com").status_code == 401
    assert not is_logged_in(client)


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_unknown_email_costs_the_same_hash_work_as_a_wrong_password(client, admin_user, make_user, monkeypatch):
    no_password = make_user("nopass@example.com", "admin")
    no_password.password_hash = "!"  # an account whose password was never set
    db.session.commit()
    attempt(client, "warm-up@example.com")  # builds the dummy hash once per process
    hashes = HashCounter(monkeypatch)
    counts = {}
    for label, email in (("wrong password", admin_user.email), ("unknown email", "nobody@example.com"),
                         ("no password set", no_password.email)):
        before = hashes.calls
        assert attempt(client, email).status_code == 401
        counts[label] = hashes.calls - before
    assert counts == {"wrong password": 1, "unknown email": 1, "no password set": 1}


SLOW_HASH = "pbkdf2:sha256:150000"  # long enough (tens of ms) that hashing dominates a login


@pytest.mark.parametrize("app_config", [{"PASSWORD_METHOD": SLOW_HASH}], indirect=True)
def test_unknown_email_takes_about_as_long_as_a_wrong_password(client, make_user):
    """Coarse, generous bounds (the suite shares a busy machine); without the dummy hash the ratio was 0.15."""
    user = make_user("timed@example.com", "viewer")
    assert user.password_hash.startswith(SLOW_HASH)
    attempt(client, "warm-up@example.com")
    wrong, unknown = [], []
    for _ in range(5):  # interleaved, so drift in machine load hits both alike
        for email, times in ((user.email, wrong), ("nobody@example.com", unknown)):
            start = time.perf_counter()
            assert attempt(client, email).status_code == 401
            times.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(f"\nlogin medians: wrong password {statistics.median(wrong) * 1000:.1f} ms, "
          f"unknown email {statistics.median(unknown) * 1000:.1f} ms, ratio {ratio:.2f}")
    assert 1 / 3 < ratio < 3, (ratio, wrong, unknown)  # without the dummy hash: 0.15


# --- the SQLite file (every worker on one machine, the default) -------------------------------


def test_workers_sharing_a_sqlite_file_share_the_account_limit(app, admin_user, database_url, tmp_path):
    """Two apps standing in for two `manage.py run` workers, with the default kind of store: attempts add up."""
    shared = f"sqlite:///{tmp_path / 'ratelimits.db'}"
    with worker_app(database_url, RATELIMIT_STORAGE_URI=shared) as one, \
            worker_app(database_url, RATELIMIT_STORAGE_URI=shared) as two:
        statuses = [attempt((one if i % 2 else two).test_client(), admin_user.email).status_code
                    for i in range(ACCOUNT_LIMIT)]
        assert statuses == [401] * ACCOUNT_LIMIT
        assert_refused(attempt(one.test_client(), admin_user.email))
        assert_refused(attempt(two.test_client(), admin_user.email))


def _attempts(uri: str, key: str, tries: int, out: Any) -> None:
    from admin_app.ratelimit_store import SQLiteFileStorage

    store = SQLiteFileStorage(uri)
    out.put(sum(store.acquire_entry(key, 7, 60) for _ in range(tries)))


def test_processes_racing_on_the_file_never_allow_more_than_the_limit(tmp_path):
    """Four processes, ten attempts each, a limit of 7: exactly 7 succeed in all (the write lock makes counting
    and recording one step)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    uri = f"sqlite:///{tmp_path / 'race.db'}"
    procs = [ctx.Process(target=_attempts, args=(uri, "login/x", 10, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(results) == 7


def test_the_file_store_keeps_moving_and_fixed_windows(tmp_path):
    from admin_app.ratelimit_store import SQLiteFileStorage

    store = SQLiteFileStorage(f"sqlite:///{tmp_path / 'w.db'}")
    assert store.check() and store.get_moving_window("k", 2, 60)[1] == 0
    assert (tmp_path / "w.db").stat().st_mode & 0o777 == 0o600  # addresses and emails: this user's only
    assert store.acquire_entry("k", 2, 60) and store.acquire_entry("k", 2, 60) and not store.acquire_entry("k", 2, 60)
    assert not store.acquire_entry("other", 1, 60, amount=2)
    start, used = store.get_moving_window("k", 2, 60)
    assert used == 2 and start <= time.time()
    assert store.acquire_entry("short", 1, 0) and store.acquire_entry("short", 1, 0)  # an expiry of 0 keeps nothing
    assert store.incr("f", 60) == 1 and store.incr("f", 60, 2) == 3 and store.get("f") == 3
    assert store.get_expiry("f") > time.time()
    store.clear("k")
    assert store.get_moving_window("k", 2, 60)[1] == 0
    assert store.reset() >= 1 and store.get("f") == 0


def test_the_default_store_is_a_file_in_the_instance_folder_so_every_core_serves(tmp_path):
    from admin_app.cli.serve import default_workers, usable_cores

    app = create_app({k: v for k, v in _settings(tmp_path).items()})
    assert app.config["RATELIMIT_STORAGE_URI"] == f"sqlite:///{tmp_path.resolve() / 'ratelimits.db'}"
    assert default_workers(app.config) == usable_cores()
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI='sqlite://' cannot be used"):
        create_app(_settings(tmp_path, RATELIMIT_STORAGE_URI="sqlite://"))


def test_a_limit_file_that_cannot_be_opened_falls_back_to_memory_not_a_500(app, admin_user, database_url, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with worker_app(database_url, RATELIMIT_STORAGE_URI=f"sqlite:///{blocker / 'ratelimits.db'}") as worker:
        c = worker.test_client()
        statuses = [attempt(c, admin_user.email).status_code for _ in range(ACCOUNT_LIMIT)]
        assert statuses == [401] * ACCOUNT_LIMIT
        assert_refused(attempt(c, admin_user.email))
