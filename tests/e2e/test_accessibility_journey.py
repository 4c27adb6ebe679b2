"""Every page through axe-core at laptop and phone width: no serious or critical accessibility violation.

The pages are test_pages_journey.PAGES (as the admin) and axe.EXTRA_PAGES (the login page logged out, the
subscriptions, a 400 page that keeps the form). Every violation found, whatever its impact, is written to
artifacts/axe-<worker>.json; the serious and critical ones fail the test, each named with its page and its first
element. axe runs in this test's own browser contexts, injected without a <script> tag (see tests/e2e/axe.py), and the
console/CSP watch stays strict: axe must not cause a single error either.
"""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from .axe import BLOCKING, EXTRA_PAGES, IMPACTS, AuditPage, audit, axe_source, inject, pinned_version
from .conftest import ARTIFACTS, LAPTOP, PHONE
from .test_pages_journey import PAGES

FOUND: list[dict[str, Any]] = []  # every violation of the session (per xdist worker), for artifacts/axe-<worker>.json
AUDITED: dict[str, int] = {}  # pages audited, by "<database> <width>"


def audited_pages() -> list[AuditPage]:
    return [AuditPage(name, path) for name, path in PAGES.items()] + list(EXTRA_PAGES)


def _write_artifact(version: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    totals = {impact: sum(1 for v in FOUND if v["impact"] == impact) for impact in IMPACTS}
    (ARTIFACTS / f"axe-{worker}.json").write_text(json.dumps(
        {"axe": version, "audited": AUDITED, "violations_by_impact": totals, "violations": FOUND}, indent=1))


@pytest.fixture(scope="session")
def axe_js() -> str:
    """axe.min.js; missing, the audit skips (fails under CI) before the live server and the browser start."""
    return axe_source()


@pytest.mark.parametrize("width, viewport", [("laptop", LAPTOP), ("phone", PHONE)], ids=["laptop", "phone"])
def test_every_page_has_no_serious_or_critical_accessibility_violation(axe_js: str, make_page: Any, live_server: Any,
                                                                        watch: Any, width: str,
                                                                        viewport: dict[str, int]) -> None:
    tabs: dict[str | None, Any] = {}  # one context per role, opened only for this audit
    found: list[dict[str, Any]] = []
    version = ""
    for entry in audited_pages():
        if entry.role not in tabs:
            tabs[entry.role] = make_page(entry.role, viewport=viewport)
        page = tabs[entry.role]
        allowed = f"status of {entry.status}" if entry.status >= 400 else None
        if allowed:  # the refused document itself, on this page only; nothing else may fail
            watch.allowed.append(allowed)
        try:
            response = page.goto(entry.path)
            assert response is not None and response.status == entry.status, (entry.name, response and response.status)
            page.wait_for_load_state("networkidle")  # the app's scripts (Select2, charts, date pickers) have run
            version = inject(page)
            for violation in audit(page):
                found.append({"page": entry.name, "path": entry.path, "width": width, "db": live_server.kind,
                              **violation})
        finally:
            if allowed:
                watch.allowed.remove(allowed)
    assert version == pinned_version(), f"axe {version} ran, package.json pins {pinned_version()}: make axe-tools"
    key = f"{live_server.kind} {width}"
    AUDITED[key] = AUDITED.get(key, 0) + len(audited_pages())
    FOUND.extend(found)
    _write_artifact(version)
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, (
        f"{len(blocking)} serious or critical accessibility violation(s) at {width} width "
        f"(all {len(found)} in {ARTIFACTS.name}/axe-*.json):\n"
        + "\n".join(f"  {v['page']} ({v['path']}): {v['id']} [{v['impact']}] {v['help']}; {v['nodes']} element(s), "
                    f"first: {v['target']}" for v in blocking))
