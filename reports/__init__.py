"""Report definitions: data only. Add a report by adding a ReportDefinition to REPORTS in builtin.py, or in a module
of your own named in the REPORT_MODULES setting (default "reports.builtin"); flask_activity.reporting.registry loads
them, and the runner, the scheduler, the CLI and the admin pick them up."""
