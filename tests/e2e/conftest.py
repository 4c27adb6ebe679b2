"""Browser fixtures: Debian's Chromium driven by Playwright against the app under gunicorn, on both databases.

Every page a test opens is watched: a console error, an uncaught script error or a Content-Security-Policy
violation fails the test that caused it. Chromium missing skips these tests with the reason, unless CI is set
(then it fails: `make test` installs Chromium when it runs as root).
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller

from flask_activity.testing.server import free_port
from flask_activity.testing.smtp import SmtpSink
from tests.conftest import fresh_database

from .server import ADMIN, PASSWORD, TRAVELLER, VIEWER, JourneyServer, seed

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1366, "height": 860}
PHONE = {"width": 375, "height": 740}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # gitignored: traces of the last run
# Reported by the page itself, in every document, before any of the app's scripts run; CDP-injected, so the CSP
# does not block it. Chromium also logs each violation as a console error; this names the directive.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
                ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: a browser journey in Chromium (tests/e2e)")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if path is None:
        message = "Chromium is not installed (apt-get install chromium; `make test` does it when run as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the browser journeys: {message}")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        message = "playwright is not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the browser journeys: {message}")
        pytest.skip(message)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session", params=[
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                browser: Any) -> Iterator[JourneyServer]:
    """gunicorn on 127.0.0.1 over a freshly migrated and seeded database of each kind (per xdist worker)."""
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    with fresh_database(request.param, tmp_path_factory) as url:
        instance = tmp_path_factory.mktemp(f"e2e-{request.param}")
        seed(url, instance)
        server = JourneyServer(url, instance, request.param, smtp_port=sink.port)
        server.smtp = sink  # type: ignore[attr-defined]
        try:
            yield server
        finally:
            server.stop()
            controller.stop()
        problems = [line for line in server.log().splitlines() if "Traceback" in line]
        assert not problems, f"the server logged tracebacks:\n{server.log()[-3000:]}"


class Watch:
    """What the pages of one test said: errors (console, script, CSP); and every page visited, for the summary."""

    visited_total: ClassVar[list[str]] = []  # every page of the session (per xdist worker)

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []  # substrings of console errors a test expects (e.g. a 400 it asked for)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self._error(f"console: {m.text} [{page.url}]"))
        page.on("pageerror", lambda e: self._error(f"script error: {e} [{page.url}]"))
        page.on("framenavigated", lambda f: f == page.main_frame and self._visit(f.url))

    def _error(self, text: str) -> None:
        if not any(a in text for a in self.allowed):
            self.errors.append(text)

    def _visit(self, url: str) -> None:
        Watch.visited_total.append(url)


@pytest.fixture
def watch() -> Watch:
    return Watch()


def _login_state(browser: Any, server: JourneyServer, email: str, path: Path) -> Path:
    """Log in once per role through the form and keep the cookies (the login limit is 5 a minute per account)."""
    if not path.exists():
        context = browser.new_context(base_url=server.base_url)
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        context.storage_state(path=str(path))
        context.close()
    return path


def _context(browser: Any, server: JourneyServer, watch: Watch, state: Path | None,
             viewport: dict[str, int] = LAPTOP) -> Any:
    context = browser.new_context(base_url=server.base_url, viewport=viewport, accept_downloads=True,
                                  timezone_id="America/New_York",  # not the server's zone: times come from it
                                  storage_state=str(state) if state else None)
    context.add_init_script(CSP_LISTENER)
    context.set_default_timeout(15_000)
    context.on("page", watch.attach)
    return context


@pytest.fixture
def make_page(browser: Any, live_server: JourneyServer, watch: Watch,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """make_page(role='admin'|'viewer'|'traveller'|None, viewport=LAPTOP) -> a Page in a fresh context, logged in
    as that role.

    After the test, no page may have logged a console error, a script error or a CSP violation.
    """
    contexts: list[Any] = []
    states = tmp_path_factory.getbasetemp() / f"e2e-states-{live_server.kind}"
    states.mkdir(exist_ok=True)

    def make(role: str | None = "admin", viewport: dict[str, int] = LAPTOP) -> Any:
        state = None
        if role is not None:
            email = {"admin": ADMIN, "viewer": VIEWER, "traveller": TRAVELLER}[role]
            state = _login_state(browser, live_server, email, states / f"{role}.json")
        context = _context(browser, live_server, watch, state, viewport)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert not watch.errors, "the browser reported errors:\n" + "\n".join(watch.errors)


@pytest.fixture
def admin_page(make_page: Any) -> Any:
    return make_page("admin")


@pytest.fixture
def viewer_page(make_page: Any) -> Any:
    return make_page("viewer")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where the journeys save their screenshots: E2E_SCREENSHOTS (make screenshots: docs/screenshots) or artifacts."""
    path = Path(os.environ.get("E2E_SCREENSHOTS") or ARTIFACTS / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep the count of pages the journeys visited (per xdist worker) for the docs and the issue notes."""
    if not Watch.visited_total:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (ARTIFACTS / f"pages-{worker}.json").write_text(json.dumps(
        {"pages": len(Watch.visited_total), "distinct": len({u.split("?")[0] for u in Watch.visited_total})}))
