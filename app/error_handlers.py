"""The error handlers: every error, expected or not, answered as one problem document.

The catalogue of what the API answers (the ApiError classes, and the table from
the core's domain errors onto them) is app/errors.py; this module writes those
answers (RFC 9457, ``application/problem+json``) and registers the handlers
for ApiError, domain errors, marshmallow, pymongo and werkzeug errors, and any
other exception.
"""

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, jsonify
from marshmallow import ValidationError
from pymongo.errors import DuplicateKeyError, PyMongoError
from werkzeug.exceptions import HTTPException

from app.core import errors as domain
from app.errors import (
    DOMAIN_ERRORS,
    PROBLEM_MIMETYPE,
    ApiError,
    ConflictError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ValidationFailedError,
)

# The handlers log under the name they always had.
log = logging.getLogger("app.errors")


def domain_error_response(error: domain.DomainError) -> Response:
    """Answer a domain error through ``DOMAIN_ERRORS`` (app/errors.py)."""
    if isinstance(error, domain.InvalidRequest):
        return api_error_response(
            ValidationFailedError(errors={error.field: [error.message]})
        )
    headers = {}
    if isinstance(error, domain.RetryLater):
        headers["Retry-After"] = str(error.retry_after_seconds)
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            return api_error_response(
                DOMAIN_ERRORS[cls](error.message, headers=headers, extras=error.extras)
            )
    raise TypeError(f"no answer for domain error {type(error).__name__}")


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: dict | None = None,
    headers: dict | None = None,
    extras: dict | None = None,
) -> Response:
    """Build one RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": g.get("request_id"),
    }
    if errors is not None:
        body["errors"] = errors
    for name, value in (extras or {}).items():
        body.setdefault(name, value)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_MIMETYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_error_response(error: ApiError) -> Response:
    """Answer an ApiError."""
    return problem(
        error.status,
        error.code,
        error.detail,
        errors=error.errors,
        headers=error.headers,
        extras=error.extras,
    )


# werkzeug's HTTP errors that reach us without going through an ApiError; any
# other status answers with its phrase in snake case as the code.
_HTTP_ERRORS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        InvalidRequestError,
        NotFoundError,
        MethodNotAllowedError,
        PayloadTooLargeError,
    )
}


def _normalise_errors(messages: Any) -> dict:
    """Field -> list of messages; a nested object's fields as ``outer.inner``."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    flat: dict[str, list] = {}
    for field, value in messages.items():
        if isinstance(value, dict):
            for inner, listed in _normalise_errors(value).items():
                flat[f"{field}.{inner}"] = listed
        else:
            flat[str(field)] = value if isinstance(value, list) else [str(value)]
    return flat


def register_error_handlers(app: Flask) -> None:
    """Make every error, expected or not, a problem document."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return api_error_response(error)

    @app.errorhandler(domain.DomainError)
    def handle_domain_error(error: domain.DomainError) -> Response:
        return domain_error_response(error)

    @app.errorhandler(ValidationError)
    def handle_validation_error(error: ValidationError) -> Response:
        return api_error_response(
            ValidationFailedError(errors=_normalise_errors(error.messages))
        )

    @app.errorhandler(DuplicateKeyError)
    def handle_duplicate_key(error: DuplicateKeyError) -> Response:
        log.warning("duplicate key: %s", error.code)
        return api_error_response(ConflictError("The resource already exists."))

    @app.errorhandler(PyMongoError)
    def handle_database_error(error: PyMongoError) -> Response:
        log.error("database error", exc_info=error)
        return api_error_response(ServiceUnavailableError())

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        headers = {}
        valid_methods = getattr(error, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        known = _HTTP_ERRORS.get(status)
        if known is not None:
            return api_error_response(known(headers=headers))
        code = HTTPStatus(status).phrase.lower().replace(" ", "_")
        return problem(status, code, error.description or "", headers=headers)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.error("unhandled error request_id=%s", g.get("request_id"), exc_info=error)
        return api_error_response(ApiError())
