"""Report definitions: data only. Add a report by adding a ReportDefinition to REPORTS in builtin.py
(or any module listed in MODULES); the runner, the scheduler, the CLI and the admin pick it up."""
from __future__ import annotations

from admin_app.reporting.definition import ReportDefinition

MODULES = ("reports.builtin",)


def load_reports() -> dict[str, ReportDefinition]:
    """Every defined report by name, in definition order."""
    import importlib

    found: dict[str, ReportDefinition] = {}
    for module in MODULES:
        for definition in importlib.import_module(module).REPORTS:
            if definition.name in found:
                raise ValueError(f"two reports are named {definition.name!r}")
            found[definition.name] = definition
    return found
