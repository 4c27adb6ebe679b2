"""Accessibility audit of a page with axe-core (npm, pinned in tests/e2e/axe/package-lock.json; `make axe-tools`).

axe is not loaded with a <script> tag (the app's Content-Security-Policy forbids inline and foreign scripts, and the
journeys fail on any violation): its source is evaluated through Playwright (CDP), which the CSP does not govern,
in pages of a browser context opened only for the audit, after each load. The CSP listener and the console watch of
conftest stay on, so axe itself must not cause a CSP violation or a console error either.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import pytest

HERE = Path(__file__).resolve().parent / "axe"
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("critical", "serious", "moderate", "minor")  # axe's order, worst first
BLOCKING = ("critical", "serious")  # the journeys fail on these; the others are reported (artifacts/axe-*.json)
RUN = "async () => await axe.run(document, {resultTypes: ['violations']})"


class AuditPage(NamedTuple):
    """A page the accessibility journey audits, at laptop and phone width: as whom (None: logged out) and the
    status its document answers with (a 400 page's console error is then expected, and only for that page)."""

    name: str
    path: str
    role: str | None = "admin"
    status: int = 200


# Audited besides test_pages_journey.PAGES (every admin page, as the admin). Append a page here when you add one.
EXTRA_PAGES: list[AuditPage] = [
    AuditPage("login", "/login", role=None),
    AuditPage("subscriptions", "/admin/subscriptions/"),
    AuditPage("subscription create", "/admin/subscriptions/new/"),
    AuditPage("activity bad filter", "/admin/activity/?since=yesterday", status=400),
    AuditPage("record feed", "/admin/activity/?model=item&id=2"),
    AuditPage("system's page", "/admin/activity/by/system"),
    AuditPage("viewer's own feed", "/admin/activity/?actor=viewer@example.com", role="viewer"),
    AuditPage("bucketlist details", "/admin/bucketlists/details/?id=2"),
    AuditPage("user details", "/admin/users/details/?id=2"),
    AuditPage("items bad filter", "/admin/items/?flt0_18=yesterday", status=400),
    AuditPage("deliveries", "/admin/subscriptions/deliveries/"),
]

_source: str | None = None


def pinned_version() -> str:
    """The axe-core version package.json pins (exact)."""
    return json.loads((HERE / "package.json").read_text())["dependencies"]["axe-core"]


def axe_source() -> str:
    """axe.min.js, read once. Missing: skip with the reason, or fail under CI (the audit is then required)."""
    global _source
    if _source is None:
        if not AXE_JS.is_file():
            message = (f"axe-core is not installed ({AXE_JS.relative_to(HERE.parents[2])} is missing): run "
                       "`make axe-tools` (npm ci in tests/e2e/axe)")
            if os.environ.get("CI"):
                pytest.fail(f"CI runs the accessibility audit: {message}")
            pytest.skip(message)
        _source = AXE_JS.read_text(encoding="utf-8")
    return _source


def inject(page: Any) -> str:
    """Load axe into the current document (once per document) and return its version."""
    if not page.evaluate("() => typeof window.axe === 'object' && !!window.axe.run"):
        page.evaluate(axe_source())  # a script, not a function: evaluated in the page's main world
    return page.evaluate("() => window.axe.version")


def audit(page: Any) -> list[dict[str, Any]]:
    """axe's violations in the page as loaded now: id, impact, help, nodes (count), target (of the first node);
    also help_url, targets (up to 3) and html (of the first node), to find and fix them."""
    inject(page)
    result = page.evaluate(RUN)
    violations = []
    for v in result["violations"]:
        nodes = v.get("nodes") or []
        targets = [" ".join(str(t) for t in n.get("target") or []) for n in nodes[:3]]
        violations.append({
            "id": v["id"], "impact": v.get("impact"), "help": v["help"], "nodes": len(nodes),
            "target": targets[0] if targets else "", "targets": targets,
            "html": (nodes[0].get("html") or "")[:300] if nodes else "", "help_url": v.get("helpUrl", ""),
        })
    return sorted(violations, key=lambda v: (IMPACTS.index(v["impact"]) if v["impact"] in IMPACTS else 9, v["id"]))
