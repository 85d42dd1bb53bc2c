"""Request ids, one access-log line per request, and logging set-up."""

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("app.access")


def configure_logging(app: Flask) -> None:
    """Send the app's logs to stderr, one line each."""
    logger = logging.getLogger("app")
    logger.setLevel(app.config["LOG_LEVEL"])
    if not any(getattr(h, "_bank_api", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        handler._bank_api = True
        logger.addHandler(handler)
    logger.propagate = app.config["TESTING"]


def escape_invisible(text: str) -> str:
    """Escape what could forge or disguise a line: CR, LF, other controls, bidi.

    For the client's text that is written down as given, a path in the access
    log (``/accounts/%0Afake line``) or a User-Agent in the login history.
    Printable text passes unchanged.
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode()
        for char in text
    )


def register_request_hooks(app: Flask) -> None:
    """Give every request an id and write its access-log line."""

    @app.before_request
    def start_request() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        started = g.get("started")
        elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0
        access_log.info(
            "method=%s path=%s status=%s duration_ms=%.1f request_id=%s user_id=%s",
            request.method,
            escape_invisible(request.path),
            response.status_code,
            elapsed_ms,
            request_id,
            g.get("user_id", "-"),
        )
        return response
