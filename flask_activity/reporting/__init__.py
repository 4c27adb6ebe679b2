"""Scheduled CSV reports: the mechanism (definitions are data, loaded by name through REPORT_MODULES).

Modules, one job each: ``definition`` (what a report is), ``registry`` (which reports exist; the unknown-report
check), ``periods`` (named windows and file labels), ``runs`` (every ReportRun query and status change),
``snapshot`` (where and how a run reads), ``writer`` (CSV text), ``files`` (atomic files, temporary files, the
inside-REPORTS_DIR check), ``runner`` (one run, in order), ``scheduler`` (cron, due periods, claim, tick, serve),
``retention`` (prune), ``overview`` (what the Reports page shows per report).
"""
