"""How the extension's views refuse a request: a 400 that says what to fix, never a 500."""
from __future__ import annotations

from flask import Response, jsonify, request
from werkzeug.exceptions import BadRequest


def wants_json() -> bool:
    """True for the API's ``.json`` paths: their errors are ``{"error": message}``, not a page."""
    return request.path.endswith(".json")


def bad_request(message: str) -> Response:
    """400 with ``message``: JSON for ``.json`` paths; for pages, the host's own 400 page (its error handler)
    with ``message`` as the description."""
    if wants_json():
        response = jsonify(error=message)
        response.status_code = 400
        return response
    raise BadRequest(description=message)
