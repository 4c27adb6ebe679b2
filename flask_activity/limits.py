"""Caps on what one request may ask for: the query string's size, search words and list filters.

A search of 3,000 words ran 24 s, 1,100 filters made a 503 and 25,000 unknown parameters a 23.5 MB page. Each
cap is refused up front, before any database work, with a 400 that says the cap.
"""
from __future__ import annotations

from flask import Flask, Response, current_app, request

from .http import bad_request

#: Settings with their defaults (a host's own value wins).
DEFAULTS = {"MAX_QUERY_STRING_BYTES": 8192, "MAX_SEARCH_WORDS": 20, "MAX_FILTERS": 20}
#: Flask-Admin's list filters are the arguments named flt<position>_<filter index>.
FILTER_PREFIX = "flt"


def init_app(app: Flask) -> None:
    """Check every request of ``app`` against the caps, first of all its before-request functions."""
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_over_caps)


def refuse_over_caps() -> Response | None:
    """A 400 naming the cap a request's query string goes over; None (carry on) if it keeps to them all."""
    config = current_app.config
    size, most = len(request.query_string), int(config["MAX_QUERY_STRING_BYTES"])
    if size > most:  # checked before request.args parses it
        return bad_request(f"The address's query is {size:,} bytes; the limit is {most:,}. Use fewer filters.")
    words, most = len(request.args.get("search", "").split()), int(config["MAX_SEARCH_WORDS"])
    if words > most:
        return bad_request(f"The search has {words:,} words; the limit is {most:,}. Search for fewer words.")
    filters = sum(1 for name in request.args if name.startswith(FILTER_PREFIX))
    most = int(config["MAX_FILTERS"])
    if filters > most:
        return bad_request(f"The list has {filters:,} filters; the limit is {most:,}. Remove some filters.")
    return None
