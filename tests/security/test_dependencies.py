"""Installed and pinned versions of Flask, Werkzeug and Flask-Admin are at or above every fix listed here.

What this checks, exactly: each advisory below was looked up by hand (GitHub advisory database entries,
the projects' release notes and the PyPA advisory database, as cited in the advisory threads), and the test
compares the version installed in this environment *and* the version pinned in requirements.txt with the
advisory's first fixed version. It is NOT an audit: no vulnerability database is queried (none is
reachable from here), so an advisory published after this list was written is not covered. Run
``pip-audit -r requirements.txt`` where the network allows it, and add new advisories here.
"""
from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import pytest
from packaging.version import Version

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


class Advisory(NamedTuple):
    package: str
    ids: str  # GHSA / CVE / PYSEC identifiers
    fixed: str  # first fixed version on the branch this project uses
    what: str


ADVISORIES = [
    Advisory("Flask", "GHSA-562c-5r94-xh97 / CVE-2018-1000656", "0.12.3", "JSON with a wrong encoding: memory DoS"),
    Advisory("Flask", "GHSA-5wv5-4vpf-pj6m / CVE-2019-1010083", "1.0", "unexpected memory use parsing JSON"),
    Advisory("Flask", "GHSA-m2qf-hxjv-5gpq / CVE-2023-30861", "2.3.2",
             "missing Vary: Cookie lets a caching proxy hand one user's session cookie to others (2.2.5 on 2.2.x)"),
    Advisory("Flask", "GHSA-4grg-w6v8-c28g / CVE-2025-47278", "3.1.1",
             "SECRET_KEY_FALLBACKS: sessions signed with a stale key"),
    Advisory("Flask", "GHSA-68rp-wp8r-4726 / CVE-2026-27205", "3.1.3",
             "Vary: Cookie missing for some forms of session access (e.g. `in`)"),
    Advisory("Werkzeug", "GHSA-xg9f-g7g7-2323 / CVE-2023-25577", "2.2.3", "multipart form with many fields: DoS"),
    Advisory("Werkzeug", "GHSA-px8h-6qxv-m22q / CVE-2023-23934", "2.2.3",
             "nameless cookies bypass __Host- prefix"),
    Advisory("Werkzeug", "GHSA-hrfv-mqp8-q5rw / CVE-2023-46136", "3.0.1",
             "multipart part starting with CR/LF: high CPU (2.3.8 on 2.3.x)"),
    Advisory("Werkzeug", "GHSA-2g68-c3qc-8985 / CVE-2024-34069", "3.0.3",
             "debugger: remote code execution via an attacker-controlled domain"),
    Advisory("Werkzeug", "GHSA-q34m-jh98-gwm2 / CVE-2024-49767", "3.0.6",
             "max_form_memory_size not applied to large non-file fields: memory exhaustion"),
    Advisory("Werkzeug", "GHSA-f9vj-2wh5-fj8j / CVE-2024-49766", "3.0.6", "safe_join not safe on Windows (UNC)"),
    Advisory("Werkzeug", "GHSA-hgf8-39gv-g3f2 / CVE-2025-66221", "3.1.4", "safe_join allows Windows device names"),
    Advisory("Werkzeug", "GHSA-87hc-h4r5-73f7 / CVE-2026-21860", "3.1.5",
             "safe_join: device names with compound extensions or trailing spaces"),
    Advisory("Werkzeug", "GHSA-29vq-49wr-vm6x / CVE-2026-27199", "3.1.6",
             "safe_join: device names in multi-segment paths"),
    Advisory("Werkzeug", "GHSA-g6x2-hccm-hh4m", "3.1.9", "safe_join: device names with empty NTFS ADS markers"),
    Advisory("Flask-Admin", "GHSA-894g-6j7q-2hx6 / CVE-2018-16516 / PYSEC-2018-54", "1.5.3",
             "reflected XSS via a crafted URL (helpers.py)"),
]


def pinned(package: str, requirements: str | None = None) -> Version:
    """The ``package==X`` version pinned in requirements.txt (case-insensitive name)."""
    text = requirements if requirements is not None else REQUIREMENTS.read_text()
    match = re.search(rf"^{re.escape(package)}==([^\s#;]+)", text, re.MULTILINE | re.IGNORECASE)
    assert match, f"{package} is not pinned with == in requirements.txt"
    return Version(match.group(1))


def fixed_by(installed: Version, advisory: Advisory) -> bool:
    return installed >= Version(advisory.fixed)


@pytest.mark.parametrize("advisory", ADVISORIES, ids=[f"{a.package}-{a.ids.split()[0]}" for a in ADVISORIES])
def test_installed_and_pinned_versions_include_the_fix(advisory):
    installed = Version(version(advisory.package))
    assert fixed_by(installed, advisory), \
        f"{advisory.package} {installed} is affected by {advisory.ids} ({advisory.what}); need >= {advisory.fixed}"
    assert fixed_by(pinned(advisory.package), advisory), \
        f"requirements.txt pins {advisory.package} {pinned(advisory.package)}, affected by {advisory.ids}"


def test_installed_versions_are_the_pinned_ones():
    """Otherwise the test above would vouch for a version nobody deploys."""
    for package in sorted({a.package for a in ADVISORIES}):
        assert Version(version(package)) == pinned(package), package


@pytest.mark.parametrize("text, affected", [("Werkzeug==3.1.3\n", True), ("werkzeug==3.1.9  # ok\n", False),
                                            ("Werkzeug==3.0.6\n", True)])
def test_the_check_flags_an_affected_pin(text, affected):
    """The comparison can fail: an older pin is reported as affected by the safe_join advisories."""
    newest = max((a for a in ADVISORIES if a.package == "Werkzeug"), key=lambda a: Version(a.fixed))
    assert (not fixed_by(pinned("Werkzeug", text), newest)) is affected
