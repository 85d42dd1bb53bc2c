"""The HTTP servers' own answers: problem documents, and no software banner.

Every request that reaches the app is answered by the app. A few never reach
it: a request line or header block over the server's limits, a request line
that is not HTTP. The server answers those by itself, and both servers this
project runs on (werkzeug's in ``python run.py``, gunicorn in production) would
answer with an HTML page that echoes the request, and name themselves and
their versions in a ``Server`` header on every response. Here both answer with
the contract's problem document and a ``Server`` value that names no software.
"""

import json
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from werkzeug.serving import WSGIRequestHandler

from app.error_handlers import problem
from app.errors import PROBLEM_MIMETYPE

# Neutral on purpose: software names and versions only help an attacker pick
# an exploit.
SERVER_HEADER = "bank-api"

# What a server says about the requests it refuses itself. Fixed texts: the
# servers' own messages quote the request line or header back, or name their
# internal limits.
_SERVER_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "The request could not be understood."),
    403: ("forbidden", "The request was refused."),
    413: ("payload_too_large", "The request body is too large."),
    414: ("uri_too_long", "The request line is too long."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    431: (
        "request_header_fields_too_large",
        "The request has too many header fields, or one that is too large.",
    ),
    500: ("internal_error", "The server could not complete the request."),
    501: ("not_implemented", "The server does not support this request."),
    505: ("http_version_not_supported", "The HTTP version is not supported."),
}


def server_problem(status: int) -> bytes:
    """Render the problem document a server answers ``status`` with by itself.

    There is no request id: the request never got as far as the app.
    """
    phrase = HTTPStatus(status).phrase
    code, detail = _SERVER_ERRORS.get(
        status, (phrase.lower().replace(" ", "_").replace("-", "_"), phrase + ".")
    )
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


class ProblemRequestHandler(WSGIRequestHandler):
    """werkzeug's development request handler, with the contract's errors.

    Pass it to ``app.run(request_handler=...)``.
    """

    def version_string(self) -> str:
        """Name no software in the ``Server`` header."""
        return SERVER_HEADER

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Answer a request http.server refused to parse with a problem document."""
        # http.server's page is HTML, and its reason phrase quotes the bad
        # request line back; the log keeps that for whoever runs the server.
        self.log_error("code %d, message %s", code, message)
        if not self.request_version.startswith("HTTP/1."):
            # A request line too broken to name a version would get a bare
            # HTTP/0.9 body, without status line or headers.
            self.request_version = self.protocol_version
        self.close_connection = True
        body = server_problem(code)
        self.send_response(code)
        self.send_header("Content-Type", PROBLEM_MIMETYPE)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _gunicorn_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    # gunicorn.util.write_error's signature; its ``mesg`` quotes the request.
    # gunicorn is imported only here and below: it is Unix-only, and the
    # development server must not need it.
    from gunicorn import util

    body = server_problem(status_int)
    head = (
        f"HTTP/1.1 {status_int} {HTTPStatus(status_int).phrase}\r\n"
        f"Server: {SERVER_HEADER}\r\n"
        f"Date: {util.http_date()}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MIMETYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def harden_gunicorn() -> None:
    """Make gunicorn's own answers problem documents without a software banner.

    gunicorn 27 has no setting for either: every worker class writes its parse
    errors (LimitRequestLine, LimitRequestHeaders, InvalidRequestLine,
    InvalidHeader, ...) through ``gunicorn.util.write_error``, an HTML page,
    and every response's ``Server`` header is ``gunicorn.http.wsgi.SERVER``,
    read when the response (HTTP/1 or HTTP/2) is created. Both are looked up
    at call time, so replacing them here, in the worker before it serves,
    covers every request. ``gunicorn.conf.py`` calls this.
    """
    from gunicorn import util
    from gunicorn.http import wsgi

    util.write_error = _gunicorn_error
    wsgi.SERVER = SERVER_HEADER


def register_body_error_handlers(app: Flask) -> None:
    """Answer a request body the server could not read with 400, not 500.

    gunicorn de-chunks a body while the app reads it, so a malformed chunk
    (a bad size, a missing terminator) or a body that ends early raises from
    inside the view: gunicorn's own exceptions, which the app would otherwise
    take for a bug of its own.
    """
    try:
        from gunicorn.http.errors import NoMoreData, ParseException
    except ImportError:  # not served by gunicorn: werkzeug raises BadRequest
        return

    @app.errorhandler(ParseException)
    @app.errorhandler(NoMoreData)
    def unreadable_body(_error: Exception) -> Response:
        return problem(400, "invalid_request", "The request body could not be read.")
