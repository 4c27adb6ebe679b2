"""The app factory refuses unsafe configuration and fills in safe development defaults."""
from __future__ import annotations

import stat
from importlib.util import find_spec
from pathlib import Path

import pytest

from admin_app import ConfigError, create_app
from admin_app.config import DevelopmentConfig, ProductionConfig
from flask_activity.timefmt import display_zone

KEY = "k" * 64


def overrides(tmp_path: Path, **extra) -> dict:
    """A dict config that never touches the repository's instance/ or database."""
    return {"INSTANCE_DIR": str(tmp_path / "instance"), "SQLALCHEMY_DATABASE_URI": "sqlite://", **extra}


def production_class(tmp_path: Path, secret: str | None) -> type:
    class Production(ProductionConfig):
        SECRET_KEY = secret
        INSTANCE_DIR = tmp_path / "instance"
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    return Production


def session_cookie(app) -> str:
    """The Set-Cookie header of a page that stores a CSRF token in the session."""
    r = app.test_client().get("/login")
    assert r.status_code == 200
    cookies = [v for v in r.headers.getlist("Set-Cookie") if v.startswith(app.config["SESSION_COOKIE_NAME"] + "=")]
    assert len(cookies) == 1, r.headers
    return cookies[0]


# --- production ------------------------------------------------------------------------


def test_production_class_without_secret_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(production_class(tmp_path, None))
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.parametrize("secret", [None, ""])
def test_production_dict_without_secret_key_is_refused(tmp_path, secret):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(overrides(tmp_path, APP_ENV="production", SECRET_KEY=secret))
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_production_class_with_secret_key_starts_with_secure_cookies(tmp_path):
    app = create_app(production_class(tmp_path, KEY))
    assert app.config["SECRET_KEY"] == KEY
    assert app.debug is False
    cookie = session_cookie(app)
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_dict_with_secret_key_starts_with_secure_cookies(tmp_path):
    app = create_app(overrides(tmp_path, APP_ENV="production", SECRET_KEY=KEY))
    assert app.config["SECRET_KEY"] == KEY
    assert app.debug is False
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    cookie = session_cookie(app)
    assert "; Secure" in cookie and "; HttpOnly" in cookie


def test_development_session_cookie_is_not_marked_secure(tmp_path):
    # The contrast that makes the production tests meaningful: plain-HTTP development keeps working.
    app = create_app(overrides(tmp_path, APP_ENV="development", SECRET_KEY=KEY))
    assert "; Secure" not in session_cookie(app)


def test_unknown_app_env_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="APP_ENV"):
        create_app(overrides(tmp_path, APP_ENV="staging", SECRET_KEY=KEY))


# --- time zone -------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Not/AZone", "../../etc/passwd", "", "UTC+2"])
def test_invalid_app_timezone_is_refused(tmp_path, zone):
    with pytest.raises(ConfigError, match="APP_TIMEZONE"):
        create_app(overrides(tmp_path, SECRET_KEY=KEY, APP_TIMEZONE=zone))


def test_iana_app_timezone_is_accepted(tmp_path):
    app = create_app(overrides(tmp_path, SECRET_KEY=KEY, APP_TIMEZONE="Europe/Paris"))
    with app.app_context():
        assert display_zone().key == "Europe/Paris"


# --- database URL ----------------------------------------------------------------------

BAD_DATABASE_URLS = [  # (URL, what the one line says); every password is "secret", which no message may repeat
    ("not a url", "is not a database URL"),
    ("postgresql://user:secret@host:notaport/db", "port that is not a number"),
    ("postgresql://user:secret@host:70000/db", "between 1 and 65535"),
    ("mysql+nosuchdriver://user:secret@x/y", "'mysql+nosuchdriver'"),
    ("postgres://user:secret@host/db", "postgresql+psycopg://"),
    ("postgresql+psycopg_async://user:secret@host/db", "asyncio driver"),
    pytest.param("oracle://user:secret@x/y", "no module named 'oracledb'",
                 marks=pytest.mark.skipif(find_spec("oracledb") is not None, reason="oracledb is installed")),
]


def assert_names_setting_in_one_line(exc: pytest.ExceptionInfo, setting: str, says: str) -> None:
    message = str(exc.value)
    assert message.startswith(f"{setting} "), message
    assert says in message and "\n" not in message, message
    assert "secret" not in message, message


@pytest.mark.parametrize(("url", "says"), BAD_DATABASE_URLS)
def test_database_url_that_cannot_work_is_refused_in_one_line_without_its_password(tmp_path, url, says):
    with pytest.raises(ConfigError) as caught:
        create_app(overrides(tmp_path, SECRET_KEY=KEY, SQLALCHEMY_DATABASE_URI=url))
    assert_names_setting_in_one_line(caught, "DATABASE_URL", says)


def test_reports_database_url_that_cannot_work_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        create_app(overrides(tmp_path, SECRET_KEY=KEY, REPORTS_DATABASE_URL="mysql+nosuchdriver://u:secret@x/y"))
    assert_names_setting_in_one_line(caught, "REPORTS_DATABASE_URL", "'mysql+nosuchdriver'")


def test_database_url_from_the_environment_is_checked_at_create_app(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "mysql+nosuchdriver://user:secret@x/y")
    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert_names_setting_in_one_line(caught, "DATABASE_URL", "'mysql+nosuchdriver'")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///relative/app.db", "postgresql+psycopg://u:p@127.0.0.1:1/x"])
def test_database_url_with_an_installed_driver_is_accepted_without_connecting(tmp_path, url):
    app = create_app(overrides(tmp_path, SECRET_KEY=KEY, SQLALCHEMY_DATABASE_URI=url))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url


# --- development secret key ----------------------------------------------------------------


def test_development_without_secret_key_generates_a_private_one_and_reuses_it(tmp_path):
    config = overrides(tmp_path, APP_ENV="development", SECRET_KEY=None)
    app = create_app(config)
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = app.config["SECRET_KEY"]
    assert key == key_file.read_text().strip()
    assert len(key) >= 32

    assert create_app(config).config["SECRET_KEY"] == key


def test_development_secret_keys_differ_between_instance_dirs(tmp_path):
    one = create_app(overrides(tmp_path / "a", APP_ENV="development", SECRET_KEY=None)).config["SECRET_KEY"]
    two = create_app(overrides(tmp_path / "b", APP_ENV="development", SECRET_KEY=None)).config["SECRET_KEY"]
    assert one != two


def test_development_class_without_secret_key_uses_the_instance_dir(tmp_path):
    class Development(DevelopmentConfig):
        SECRET_KEY = None
        INSTANCE_DIR = tmp_path / "dev-instance"
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    app = create_app(Development)
    assert app.config["SECRET_KEY"] == (tmp_path / "dev-instance" / "secret_key").read_text().strip()


def test_environment_is_read_when_the_app_is_created_not_at_import(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.delenv("APP_ENV", raising=False)
    app = create_app()
    assert app.config["APP_TIMEZONE"] == "Europe/Paris"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.db")


def test_a_web_statement_timeout_postgresql_cannot_set_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^WEB_STATEMENT_TIMEOUT must be at most 2147483 seconds"):
        create_app(overrides(tmp_path, SECRET_KEY=KEY, WEB_STATEMENT_TIMEOUT=3_000_000))
    assert create_app(overrides(tmp_path, SECRET_KEY=KEY, WEB_STATEMENT_TIMEOUT=2_147_483))
