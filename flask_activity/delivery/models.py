"""The delivery tables, on the extension's own metadata (beside report_runs): subscriptions are data (what to send,
to whom, how often); deliveries are the record of every send, claimed through a partial unique index.

A subscription keeps one cursor per channel: the end of the last window that channel delivered. A delivery covers
[window_start, window_end) of the feed, so consecutive deliveries partition time: every event once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..reporting.models import ActivityModel
from ..types import UTCDateTime, utcnow

#: Channels the scheduler sends on; "app" (in the app) is read when the owner opens the subscription.
CHANNELS = ("email", "webhook")
#: A delivery row in one of these holds its (subscription, channel, window_start): the claim.
CLAIMING = ("sending", "sent")


class Subscription(ActivityModel):
    """A saved feed filter, its owner, cadence and channels, and where each channel's deliveries have got to."""

    __tablename__ = "activity_subscriptions"
    __table_args__ = (Index("ix_activity_subscriptions_owner", "owner_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    owner_key: Mapped[str] = mapped_column(String(64), nullable=False)  # str(user.get_id()) of the host's user
    filters: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)  # feed args: model, action, actor
    schedule: Mapped[str] = mapped_column(String(100), nullable=False)  # a 5-field cron expression
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the secret is derived, not stored
    in_app: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    send_empty: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # failed deliveries in a row
    email_cursor: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    webhook_cursor: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    seen_cursor: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)  # in the app
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    def cursor(self, channel: str) -> datetime:
        return self.email_cursor if channel == "email" else self.webhook_cursor

    def channels(self) -> list[str]:
        """The channels the scheduler sends this subscription on."""
        return [c for c, on in (("email", self.email), ("webhook", bool(self.webhook_url))) if on]

    def __str__(self) -> str:
        return self.name


class Delivery(ActivityModel):
    """One send of one window of events on one channel: its stable key, outcome, attempts and timings.

    Claimed by inserting it 'sending': the partial unique index on (subscription, channel, window_start) of rows
    'sending' or 'sent' lets one scheduler process have a window. Statuses: sending, sent, failed (did not
    arrive), lost (may have arrived: resent with the same key and window_end), testing, tested, test-failed.
    """

    __tablename__ = "activity_deliveries"
    __table_args__ = (
        Index("uq_activity_deliveries_window", "subscription_id", "channel", "window_start", unique=True,
              sqlite_where=text("status IN ('sending', 'sent')"),
              postgresql_where=text("status IN ('sending', 'sent')")),
        Index("ix_activity_deliveries_started", "started_at"),
        Index("ix_activity_deliveries_subscription", "subscription_id", "started_at"),
        Index("ix_activity_deliveries_report", "report", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("activity_subscriptions.id", ondelete="CASCADE"), nullable=True)
    # A report run's file sent to the report's recipients (no subscription then).
    report: Mapped[str | None] = mapped_column(String(100), nullable=True)
    report_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)  # Idempotency-Key, Message-ID
    target: Mapped[str] = mapped_column(String(2000), nullable=False)  # the address or URL
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    periods: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # >1: a catch-up after downtime
    test: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sending")
    events: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # HTTP status or SMTP reply code
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # one line per attempt
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def __str__(self) -> str:
        return f"{self.channel} {self.key} ({self.status})"


class ReportRecipients(ActivityModel):
    """Who an administrator named, on the Reports page, to receive a report's runs (beside its definition's)."""

    __tablename__ = "activity_report_recipients"

    report: Mapped[str] = mapped_column(String(100), primary_key=True)
    emails: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


def extension_metadata() -> MetaData:
    """The extension's own tables, all of them (report runs, subscriptions, deliveries, report recipients, the
    dashboard's shared counts)."""
    return ActivityModel.metadata
