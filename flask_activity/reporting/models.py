"""The extension's report-run table: one row per report run, on the extension's own metadata (tables.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..tables import NAMING, ActivityModel
from ..types import UTCDateTime, utcnow

__all__ = ["NAMING", "ActivityModel", "ReportRun"]


class ReportRun(ActivityModel):
    """One run of a named report: what was asked, what came out, and how it ended.

    Scheduled runs claim their period through the partial unique index, so two scheduler
    processes never produce the same period twice. Not audited: it is the app's own bookkeeping.
    """

    __tablename__ = "report_runs"
    __table_args__ = (
        Index("uq_report_runs_scheduled_period", "report", "period_start", unique=True,
              sqlite_where=text("scheduled_for IS NOT NULL"), postgresql_where=text("scheduled_for IS NOT NULL")),
        Index("ix_report_runs_report_started", "report", "started_at"),
        Index("ix_report_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(100), nullable=False)
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    path: Mapped[str | None] = mapped_column(String(500), nullable=True)  # relative to REPORTS_DIR
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_lag_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)  # replica lag when the run read
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def __str__(self) -> str:
        return f"{self.report} {self.period_start:%Y-%m-%d %H:%M} ({self.status})"
