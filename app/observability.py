"""Request ids, one access-log line per request, metrics and logging set-up."""

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from app.config import parse_choice
from app.metrics import init_metrics, metrics_of

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("app.access")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_FORMATS = ("text", "json")


class RequestContextFilter(logging.Filter):
    """Stamp each record made during a request with its request id and user id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id") or "-"
            user_id = g.get("user_id")
            if user_id:
                record.user_id = user_id
        return True


def log_format(app: Flask) -> str:
    """Read LOG_FORMAT: ``text`` (the default) or ``json``, in any case.

    :raises SettingError: any other value.
    """
    return parse_choice(
        "LOG_FORMAT", str(app.config.get("LOG_FORMAT", "text")), LOG_FORMATS
    )


def make_formatter(kind: str) -> logging.Formatter:
    """The formatter of one log format: a text line, or one JSON object a line."""
    if kind == "json":
        # Every record attribute given as ``extra`` (the request id, the user
        # id, the access log's fields) becomes a key of the object.
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(app: Flask) -> None:
    """Send the app's logs to stderr, one line each, as text or JSON (LOG_FORMAT).

    :raises SettingError: LOG_FORMAT is neither text nor json.
    """
    formatter = make_formatter(log_format(app))
    logger = logging.getLogger("app")
    logger.setLevel(app.config["LOG_LEVEL"])
    handler = next((h for h in logger.handlers if getattr(h, "_bank_api", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RequestContextFilter())
        handler._bank_api = True
        logger.addHandler(handler)
    # The handler is the process's; the latest app's format is the one used.
    handler.setFormatter(formatter)
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
    """Give every request an id, count it and write its access-log line."""
    init_metrics(app)

    @app.before_request
    def start_request() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        g.request_id = request_id
        response.headers["X-Request-ID"] = request_id
        started = g.get("started")
        elapsed = time.perf_counter() - started if started else 0.0
        metrics = metrics_of(app)
        if metrics is not None:
            metrics.observe(response, elapsed)
        path = escape_invisible(request.path)
        access_log.info(
            "method=%s path=%s status=%s duration_ms=%.1f request_id=%s user_id=%s",
            request.method,
            path,
            response.status_code,
            elapsed * 1000,
            request_id,
            g.get("user_id", "-"),
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        return response
