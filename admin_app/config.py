"""Configuration classes, and the only module that reads environment variables (at call time, never at import)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from flask_activity import ConfigError  # one error for every setting, the app's and the extension's

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class Config:
    """Defaults shared by every environment. Environment variables override them (see from_environment)."""

    APP_ENV = "development"
    APP_NAME = "Bucketlist Admin"  # the navbar, and the sender's name in delivery emails
    INSTANCE_DIR = str(BASE_DIR / "instance")
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: SQLite in INSTANCE_DIR
    SECRET_KEY: str | None = None
    APP_TIMEZONE = "UTC"
    # 50 rows per multi-row INSERT: psycopg parses a statement's placeholders in Python and caches that only
    # for short statements, so 1,000-row statements (the default) insert ~35% slower on PostgreSQL (bench/hooks.py).
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"insertmanyvalues_page_size": 50}
    # Seconds a pooled connection may sit unused before it is pinged at checkout (dbutil.ping_when_idle; 0: ping
    # at every checkout, as pool_pre_ping does). Ended connections (a database restart) are replaced either way.
    DATABASE_PING_IDLE = 10.0
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600  # a working day, not a month
    SESSION_MAX_AGE = 8 * 3600  # seconds from login: never extended by use (auth.session_refusal)
    SESSION_IDLE_TIMEOUT = 3600  # seconds without a request that end a session
    # The cookie is sent again only when the session changed (login, a flash, the last-seen time each minute),
    # not on every response: re-signing it each request cost ~0.45 ms, and its lifetime never moves with use.
    SESSION_REFRESH_EACH_REQUEST = False
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    # Cost of hashing passwords; tests lower it so fixtures are fast.
    PASSWORD_METHOD = "scrypt"
    EXPORT_CHUNK_SIZE = 1000
    DASHBOARD_COUNT_CAP = 1000  # the dashboard's counters show "1,000+" beyond this (an exact count on request)
    # Seconds the dashboard chart's past days may be old (a process's own count, or the shared counts below) before
    # they are counted again; 0: count every time.
    DASHBOARD_CHART_TTL = 300
    # Seconds between the scheduler's counts of the past days every web process reads (a small table of quarter
    # hours, so a fresh process's first chart counts only today); 0: no shared table, each process counts its own.
    DASHBOARD_COUNTS_REFRESH = 120
    REPORTS_DIR: str | None = None  # None: INSTANCE_DIR/reports
    REPORT_CHUNK_SIZE = 10_000
    REPORT_RUN_TIMEOUT = 6 * 3600  # a 'running' row older than this, from a dead process, is marked failed
    REPORT_CATCH_UP = "run"  # after downtime: 'run' missed periods, or 'mark' them missed
    REPORTS_DATABASE_URL: str | None = None  # where reports read (a read replica); None: the main database
    REPORT_STATEMENT_TIMEOUT = 0  # seconds a report's query may run on PostgreSQL; 0: no limit
    REPORT_MODULES = "reports.builtin"  # the report definition modules, comma-separated (importable names)
    METRICS_ENABLED = False  # True: Prometheus metrics from the signals, at /metrics
    METRICS_TOKEN: str | None = None  # bearer token for scrapers; None: admins only
    PROMETHEUS_MULTIPROC_DIR: str | None = None  # shared folder when several processes report metrics
    # Login attempts (POST /login) allowed per account (the email as typed, trimmed and lower-cased) and per client
    # address, in Flask-Limiter's notation. Every attempt counts, so a burst of guesses is refused before any hashing.
    RATELIMIT_ENABLED = True
    LOGIN_RATE_LIMIT_ACCOUNT = "5 per minute"
    LOGIN_RATE_LIMIT_ADDRESS = "20 per minute"
    # None: a SQLite file in INSTANCE_DIR (ratelimits.db), shared by every worker process on this machine (so
    # `manage.py run` uses every core); memory:// counts in each process; redis://host:6379 across machines.
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_STRATEGY = "moving-window"  # "5 per minute" means any 60 s, not twice 5 around a minute boundary
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # Redis down: count in memory per process rather than fail logins
    # What one web request may cost (docs/RELIABILITY.md). A body over MAX_CONTENT_LENGTH bytes is refused (413)
    # before it is read; so are query strings, search words and list filters over their caps (400, saying the cap).
    MAX_CONTENT_LENGTH = 1024 * 1024
    MAX_QUERY_STRING_BYTES = 8192
    MAX_SEARCH_WORDS = 20
    MAX_FILTERS = 20
    # Seconds of database time per web request (PostgreSQL statement_timeout, SQLite an interrupt); 0: no limit.
    # The CLI and the report runner are not bound by it (REPORT_STATEMENT_TIMEOUT bounds reports).
    WEB_STATEMENT_TIMEOUT = 10.0
    # Seconds `manage.py run` keeps a connection whose client stopped reading (a stalled download) before closing it.
    EXPORT_SEND_TIMEOUT = 60
    EXPORT_CONCURRENCY = 4  # CSV exports written at once per process; more are refused (503) so pages keep threads


class DevelopmentConfig(Config):  # no HSTS_SECONDS: a browser would refuse http://127.0.0.1 for a year
    pass


class ProductionConfig(Config):
    APP_ENV = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_SECONDS = 365 * 24 * 3600  # browsers then refuse plain HTTP for this host (a year, as browsers expect)


class TestConfig(Config):
    APP_ENV = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    PASSWORD_METHOD = "pbkdf2:sha256:1000"
    RATELIMIT_ENABLED = False  # tests log in many times a minute; tests/security/ turn it on where they need it
    RATELIMIT_STORAGE_URI = "memory://"  # each test app counts alone (a shared file would carry counts across tests)
    REPORT_RUN_NOW_WAIT = 30  # tests read Run now's outcome at once; tests/reporting/test_run_now.py sets 0


_CLASSES = {"development": DevelopmentConfig, "production": ProductionConfig, "testing": TestConfig}


def load_config(app: Flask, config: type[Config] | dict[str, Any] | None) -> None:
    """Class defaults, then environment variables, then an explicit dict (tests) win, in that order.

    Fills in what depends on other settings (the SQLite file, the reports folder, the reports bind, a
    development SECRET_KEY) and raises ConfigError for anything unsafe or unusable.
    """
    env_name = config.get("APP_ENV") if isinstance(config, dict) else None
    base = config if isinstance(config, type) else config_from_env(env_name)
    app.config.from_object(base)
    if not isinstance(config, dict):
        app.config.update(from_environment())
    else:
        app.config.update(config)
    app.config["APP_ENV"] = base.APP_ENV  # the class decides; no case variant can dodge production checks
    instance = Path(app.config["INSTANCE_DIR"])
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'app.db'}"
        instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("REPORTS_DIR"):
        app.config["REPORTS_DIR"] = str(instance / "reports")
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = f"sqlite:///{instance.resolve() / 'ratelimits.db'}"
    check_database_url("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    if app.config.get("REPORTS_DATABASE_URL"):
        check_database_url("REPORTS_DATABASE_URL", app.config["REPORTS_DATABASE_URL"])
    check_timezone(app.config["APP_TIMEZONE"])
    check_metrics(app.config)
    if app.config.get("REPORTS_DATABASE_URL"):  # a Flask-SQLAlchemy bind that only the report runner uses
        app.config["SQLALCHEMY_BINDS"] = {**(app.config.get("SQLALCHEMY_BINDS") or {}),
                                          "reports": app.config["REPORTS_DATABASE_URL"]}
    if not app.config.get("SECRET_KEY"):
        if app.config["APP_ENV"] == "production":
            raise ConfigError("SECRET_KEY must be set when APP_ENV=production "
                              "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
        app.config["SECRET_KEY"] = instance_secret(instance)
    check_debug(app.config)  # production refuses debug mode (FLASK_DEBUG, DEBUG) rather than start with it
    check_rate_limits(app.config)
    if float(app.config.get("WEB_STATEMENT_TIMEOUT") or 0) > MAX_STATEMENT_TIMEOUT:
        raise ConfigError(f"WEB_STATEMENT_TIMEOUT must be at most {MAX_STATEMENT_TIMEOUT} seconds (PostgreSQL's "
                          "largest statement_timeout); 0 means no limit")


#: PostgreSQL's largest statement_timeout, in seconds (2**31 - 1 ms).
MAX_STATEMENT_TIMEOUT = 2_147_483


def instance_secret(instance_dir: Path) -> str:
    """A random key kept in instance/ so development sessions survive restarts; never shipped.

    Written to a private temporary file and linked into place, so no reader ever sees a
    partial key or a file readable by others.
    """
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / "secret_key"
    if not path.exists():
        tmp = instance_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # fails if another process won the race; then use its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def config_from_env(name: str | None = None) -> type[Config]:
    """Pick the config class named by ``name``, else by APP_ENV (development by default)."""
    name = (name or _env("APP_ENV", "development") or "development").lower()
    if name not in _CLASSES:
        raise ConfigError(f"APP_ENV must be one of {', '.join(_CLASSES)}, not {name!r}")
    return _CLASSES[name]


def from_environment() -> dict[str, Any]:
    """Settings given by environment variables now (DATABASE_URL, SECRET_KEY, APP_TIMEZONE, INSTANCE_DIR, ...)."""
    names = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI", "SECRET_KEY": "SECRET_KEY",
             "APP_TIMEZONE": "APP_TIMEZONE", "INSTANCE_DIR": "INSTANCE_DIR", "REPORTS_DIR": "REPORTS_DIR",
             "REPORT_CATCH_UP": "REPORT_CATCH_UP", "METRICS_TOKEN": "METRICS_TOKEN",
             "REPORTS_DATABASE_URL": "REPORTS_DATABASE_URL", "REPORT_MODULES": "REPORT_MODULES",
             "PROMETHEUS_MULTIPROC_DIR": "PROMETHEUS_MULTIPROC_DIR",
             "LOGIN_RATE_LIMIT_ACCOUNT": "LOGIN_RATE_LIMIT_ACCOUNT",
             "LOGIN_RATE_LIMIT_ADDRESS": "LOGIN_RATE_LIMIT_ADDRESS",
             "RATELIMIT_STORAGE_URI": "RATELIMIT_STORAGE_URI", "SMTP_URL": "SMTP_URL", "MAIL_FROM": "MAIL_FROM",
             "ACTIVITY_BASE_URL": "ACTIVITY_BASE_URL", "APP_NAME": "APP_NAME"}
    out: dict[str, Any] = {key: _env(var) for var, key in names.items() if _env(var) is not None}
    timeout = _env("REPORT_STATEMENT_TIMEOUT")
    if timeout is not None:
        if not timeout.isdigit():
            raise ConfigError(f"REPORT_STATEMENT_TIMEOUT must be a whole number of seconds, not {timeout!r}")
        out["REPORT_STATEMENT_TIMEOUT"] = int(timeout)
    out.update(_request_limits())
    enabled = _env("METRICS_ENABLED")
    if enabled is not None:
        out["METRICS_ENABLED"] = parse_bool("METRICS_ENABLED", enabled)
    for flag in ("WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_PRIVATE"):
        given = _env(flag)
        if given is not None:
            out[flag] = parse_bool(flag, given)
    limited = _env("RATELIMIT_ENABLED")
    if limited is not None:
        out["RATELIMIT_ENABLED"] = parse_bool("RATELIMIT_ENABLED", limited)
    return out


#: Request limits read from the environment: name -> (type, least value). A cap of 0 would refuse every request;
#: a timeout of 0 means none.
REQUEST_LIMITS: dict[str, tuple[type, float]] = {
    "MAX_CONTENT_LENGTH": (int, 1), "MAX_QUERY_STRING_BYTES": (int, 1), "MAX_SEARCH_WORDS": (int, 1),
    "MAX_FILTERS": (int, 1), "EXPORT_SEND_TIMEOUT": (int, 1), "EXPORT_CONCURRENCY": (int, 1),
    "WEB_STATEMENT_TIMEOUT": (float, 0), "SESSION_MAX_AGE": (int, 60), "SESSION_IDLE_TIMEOUT": (int, 60),
    "DATABASE_PING_IDLE": (float, 0), "DASHBOARD_COUNTS_REFRESH": (float, 0),
    # Deliveries (flask_activity.delivery; defaults in flask_activity.state.DEFAULTS).
    "SMTP_TIMEOUT": (float, 0.1), "WEBHOOK_TIMEOUT": (float, 0.1), "DELIVERY_MAX_ATTEMPTS": (int, 1),
    "DELIVERY_RETRY_WINDOW": (float, 0), "DELIVERY_RETRY_BASE": (float, 0), "DELIVERY_PAUSE_AFTER": (int, 1),
    "DELIVERY_SETTLE_SECONDS": (float, 0), "DIGEST_MAX_EVENTS": (int, 1), "DIGEST_GZIP_OVER": (int, 0),
    "REPORT_ATTACH_MAX_BYTES": (int, 0), "REPORT_LINK_MAX_AGE": (int, 60),
    "REPORT_RUN_NOW_WORKERS": (int, 1), "REPORT_RUN_NOW_QUEUE": (int, 1), "REPORT_RUN_NOW_WAIT": (float, 0)}


def _request_limits() -> dict[str, Any]:
    """REQUEST_LIMITS given in the environment; a value that is not a number, or is too small, raises ConfigError."""
    out: dict[str, Any] = {}
    for name, (kind, least) in REQUEST_LIMITS.items():
        text = _env(name)
        if text is None:
            continue
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not least <= value < float("inf"):
            what = "a whole number" if kind is int else "a number of seconds"
            raise ConfigError(f"{name} must be {what}, at least {least:g}, not {text!r}")
        out[name] = value
    return out


def parse_bool(name: str, text: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case); anything else raises ConfigError."""
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {text!r}")


MIN_TOKEN_LENGTH = 16


def check_metrics(config: dict[str, Any]) -> None:
    """Raise ConfigError for a guessable METRICS_TOKEN or a missing multiprocess folder."""
    token = config.get("METRICS_TOKEN")
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"METRICS_TOKEN must be at least {MIN_TOKEN_LENGTH} characters "
                          "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    folder = config.get("PROMETHEUS_MULTIPROC_DIR")
    if config.get("METRICS_ENABLED") and folder and not Path(folder).is_dir():
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={folder!r} is not a folder; create it (empty) before starting")


def check_debug(config: dict[str, Any]) -> None:
    """Refuse debug mode in production, however it was asked for (FLASK_DEBUG, ``flask run --debug``, DEBUG).

    The Werkzeug debugger runs any Python a visitor types into a traceback page; ignoring the
    setting would still let ``flask run --debug`` start the debugger around this app.
    """
    if config.get("APP_ENV") == "production" and config.get("DEBUG"):
        raise ConfigError("debug mode is not allowed when APP_ENV=production (unset FLASK_DEBUG and DEBUG, "
                          "and serve with `manage.py run`, not `flask run --debug`)")


def check_rate_limits(config: dict[str, Any]) -> None:
    """Raise ConfigError for a login limit Flask-Limiter cannot parse (the storage is checked when it is built)."""
    if not config.get("RATELIMIT_ENABLED"):
        return
    from limits import parse_many

    for name in ("LOGIN_RATE_LIMIT_ACCOUNT", "LOGIN_RATE_LIMIT_ADDRESS"):
        text = config.get(name)
        try:
            if not text or not parse_many(text):
                raise ValueError(text)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a rate such as '5 per minute' or '20/minute;100/hour', "
                              f"not {text!r}") from exc


URL_EXAMPLES = "e.g. sqlite:////srv/app/app.db or postgresql+psycopg://user:password@host:5432/dbname"


def check_database_url(name: str, value: Any) -> None:
    """Raise ConfigError if SQLAlchemy cannot parse the URL in setting ``name`` or its driver is not installed.

    Checked without connecting: parse the URL, load its dialect, import the dialect's DBAPI module. The message
    never repeats the URL, which may hold a password.
    """
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(f"{name} is not a database URL: write dialect+driver://user:password@host:port/dbname "
                          f"({URL_EXAMPLES})") from None
    except ValueError:  # int() of the port
        raise ConfigError(f"{name} has a port that is not a number ({URL_EXAMPLES})") from None
    if url.port is not None and not 0 < url.port < 65536:
        raise ConfigError(f"{name} has port {url.port}; a port is between 1 and 65535")
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        hint = "postgresql+psycopg://..." if url.get_backend_name() == "postgres" else URL_EXAMPLES
        raise ConfigError(f"{name} names a database or driver SQLAlchemy does not know, {url.drivername!r} "
                          f"(use {hint})") from None
    if dialect.is_async:
        raise ConfigError(f"{name} names an asyncio driver, {url.drivername!r}, which this app cannot use "
                          f"({URL_EXAMPLES})")
    try:
        dialect.import_dbapi()
    except NotImplementedError:  # a third-party dialect with only the pre-2.0 dbapi(): the engine will say
        pass
    except ImportError as exc:
        raise ConfigError(f"{name} uses {url.drivername}:// but its Python driver is not installed (no module "
                          f"named {exc.name!r}): install it, or use a driver that is ({URL_EXAMPLES})") from None


def check_timezone(name: str) -> ZoneInfo:
    """Return the zone for an IANA name or raise ConfigError saying what to set."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"APP_TIMEZONE={name!r} is not an IANA time zone (try 'UTC' or 'Europe/Paris')") from exc
