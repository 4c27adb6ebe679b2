"""Refusing bad input the same way everywhere: a 400 that says what to fix, never a 500."""
from __future__ import annotations

from flask import Response, jsonify, make_response, render_template, request


def bad_request(message: str) -> Response:
    """400 with ``message``: JSON for the API's ``.json`` paths, the app's error page for people.

    A page rather than plain text, so a browser shows it styled, with a way back, and asks for no favicon.
    """
    if request.path.endswith(".json"):
        response = jsonify(error=message)
    else:
        response = make_response(render_template("error.html", code=400, message=message))
    response.status_code = 400
    return response
