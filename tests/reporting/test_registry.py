"""Which reports exist: REPORT_MODULES names the definition modules; get_report is the one unknown-report check."""
from __future__ import annotations

import html
import textwrap

import pytest

from flask_activity import ConfigError
from flask_activity.reporting.definition import ReportError
from flask_activity.reporting.registry import get_report, load_reports

BUILTIN = ["activity", "daily-activity", "user-activity", "items"]

EXTRA_MODULE = textwrap.dedent("""
    from flask_activity.reporting.definition import ReportDefinition

    REPORTS = (ReportDefinition(name="{name}", title="Extra", description="a report of its own", columns=("n",),
                                rows=lambda ctx: [(1,)]),)
""")


@pytest.fixture
def extra_module(tmp_path, monkeypatch):
    """Write an importable module of report definitions; returns a function (module name, report name) -> None."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(module: str, report: str) -> None:
        (tmp_path / f"{module}.py").write_text(EXTRA_MODULE.format(name=report))

    return write


def test_unknown_report_names_every_report_there_is(app):
    with pytest.raises(ReportError) as info:
        get_report("nope")
    assert str(info.value) == "unknown report 'nope'; choose from activity, daily-activity, user-activity, items"


@pytest.mark.parametrize("name", ["", " activity", "Activity", "activity "])
def test_report_names_are_matched_exactly(app, name):
    with pytest.raises(ReportError, match="unknown report"):
        get_report(name)


def test_get_report_returns_the_loaded_definition(app):
    assert get_report("items") == load_reports()["items"]


def test_the_app_names_its_report_modules_and_without_an_app_there_are_none(app):
    assert list(load_reports()) == BUILTIN  # REPORT_MODULES = reports.builtin (the app's setting)
    with app.test_request_context():
        app.config["REPORT_MODULES"] = ""
        assert list(load_reports()) == []  # the extension loads no module of its own accord


def test_report_modules_setting_names_the_definition_modules_in_order(app, extra_module):
    extra_module("extra_reports_a", "extra")
    app.config["REPORT_MODULES"] = "reports.builtin, extra_reports_a"
    assert list(load_reports()) == [*BUILTIN, "extra"]
    assert get_report("extra").title == "Extra"
    app.config["REPORT_MODULES"] = "extra_reports_a"
    assert list(load_reports()) == ["extra"]
    with pytest.raises(ReportError, match=r"choose from extra$"):
        get_report("items")


def test_two_reports_with_one_name_are_refused(app, extra_module):
    extra_module("extra_reports_b", "items")
    app.config["REPORT_MODULES"] = "reports.builtin,extra_reports_b"
    with pytest.raises(ConfigError, match="two reports are named 'items'; rename one"):
        load_reports()


def test_a_report_module_that_does_not_import_or_has_no_reports_is_one_line(app, extra_module):
    app.config["REPORT_MODULES"] = "reports.builtin, no_such_reports_module"
    with pytest.raises(ConfigError, match=r"^REPORT_MODULES: 'no_such_reports_module' does not import"):
        load_reports()
    app.config["REPORT_MODULES"] = "json"
    with pytest.raises(ConfigError, match=r"^REPORT_MODULES: 'json' has no REPORTS"):
        load_reports()


def test_a_report_in_an_unknown_zone_is_refused_at_start_up(app, extra_module):
    from flask_activity.reporting.definition import ReportDefinition

    bad = ReportDefinition(name="mars", title="Mars", description="", columns=("a",), rows=lambda ctx: iter(()),
                           timezone="Mars/Olympus_Mons")
    app.extensions["flask_activity"].registered_reports.append(bad)
    try:
        with pytest.raises(ConfigError, match=r"^report mars: timezone 'Mars/Olympus_Mons' is not an IANA"):
            load_reports()
    finally:
        app.extensions["flask_activity"].registered_reports.remove(bad)


def test_the_cli_and_the_reports_page_give_get_reports_message(app, runner, admin_client):
    with pytest.raises(ReportError) as info:
        get_report("nope")
    message = str(info.value)
    cli = runner.invoke(args=["report", "run", "nope"])
    assert cli.exit_code == 2 and cli.output.strip() == f"error: {message}"
    page = admin_client.get("/admin/reports/", query_string={"report": "nope"})
    assert page.status_code == 400 and message in html.unescape(page.get_data(as_text=True))
    form = admin_client.post_form("/admin/reports/run", {"report": "nope", "period": "today"})
    assert form.status_code == 400 and message in html.unescape(form.get_data(as_text=True))
