"""Which reports exist: the definitions named by REPORT_MODULES and those the host registered, looked up by name.

The mechanism never imports a definitions package by name: the modules are importable names in the
REPORT_MODULES setting, each with a ``REPORTS`` tuple of ReportDefinition; ``ActivityReporting.register_report``
adds more. Both are read when asked, so model choices always come from the current registry.
"""
from __future__ import annotations

from zoneinfo import ZoneInfoNotFoundError

from flask import current_app, has_app_context

from ..errors import ConfigError
from ..state import EXTENSION_KEY, load_modules
from .definition import ReportDefinition, ReportError


def report_modules() -> tuple[str, ...]:
    """The REPORT_MODULES setting as module names (none outside an app)."""
    setting = current_app.config.get("REPORT_MODULES") if has_app_context() else None
    return tuple(name.strip() for name in (setting or "").split(",") if name.strip())


def load_reports() -> dict[str, ReportDefinition]:
    """Every defined report by name: REPORT_MODULES in order (each module's ``REPORTS``), then the registered ones.

    ConfigError (one line) for a module that does not import, a module without REPORTS, or two reports sharing a
    name.
    """
    found: dict[str, ReportDefinition] = {}
    definitions: list[ReportDefinition] = []
    for module in load_modules(report_modules()):
        reports = getattr(module, "REPORTS", None)
        if reports is None:
            raise ConfigError(f"REPORT_MODULES: {module.__name__!r} has no REPORTS tuple of ReportDefinition")
        definitions.extend(reports)
    st = current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None
    if st is not None:
        definitions.extend(st.registered_reports)
    for definition in definitions:
        try:
            definition.zone  # noqa: B018 - read to check it
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"report {definition.name}: timezone {definition.timezone!r} is not an IANA time "
                              "zone (try 'UTC' or 'Europe/Paris')") from None
        if definition.name in found:
            raise ConfigError(f"two reports are named {definition.name!r}; rename one")
        found[definition.name] = definition
    return found


def get_report(name: str) -> ReportDefinition:
    """The report called ``name``; raise ReportError naming the reports there are (the one unknown-report check)."""
    found = load_reports()
    if name not in found:
        raise ReportError(f"unknown report {name!r}; choose from {', '.join(found) or 'none (see REPORT_MODULES)'}")
    return found[name]
