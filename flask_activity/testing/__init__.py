"""Test helpers any pytest suite can use: recording the app's signals, and the app under a live server.

    from flask_activity.testing import record_signals, signal_recorder   # signals (signals.py)
    from flask_activity.testing import LiveServer                         # gunicorn on 127.0.0.1 (server.py)
    from flask_activity.testing import throwaway_postgresql               # a database dropped afterwards (databases.py)
    from flask_activity.testing.smtp import SmtpSink                      # an SMTP server's handler (aiosmtpd)
"""
from __future__ import annotations

from contextlib import suppress

from .databases import postgresql_unreachable, throwaway_postgresql
from .server import LiveServer, free_port
from .signals import Fired, SignalRecorder, record_signals

with suppress(ImportError):  # no pytest installed: there is no fixture to offer
    from .signals import signal_recorder

__all__ = ["Fired", "LiveServer", "SignalRecorder", "free_port", "postgresql_unreachable", "record_signals",
           "signal_recorder", "throwaway_postgresql"]
