"""Which reports exist: load the definitions named by REPORT_MODULES and look one up by name.

The mechanism never imports a definitions package by name: the modules are importable names in the
REPORT_MODULES setting (default ``reports.builtin``), each with a ``REPORTS`` tuple of ReportDefinition.
"""
from __future__ import annotations

import importlib

from flask import current_app, has_app_context

from ..config import Config
from .definition import ReportDefinition, ReportError


def report_modules() -> tuple[str, ...]:
    """The REPORT_MODULES setting as module names; outside an app, or when it names none, the default's."""
    setting = current_app.config.get("REPORT_MODULES") if has_app_context() else None
    names = tuple(name.strip() for name in (setting or "").split(",") if name.strip())
    return names or tuple(name.strip() for name in Config.REPORT_MODULES.split(","))


def load_reports() -> dict[str, ReportDefinition]:
    """Every defined report by name, in the order of REPORT_MODULES then of each module's ``REPORTS``.

    Raises ValueError when two reports share a name (a configuration mistake, not user input).
    """
    found: dict[str, ReportDefinition] = {}
    for module in report_modules():
        for definition in importlib.import_module(module).REPORTS:
            if definition.name in found:
                raise ValueError(f"two reports are named {definition.name!r}")
            found[definition.name] = definition
    return found


def get_report(name: str) -> ReportDefinition:
    """The report called ``name``; raise ReportError naming the reports there are (the one unknown-report check)."""
    found = load_reports()
    if name not in found:
        raise ReportError(f"unknown report {name!r}; choose from {', '.join(found)}")
    return found[name]
