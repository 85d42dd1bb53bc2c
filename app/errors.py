"""The ApiError family and the handlers that turn every error into RFC 9457 JSON."""

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, jsonify
from marshmallow import ValidationError
from pymongo.errors import DuplicateKeyError, PyMongoError
from werkzeug.exceptions import HTTPException

from app.core import errors as domain

log = logging.getLogger("app.errors")

PROBLEM_MIMETYPE = "application/problem+json"


class ApiError(Exception):
    """Base of every error the API answers on purpose."""

    status = 500
    code = "internal_error"
    detail = "The server could not complete the request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict | None = None,
        headers: dict | None = None,
    ) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.errors = errors
        self.headers = headers or {}


class InvalidJsonError(ApiError):
    status = 400
    code = "invalid_json"
    detail = (
        "The request body must be a JSON document (Content-Type: application/json)."
    )


class TokenMissingError(ApiError):
    status = 401
    code = "token_missing"
    detail = "A bearer token is required."


class TokenInvalidError(ApiError):
    status = 401
    code = "token_invalid"
    detail = "The token is not valid."


class InvalidCredentialsError(ApiError):
    status = 401
    code = "invalid_credentials"
    detail = "Invalid username or password."


class ForbiddenError(ApiError):
    status = 403
    code = "forbidden"
    detail = "Your role does not allow this."


class AccountDisabledError(ApiError):
    status = 403
    code = "account_disabled"
    detail = "This user is disabled."


class InvalidCurrentPasswordError(ApiError):
    status = 403
    code = "invalid_current_password"
    detail = "The current password is wrong."


class NotFoundError(ApiError):
    status = 404
    code = "not_found"
    detail = "The resource was not found."


class AccountNotFoundError(NotFoundError):
    code = "account_not_found"
    detail = "Account not found."


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    detail = "No such user."


class ConflictError(ApiError):
    status = 409
    code = "conflict"
    detail = "The request conflicts with the current state."


class UsernameTakenError(ConflictError):
    code = "username_taken"
    detail = "That username is taken."


class InsufficientFundsError(ConflictError):
    code = "insufficient_funds"
    detail = "Insufficient funds."


class AccountFrozenError(ConflictError):
    code = "account_frozen"
    detail = "The account is frozen."


class AccountClosedError(ConflictError):
    code = "account_closed"
    detail = "The account is closed."


class AccountLimitError(ConflictError):
    code = "account_limit_reached"
    detail = "You hold the most accounts a customer may open."


class AccountNotEmptyError(ConflictError):
    code = "account_not_empty"
    detail = "Only an account with a zero balance and nothing in flight can close."


class NotACustomerError(ConflictError):
    code = "not_a_customer"
    detail = "Staff members hold no accounts."


class CannotDisableSelfError(ConflictError):
    code = "cannot_disable_self"
    detail = "A banker cannot disable their own user."


class IdempotencyInProgressError(ConflictError):
    code = "idempotency_in_progress"
    detail = "A request with this Idempotency-Key is still being processed."


class IdempotencyKeyReusedError(ApiError):
    status = 422
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was used with a different request."


class TooManyAttemptsError(ApiError):
    status = 429
    code = "too_many_attempts"
    detail = "Too many failed logins for this username; try again later."


class RateLimitedError(ApiError):
    status = 429
    code = "rate_limited"
    detail = "Too many requests; slow down."


class LedgerBusyError(ApiError):
    status = 503
    code = "ledger_busy"
    detail = "The account is busy; retry the request (with the same Idempotency-Key)."


class ServiceUnavailableError(ApiError):
    status = 503
    code = "database_unavailable"
    detail = "The database is not answering."


# The one table from the core's domain errors to the API's answers: each maps
# to the ApiError class that carries its status and code; the domain error's
# message becomes the problem's detail.
DOMAIN_ERRORS: dict[type[domain.DomainError], type[ApiError]] = {
    domain.AccountNotFound: AccountNotFoundError,
    domain.InsufficientFunds: InsufficientFundsError,
    domain.AccountFrozen: AccountFrozenError,
    domain.AccountClosed: AccountClosedError,
    domain.AccountLimitReached: AccountLimitError,
    domain.AccountBusy: LedgerBusyError,
}


def domain_error_response(error: domain.DomainError) -> Response:
    """Answer a domain error through the table above."""
    if isinstance(error, domain.InvalidRequest):
        return problem(
            422,
            "validation_error",
            "The request is not valid.",
            errors={error.field: [error.message]},
        )
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            return api_error_response(DOMAIN_ERRORS[cls](error.message))
    raise TypeError(f"no answer for domain error {type(error).__name__}")


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: dict | None = None,
    headers: dict | None = None,
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
    )


# werkzeug's HTTP errors that reach us without going through an ApiError.
_HTTP_CODES = {
    400: ("invalid_request", "The request could not be understood."),
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "That method is not allowed on this resource."),
    413: ("payload_too_large", "The request body is too large."),
}


def _normalise_errors(messages: Any) -> dict:
    if isinstance(messages, dict):
        return messages
    return {"_schema": messages if isinstance(messages, list) else [str(messages)]}


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
        return problem(
            422,
            "validation_error",
            "The request is not valid.",
            errors=_normalise_errors(error.messages),
        )

    @app.errorhandler(DuplicateKeyError)
    def handle_duplicate_key(error: DuplicateKeyError) -> Response:
        log.warning("duplicate key: %s", error.code)
        return problem(409, "conflict", "The resource already exists.")

    @app.errorhandler(PyMongoError)
    def handle_database_error(error: PyMongoError) -> Response:
        log.error("database error", exc_info=error)
        return problem(503, "database_unavailable", ServiceUnavailableError.detail)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        code, detail = _HTTP_CODES.get(
            status, (HTTPStatus(status).phrase.lower().replace(" ", "_"), None)
        )
        headers = {}
        valid_methods = getattr(error, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        return problem(status, code, detail or error.description or "", headers=headers)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.error("unhandled error request_id=%s", g.get("request_id"), exc_info=error)
        return problem(500, "internal_error", ApiError.detail)
