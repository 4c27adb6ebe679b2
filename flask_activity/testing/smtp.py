"""An SMTP server's handler for tests: what arrived, and scripted replies. Run it on 127.0.0.1 with aiosmtpd
(``pip install aiosmtpd``), as the delivery tests, the browser journeys and the delivery benchmark do::

    sink = SmtpSink(port=free_port())
    controller = aiosmtpd.controller.Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()                    # SMTP_URL = f"smtp://127.0.0.1:{sink.port}"
    ...; sink.messages; sink.replies.append("421 try later"); controller.stop()
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


@dataclass
class SmtpSink:
    """What the SMTP server received, and the replies it gives to the next DATA commands ("421 ...", "550 ...")."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    replies: deque[str] = field(default_factory=deque)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.popleft()
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message: Any = message_from_bytes(envelope.content, policy=policy.default)  # an EmailMessage, by the policy
        self.messages.append(message)
        return "250 Message accepted for delivery"


