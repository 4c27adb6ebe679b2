"""Record the app's signals in a test: ``record_signals`` and the ``signal_recorder`` fixture.

Observe the app's signals from any pytest suite (ours, or one of an app that embeds this one).

    from flask_activity.testing import record_signals

    def test_report_run_is_observable(app):
        with record_signals("report-started", "report-finished") as fired:
            run_the_report()
        assert fired.names() == ["report-started", "report-finished"]
        assert fired.one("report-finished").kwargs["rows"] == 3

or take the ``signal_recorder`` fixture, which records every signal for the whole test
(import it into your ``conftest.py``: ``from flask_activity.testing import signal_recorder``).
Built on blinker's ``connected_to``: receivers are connected for the block only.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from blinker import ANY, NamedSignal

from ..signals import ALL, namespace


@dataclass(frozen=True)
class Fired:
    """One signal as a receiver saw it."""

    name: str
    sender: Any
    kwargs: dict[str, Any]


class SignalRecorder(list[Fired]):
    """The signals fired inside a ``record_signals`` block, in the order they fired."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()  # a server thread may fire while the test reads

    def record(self, name: str, sender: Any, **kwargs: Any) -> None:
        with self._lock:
            self.append(Fired(name, sender, kwargs))

    def names(self) -> list[str]:
        return [f.name for f in self]

    def of(self, name: str) -> list[Fired]:
        return [f for f in self if f.name == name]

    def one(self, name: str) -> Fired:
        """The only firing of ``name``; AssertionError if it fired never or more than once."""
        found = self.of(name)
        assert len(found) == 1, f"expected {name!r} to fire once, it fired {len(found)} times: {self.names()}"
        return found[0]


def _resolve(signal: str | NamedSignal) -> NamedSignal:
    if isinstance(signal, NamedSignal):
        return signal
    if signal not in namespace:
        raise KeyError(f"no signal {signal!r}; the app sends {', '.join(sorted(namespace))}")
    return namespace[signal]


@contextmanager
def record_signals(*which: str | NamedSignal, sender: Any = ANY) -> Iterator[SignalRecorder]:
    """Record the named signals (default: every signal of the app) fired inside the block.

    ``sender`` limits recording to one app; by default any sender is recorded.
    """
    chosen = [_resolve(s) for s in which] or list(ALL)
    recorder = SignalRecorder()
    with ExitStack() as stack:
        for signal in chosen:
            stack.enter_context(signal.connected_to(partial(recorder.record, signal.name), sender=sender))
        yield recorder


def _record_every_signal() -> Iterator[SignalRecorder]:
    """Every signal of the app fired during the test, in order."""
    with record_signals() as fired:
        yield fired


try:
    import pytest
except ImportError:  # a production install has no pytest; the context manager still works
    pass
else:
    signal_recorder = pytest.fixture(name="signal_recorder")(_record_every_signal)
