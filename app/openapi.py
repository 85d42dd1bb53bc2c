"""The OpenAPI document, Swagger UI and ReDoc, built from the marshmallow schemas.

flask-smorest collects each view's documentation and apispec turns the same
schemas that validate requests and shape responses into the document, so the
two cannot drift. flask-smorest is used for documentation only: request bodies
are still parsed by ``json_body()`` (exact decimals) and validated by the
controllers, and errors stay the problem documents of ``app/errors.py``. The
error codes, in the document's description and in the error responses'
descriptions, are written from that module's catalogue, never by hand here.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    render_template,
    request,
    send_from_directory,
)
from flask_smorest import Api
from flask_smorest import Blueprint as DocumentedBlueprint
from marshmallow import Schema
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from app.errors import (
    AccountDisabledError,
    ApiError,
    ForbiddenError,
    InvalidJsonError,
    InvalidRequestError,
    PayloadTooLargeError,
    RateLimitedError,
    ServiceUnavailableError,
    TokenExpiredError,
    TokenInvalidError,
    TokenMissingError,
    TokenRevokedError,
    ValidationFailedError,
    catalogue,
)
from app.schemas.common import (
    Cents,
    Cursor,
    DateBound,
    Money,
    ObjectIdString,
    QueryInt,
    UtcDateTime,
)
from app.schemas.problem import ProblemSchema
from app.version import __version__

API_TITLE = "Bank API"
API_VERSION = __version__  # app/version.py, the one place


def error_table() -> str:
    """Render the error catalogue (``app/errors.py``) as a markdown table."""
    rows = ["| Status | `code` | When |", "|---|---|---|"]
    for error in catalogue():
        when = error.when.replace("|", "\\|")
        rows.append(f"| {error.status} | `{error.code}` | {when} |")
    return "\n".join(rows)


def describe(*errors: type[ApiError]) -> str:
    """Describe a response by the errors it can carry, from their catalogue lines."""
    return "; ".join(f"`{error.code}`: {error.when}" for error in errors) + "."


DESCRIPTION = (
    "Customers keep accounts, move money exactly and read their history; "
    "bankers see and administer every account. Errors are RFC 9457 problem "
    "documents; branch on their `code`:\n\n"
    + error_table()
    + "\n\nAny other HTTP error gets its status phrase in snake case as `code`."
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "required": False,
    "description": "Makes a retry safe: the same key and body replay the first "
    "response and move nothing. Scoped to the user, kept 24 h.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[\\x20-\\x7e]+$",
    },
    "example": "3b1f0f5e-7a51-4d5e-9a8e-1f2d3c4b5a69",
}
BEARER = "bearerAuth"
# /metrics takes METRICS_TOKEN, not a login's JWT, when the setting is made.
METRICS_BEARER = "metricsToken"
SWAGGER_ASSETS = "/docs/assets"
# The files the two pages load, and nothing else of the two packages. The
# Swagger UI package also holds its demo page (index.html, whose initializer
# loads the petstore from swagger.io), oauth2-redirect.html and source maps;
# HTML served from the API's origin without the docs policy could run any
# script against it.
SWAGGER_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})
REDOC_FILES = frozenset({"redoc/redoc.standalone.js"})
# The endpoints that serve the docs pages and their assets.
DOC_ENDPOINTS = frozenset({"docs.swagger_ui", "docs.redoc", "docs.static", "static"})
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)

_MONEY_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
_CENTS_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"

# What each of our own fields looks like on the wire. apispec only knows the
# built-in marshmallow fields; these carry their own types and formats.
FIELD_PROPERTIES: dict[type, dict[str, Any]] = {
    Money: {
        "oneOf": [
            {"type": "string", "pattern": _MONEY_PATTERN},
            {"type": "number", "exclusiveMinimum": True, "minimum": 0},
        ],
        "description": "Greater than 0, at most 2 decimal places and at most "
        "MAX_TRANSACTION_AMOUNT; a JSON number or a decimal string.",
        "example": "125.50",
    },
    Cents: {"type": "string", "pattern": _CENTS_PATTERN, "example": "125.50"},
    UtcDateTime: {
        "type": "string",
        "format": "date-time",
        "example": "2026-11-21T09:30:00.000Z",
    },
    ObjectIdString: {
        "type": "string",
        "pattern": "^[0-9a-f]{24}$",
        "example": "6740a1f0c2b54e0a9c1d2e3f",
    },
    DateBound: {
        "type": "string",
        "description": "ISO 8601 date or datetime; a datetime without a zone is "
        "UTC; a date-only `to` includes that whole day.",
        "example": "2026-11-21",
    },
    Cursor: {
        "type": "string",
        "description": "The `next_cursor` of the previous page.",
    },
    QueryInt: {"type": "integer"},
}

RATE_LIMITED = {429: describe(RateLimitedError)}

# Statuses every operation of a kind can answer, beside its own.
ALWAYS = (500, 503)
AUTHENTICATED = (401, 403)
WITH_BODY = (400, 413, 422)

# What those statuses mean on any operation, from the error catalogue.
_DESCRIPTIONS = {
    400: describe(InvalidJsonError, InvalidRequestError),
    401: describe(
        TokenMissingError, TokenInvalidError, TokenExpiredError, TokenRevokedError
    ),
    403: describe(ForbiddenError, AccountDisabledError),
    413: describe(PayloadTooLargeError),
    422: describe(ValidationFailedError),
    500: describe(ApiError),
    503: describe(ServiceUnavailableError),
}


class BankApi(Api):
    """flask-smorest's Api, minus its error handlers and catch-all response.

    Our handlers answer every error with a problem document (and keep ``Allow``
    on 405); a ``default`` response would make every status look documented.
    """

    DEFAULT_ERROR_RESPONSE_NAME = None
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None


def _field_properties(_converter: Any, field: Any, **_kwargs: Any) -> dict:
    for field_class, properties in FIELD_PROPERTIES.items():
        if isinstance(field, field_class):
            return dict(properties)
    return {}


@lru_cache(maxsize=4)
def build_spec(blueprints: tuple[DocumentedBlueprint, ...]) -> dict:
    """Build the OpenAPI document of ``blueprints`` (once per process).

    The document depends only on the views and schemas, so it is made on a
    scratch app the first time it is asked for; building it for every app the
    test suite creates would cost ~30 ms each.
    """
    scratch = Flask(__name__)
    scratch.config.update(
        API_TITLE=API_TITLE, API_VERSION=API_VERSION, OPENAPI_VERSION="3.0.3"
    )
    api = BankApi(scratch, spec_kwargs={"info": {"description": DESCRIPTION}})
    api.ma_plugin.converter.add_attribute_function(_field_properties)
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        METRICS_BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "The METRICS_TOKEN setting; needed only when it is set.",
        },
    )
    api.spec.components.parameter("IdempotencyKey", "header", IDEMPOTENCY_KEY)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    return api.spec.to_dict()


def register_openapi(app: Flask, blueprints: Iterable[DocumentedBlueprint]) -> None:
    """Mount ``blueprints`` and serve /openapi.json, /docs and /redoc for them."""
    documented = tuple(blueprints)
    for blueprint in documented:
        app.register_blueprint(blueprint)
    docs = Blueprint("docs", __name__)
    docs.add_url_rule(
        f"{SWAGGER_ASSETS}/<path:filename>",
        "static",
        _assets(swagger_ui_path, SWAGGER_FILES),
    )

    @docs.get("/openapi.json")
    def openapi_json() -> Response:
        # In the document's own order (not jsonify's sorted keys): paths by
        # tag, in the order their views are declared (register before login,
        # login before change-password), which Swagger UI and ReDoc keep.
        body = json.dumps(build_spec(documented), sort_keys=False)
        return current_app.response_class(body, mimetype="application/json")

    @docs.get("/docs")
    def swagger_ui() -> str:
        return render_template(
            "docs/swagger_ui.html", title=API_TITLE, assets=SWAGGER_ASSETS
        )

    @docs.get("/redoc")
    def redoc() -> str:
        return render_template("docs/redoc.html", title=API_TITLE)

    app.register_blueprint(docs)
    # Flask serves every file of app/static at /static/; only ReDoc's bundle
    # is meant to be there.
    if app.static_folder is not None:
        app.endpoint("static")(_assets(app.static_folder, REDOC_FILES))
    app.after_request(_docs_policy)


def _assets(folder: str, allowed: frozenset[str]) -> Callable[[str], Response]:
    """A view serving the files of ``folder`` named in ``allowed``, else a 404."""

    def asset(filename: str) -> Response:
        if filename not in allowed:
            raise NotFound()
        return send_from_directory(folder, filename)

    return asset


def _docs_policy(response: Response) -> Response:
    # The docs pages run third-party JavaScript; the policy keeps every request
    # they make on this origin (ReDoc's footer would load a logo from its CDN).
    # Their assets carry it too, so no file of these packages is ever
    # served from here without it.
    if request.endpoint in DOC_ENDPOINTS:
        response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def _stand_in() -> None:
    return None


def operation(
    bp: DocumentedBlueprint,
    status: int,
    response: type[Schema] | None,
    *,
    body: type[Schema] | None = None,
    query: type[Schema] | None = None,
    errors: Mapping[int, str] | Iterable[int] = (),
    auth: bool = True,
    idempotent: bool = False,
    example: dict | None = None,
    refresh: bool = False,
    text: str | None = None,
    optional_security: str | None = None,
    accepted: tuple[type[Schema], str] | None = None,
    files: Iterable[str] = (),
) -> Callable:
    """Document one view: its input, its answer and every error it can give.

    ``errors`` names the statuses particular to this view, with a description of
    when each happens; the statuses every such view can give are added here.
    ``text`` is the media type of a success answer that is text, not JSON;
    ``optional_security`` names a security scheme a public view may require.
    ``accepted``: the schema and meaning of a second success answer, 202 (a
    large movement that waits for a banker's approval).
    ``files``: media types of a success answer that is a file (binary),
    beside ``response``'s JSON or, with no ``response``, instead of it.
    """
    described = dict(errors) if isinstance(errors, Mapping) else {}
    statuses = set(errors) | set(ALWAYS)
    if body is not None or idempotent:
        statuses |= set(WITH_BODY)
    if query is not None:
        statuses.add(422)
    if auth:
        statuses |= set(AUTHENTICATED)
    manual: dict[str, Any] = {}
    parameters: list[Any] = []
    if query is not None:
        parameters.append({"in": "query", "schema": query})
    if idempotent:
        parameters.append("IdempotencyKey")
    if parameters:
        manual["parameters"] = parameters
    if body is not None:
        content: dict[str, Any] = {"schema": body}
        if example is not None:
            content["example"] = example
        manual["requestBody"] = {
            "required": True,
            "content": {"application/json": content},
        }
    if auth:
        manual["security"] = [{BEARER: []}]
    elif optional_security:
        manual["security"] = [{}, {optional_security: []}]
    if refresh:
        manual["description"] = "Send the **refresh** token as the bearer token."
    success_headers = (
        {
            "Idempotency-Replayed": {
                "description": "`true` when this is the stored answer to an "
                "earlier request with the same Idempotency-Key.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
        if idempotent
        else None
    )
    decorators = [bp.doc(**manual)] if manual else []
    decorators.append(
        bp.alt_response(
            status,
            schema={"type": "string"} if text else response,
            content_type=text or (None if response else ""),
            description=HTTPStatus(status).phrase,
            headers=success_headers,
            success=True,
        )
    )
    # Several content types of one status merge into one response (OAS 3).
    for media_type in files:
        decorators.append(
            bp.alt_response(
                status,
                schema={"type": "string", "format": "binary"},
                content_type=media_type,
                description=HTTPStatus(status).phrase,
                success=True,
            )
        )
    if accepted is not None:
        decorators.append(
            bp.alt_response(
                HTTPStatus.ACCEPTED,
                schema=accepted[0],
                description=accepted[1],
                headers=success_headers,
                success=True,
            )
        )
    for code in sorted(statuses):
        decorators.append(
            bp.alt_response(
                code,
                schema=ProblemSchema,
                content_type="application/problem+json",
                description=described.get(code)
                or _DESCRIPTIONS.get(code, HTTPStatus(code).phrase),
            )
        )

    def decorate(view: Callable) -> Callable:
        # flask-smorest's decorators wrap the view once each; only the
        # documentation they gather is wanted, so it is taken off a stand-in
        # and the view itself stays unwrapped.
        stand_in: Callable = _stand_in
        for decorator in decorators:
            stand_in = decorator(stand_in)
        view._apidoc = stand_in._apidoc  # type: ignore[attr-defined]
        return view

    return decorate
