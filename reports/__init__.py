"""Report definitions: data only. Add a report by adding a ReportDefinition to REPORTS in builtin.py, or in
a module of your own named in the REPORT_MODULES setting; the runner, the scheduler, the CLI and the admin
pick it up."""
from __future__ import annotations

from admin_app.reporting.definition import ReportDefinition

MODULES = ("reports.builtin",)


def load_reports() -> dict[str, ReportDefinition]:
    """Every defined report by name, in definition order: MODULES, then the REPORT_MODULES setting's."""
    import importlib

    from flask import current_app, has_app_context

    extra = (current_app.config.get("REPORT_MODULES") or "") if has_app_context() else ""
    found: dict[str, ReportDefinition] = {}
    for module in (*MODULES, *(m.strip() for m in extra.split(",") if m.strip())):
        for definition in importlib.import_module(module).REPORTS:
            if definition.name in found:
                raise ValueError(f"two reports are named {definition.name!r}")
            found[definition.name] = definition
    return found
