"""The retry policy of every send: transient failures retried with exponential backoff and jitter (tenacity),
permanent ones not; one line per attempt for the delivery log."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from ..types import utcnow
from .senders import Outcome, SendFailed


def with_retries(once: Callable[[], Outcome], sleep: Callable[[float], Any] = time.sleep,
                 attempts: int | None = None) -> tuple[Outcome, list[dict[str, Any]]]:
    """Call ``once`` until it delivers, retrying transient failures with exponential backoff and jitter
    (DELIVERY_MAX_ATTEMPTS within DELIVERY_RETRY_WINDOW seconds); the last outcome and one line per attempt."""
    config = current_app.config
    tried: list[dict[str, Any]] = []
    outcome = Outcome(False, None, "not sent")
    retrying = Retrying(
        stop=stop_after_attempt(attempts or int(config["DELIVERY_MAX_ATTEMPTS"]))
        | stop_after_delay(float(config["DELIVERY_RETRY_WINDOW"])),
        wait=wait_exponential_jitter(multiplier=float(config["DELIVERY_RETRY_BASE"]),
                                     jitter=float(config["DELIVERY_RETRY_BASE"]),
                                     max=float(config["DELIVERY_RETRY_WINDOW"]) / 2),
        retry=retry_if_exception(lambda exc: isinstance(exc, SendFailed) and exc.outcome.transient),
        sleep=sleep, reraise=True)
    try:
        for attempt in retrying:
            with attempt:
                outcome = once()
                tried.append({"at": utcnow().isoformat(), "ok": outcome.ok, "code": outcome.code,
                              "error": outcome.error, "ms": outcome.ms})
                if not outcome.ok:
                    raise SendFailed(outcome)
    except SendFailed:
        pass
    return outcome, tried
