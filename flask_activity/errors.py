"""The extension's configuration error: raised at start-up with one line saying which setting to fix."""
from __future__ import annotations


class ConfigError(RuntimeError):
    """A setting, a model mapping or a report definition that cannot work; the message names it and the fix."""
