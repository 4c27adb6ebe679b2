"""Headers and guards every response and request gets: the CSP nonce, the security headers, the NUL refusal."""
from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request

from .errors import bad_request

#: Paths whose pages show data or a login form: browsers and proxies must not keep a copy.
NO_STORE_PREFIXES = ("/admin", "/login")


def init_app(app: Flask) -> None:
    """Give every request a CSP nonce (first of all hooks), refuse NUL characters, and add the security headers."""
    # First of all hooks: CSRFProtect's runs before ours, and a request it refuses used to get "'nonce-'" (invalid).
    app.before_request_funcs.setdefault(None, []).insert(0, new_nonce)
    app.before_request(refuse_nul)
    app.after_request(add_headers)


def new_nonce() -> None:
    """A fresh random nonce for this request's inline scripts and styles (``g.csp_nonce``)."""
    g.csp_nonce = secrets.token_urlsafe(16)


def refuse_nul() -> Response | None:
    """400 for a NUL character in any parameter name or value: no text column can hold one (PostgreSQL refuses
    it), so say so instead of failing deep inside a query."""
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return bad_request("a NUL character (%00) is not allowed in any parameter")
    return None


def content_security_policy(nonce: str) -> str:
    """Only this site's own scripts, styles and images, plus inline ones carrying ``nonce``; no framing."""
    return (f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")


def add_headers(response: Response) -> Response:
    """Add the CSP and the other security headers to ``response`` unless a view set its own."""
    nonce = g.get("csp_nonce") or secrets.token_urlsafe(16)  # never an empty nonce
    response.headers.setdefault("Content-Security-Policy", content_security_policy(nonce))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(NO_STORE_PREFIXES):
        response.headers.setdefault("Cache-Control", "no-store")
    hsts = current_app.config.get("HSTS_SECONDS")
    if hsts:  # production only (the cookies are Secure there too): HTTPS is the only way to this host
        response.headers.setdefault("Strict-Transport-Security", f"max-age={int(hsts)}; includeSubDomains")
    return response
