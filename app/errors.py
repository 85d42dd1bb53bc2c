"""The error catalogue: the ApiError family, and the table from domain errors.

Each ApiError class is one entry of the catalogue: its HTTP ``status``, its
stable ``code``, the default ``detail`` and ``when``, one line saying when the
API answers with it. ``DOMAIN_ERRORS`` maps the core's domain errors onto the
classes. The OpenAPI document and docs/api.md's error table are generated from
these classes (``app/openapi.py``, ``scripts/error_catalogue.py``), so a code
is added, renamed or explained here and nowhere else. The handlers that answer
with these classes are in ``app/error_handlers.py``.
"""

from typing import Any

from app.core import errors as domain

PROBLEM_MIMETYPE = "application/problem+json"

# Every ApiError class, in the order defined; see ``catalogue()``.
_CATALOGUE: list[type["ApiError"]] = []


class ApiError(Exception):
    """Base of every error the API answers on purpose; itself the 500."""

    status = 500
    code = "internal_error"
    detail = "The server could not complete the request."
    when = "anything unexpected (no stack trace, no exception text)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _CATALOGUE.append(cls)

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict | None = None,
        headers: dict | None = None,
        extras: dict | None = None,
    ) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.errors = errors
        self.headers = headers or {}
        # More members of the problem document (e.g. a daily limit's figures).
        self.extras = extras or {}


_CATALOGUE.append(ApiError)


def catalogue() -> list[type[ApiError]]:
    """Return every ApiError class by status, in definition order within one."""
    return sorted(_CATALOGUE, key=lambda cls: cls.status)


class InvalidJsonError(ApiError):
    status = 400
    code = "invalid_json"
    detail = (
        "The request body must be a JSON document (Content-Type: application/json)."
    )
    when = (
        "body is not JSON: wrong `Content-Type`, empty, malformed, "
        "`NaN`/`Infinity`, nested deeper than 32 levels, a key repeated within "
        'one object, a lone UTF-16 surrogate (`"\\ud800"`) in any string or key'
    )


class InvalidRequestError(ApiError):
    status = 400
    code = "invalid_request"
    detail = "The request could not be understood."
    when = (
        "any other request werkzeug cannot understand, or a request line or "
        "header that is not HTTP"
    )


class InvalidResetCodeError(ApiError):
    status = 400
    code = "invalid_reset_code"
    detail = (
        "The reset code is not valid: wrong, used, expired or replaced. Request "
        "a new code."
    )
    when = (
        "confirming a password reset with a wrong, used, expired, replaced or "
        "exhausted (5 wrong tries) code, or for a username without one"
    )


class TokenMissingError(ApiError):
    status = 401
    code = "token_missing"
    detail = "A bearer token is required."
    when = "no bearer token"


class TokenInvalidError(ApiError):
    status = 401
    code = "token_invalid"
    detail = "The token is not valid."
    when = (
        "malformed or tampered token, wrong token type, or the token's user no "
        "longer exists"
    )


class TokenExpiredError(ApiError):
    status = 401
    code = "token_expired"
    detail = "The token has expired."
    when = "expired token"


class TokenRevokedError(ApiError):
    status = 401
    code = "token_revoked"
    detail = "The token has been revoked."
    when = (
        "the token's session ended: logged out, the password changed or the "
        "user disabled since it was issued"
    )


class FreshTokenRequiredError(ApiError):
    status = 401
    code = "fresh_token_required"
    detail = "A fresh login is required."
    when = "the route needs a token from a fresh login (none does yet)"


class InvalidCredentialsError(ApiError):
    status = 401
    code = "invalid_credentials"
    detail = "Invalid username or password."
    when = "wrong username or password (one answer for both)"


class ForbiddenError(ApiError):
    status = 403
    code = "forbidden"
    detail = "Your role does not allow this."
    when = "valid token, wrong role"


class AccountDisabledError(ApiError):
    status = 403
    code = "account_disabled"
    detail = "This user is disabled."
    when = "the user is disabled"


class InvalidCurrentPasswordError(ApiError):
    status = 403
    code = "invalid_current_password"
    detail = "The current password is wrong."
    when = "changing the password with a wrong current one"


class NotFoundError(ApiError):
    status = 404
    code = "not_found"
    detail = "No such resource."
    when = "no such route"


class AccountNotFoundError(NotFoundError):
    code = "account_not_found"
    detail = "Account not found."
    when = (
        "no such account, or not one of the caller's (the two look alike); "
        "for a banker, no such account"
    )


class GoalNotFoundError(NotFoundError):
    code = "goal_not_found"
    detail = "Goal not found."
    when = "no such goal, or not one of the caller's (the two look alike)"


class LoanNotFoundError(NotFoundError):
    code = "loan_not_found"
    detail = "Loan not found."
    when = "no such loan, or not one of the caller's (the two look alike)"


class ReportNotFoundError(NotFoundError):
    code = "report_not_found"
    detail = "No report for that month: it has not begun."
    when = "a monthly report of a month that has not begun"


class StatementNotFoundError(NotFoundError):
    code = "statement_not_found"
    detail = "No statement for that month."
    when = (
        "a statement of a month that has not begun, or that ended before the "
        "account was opened"
    )


class NotificationNotFoundError(NotFoundError):
    code = "notification_not_found"
    detail = "Notification not found."
    when = "no such notification, or not one of the caller's (the two look alike)"


class PayeeNotFoundError(NotFoundError):
    code = "payee_not_found"
    detail = "Payee not found."
    when = "no such payee, or not one of the caller's (the two look alike)"


class ScheduledTransferNotFoundError(NotFoundError):
    code = "scheduled_transfer_not_found"
    detail = "Scheduled transfer not found."
    when = "no such scheduled transfer, or not one of the caller's"


class ApprovalNotFoundError(NotFoundError):
    code = "approval_not_found"
    detail = "Approval not found."
    when = (
        "no such approval, or not one of the caller's (the two look alike; a "
        "malformed id included)"
    )


class JobNotFoundError(NotFoundError):
    code = "job_not_found"
    detail = "No such job."
    when = "a banker names a job that does not exist"


class ReviewNotFoundError(NotFoundError):
    code = "review_not_found"
    detail = "Review not found."
    when = "no review of a flagged movement has that id (a malformed id included)"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    detail = "No such user."
    when = "a banker names a user that does not exist"


class MethodNotAllowedError(ApiError):
    status = 405
    code = "method_not_allowed"
    detail = "That method is not allowed on this resource."
    when = "wrong method for the route (with `Allow`)"


class ConflictError(ApiError):
    status = 409
    code = "conflict"
    detail = "The request conflicts with the current state."
    when = "any other duplicate-key clash in the database"


class UsernameTakenError(ConflictError):
    code = "username_taken"
    detail = "That username is taken."
    when = "registration or staff creation with a taken username"


class InsufficientFundsError(ConflictError):
    code = "insufficient_funds"
    detail = "Insufficient funds."
    when = "withdrawal or transfer larger than the balance"


class AccountFrozenError(ConflictError):
    code = "account_frozen"
    detail = "The account is frozen."
    when = "money movement in or out of a frozen account"


class AccountClosedError(ConflictError):
    code = "account_closed"
    detail = "The account is closed."
    when = "money movement on a closed account, or changing a closed one's status"


class AccountLimitError(ConflictError):
    code = "account_limit_reached"
    detail = "You hold the most accounts a customer may open."
    when = "opening an account beyond `MAX_ACCOUNTS_PER_CUSTOMER`"


class AccountNotEmptyError(ConflictError):
    code = "account_not_empty"
    detail = "Only an account with a zero balance and nothing in flight can close."
    when = "closing an account with money in it or a movement in flight"


class NotACustomerError(ConflictError):
    code = "not_a_customer"
    detail = "Staff members hold no accounts."
    when = "a banker opens an account for a staff member"


class CannotDisableSelfError(ConflictError):
    code = "cannot_disable_self"
    detail = "A banker cannot disable their own user."
    when = "a banker disables their own user"


class GoalLimitError(ConflictError):
    code = "goal_limit_reached"
    detail = "You hold the most savings goals a customer may hold."
    when = "creating a goal beyond `MAX_GOALS_PER_CUSTOMER`"


class RoundUpTakenError(ConflictError):
    code = "round_up_taken"
    detail = "Another of your goals already takes the round-ups."
    when = "a second goal of one customer asks for `round_up`"


class PayeeExistsError(ConflictError):
    code = "payee_exists"
    detail = "That account is already one of your payees."
    when = "adding an account that is already among the caller's payees"


class PayeeLimitError(ConflictError):
    code = "payee_limit_reached"
    detail = "You keep the most payees allowed."
    when = "adding a payee beyond `MAX_PAYEES`"


class NameCheckFailedError(ConflictError):
    code = "name_check_failed"
    detail = (
        "The name does not match the account holder's; check it, or send "
        "acknowledge_name_check: true to keep it anyway."
    )
    when = (
        "a payee's `name` does not match the holder's (`no_match`) and "
        "`acknowledge_name_check` is not true"
    )


class InvalidStateError(ConflictError):
    code = "invalid_state"
    detail = "The object's state does not allow that."
    when = (
        "pausing, resuming or cancelling a scheduled transfer, or approving, "
        "rejecting, withdrawing, disbursing or repaying a loan, in a state "
        "that does not allow it"
    )


class OverpaymentError(ConflictError):
    code = "overpayment"
    detail = "The repayment is more than is owed."
    when = (
        "a loan repayment larger than the outstanding balance (with "
        "`outstanding`, counting repayments still in flight); nothing moved"
    )


class DailyLimitExceededError(ConflictError):
    code = "daily_limit_exceeded"
    detail = "Daily limit exceeded."
    when = (
        "money leaving the customer would pass their daily limit today (with "
        "`limit`, `used`, `remaining`, `resets_at`); nothing moved"
    )


class ReviewNotOpenError(ConflictError):
    code = "review_not_open"
    detail = "The review is closed already."
    when = (
        "closing a review that is closed already (another banker closed it "
        "first; it keeps its one outcome)"
    )


class ApprovalNotPendingError(ConflictError):
    code = "approval_not_pending"
    detail = "The approval is not pending."
    when = (
        "approving, rejecting or cancelling an approval that was decided already "
        "(with `approval_status`): it keeps its one outcome"
    )


class IdempotencyInProgressError(ConflictError):
    code = "idempotency_in_progress"
    detail = "A request with this Idempotency-Key is still being processed."
    when = "the first request with this `Idempotency-Key` is still running"


class PayloadTooLargeError(ApiError):
    status = 413
    code = "payload_too_large"
    detail = "The request body is too large."
    when = (
        "body larger than `MAX_CONTENT_LENGTH`, whether announced by "
        "`Content-Length` or sent chunked"
    )


class UriTooLongError(ApiError):
    status = 414
    code = "uri_too_long"
    detail = "The request line is too long."
    when = "request line longer than the server accepts (answered by the server)"


class ExpectationFailedError(ApiError):
    status = 417
    code = "expectation_failed"
    detail = "The Expect header cannot be met."
    when = "an `Expect` header the server cannot meet (answered by the server)"


class IdempotencyKeyReusedError(ApiError):
    status = 422
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was used with a different request."
    when = "an `Idempotency-Key` sent again with a different request"


class ValidationFailedError(ApiError):
    status = 422
    code = "validation_error"
    detail = "The request is not valid."
    when = "body or query of the wrong shape, with `errors`"


class TooManyAttemptsError(ApiError):
    status = 429
    code = "too_many_attempts"
    detail = "Too many failed logins for this username; try again later."
    when = (
        "too many failed logins or password changes for one username "
        "(with `Retry-After`)"
    )


class RateLimitedError(ApiError):
    status = 429
    code = "rate_limited"
    detail = "Too many requests; slow down."
    when = (
        "over the rate limit (with `Retry-After`): per client address on "
        "the credential routes, per user on the money routes"
    )


class RequestHeaderFieldsTooLargeError(ApiError):
    status = 431
    code = "request_header_fields_too_large"
    detail = "The request has too many header fields, or one that is too large."
    when = "too many header fields, or one too large (answered by the server)"


class NotImplementedByServerError(ApiError):
    status = 501
    code = "not_implemented"
    detail = "The server does not support this request."
    when = "a request method the server does not know (answered by the server)"


class LedgerBusyError(ApiError):
    status = 503
    code = "ledger_busy"
    detail = "The account is busy; retry the request (with the same Idempotency-Key)."
    when = "the account kept changing under every attempt; nothing changed, retry"


class ServiceUnavailableError(ApiError):
    status = 503
    code = "database_unavailable"
    detail = "The database is not answering."
    when = "the database does not answer"


class HttpVersionNotSupportedError(ApiError):
    status = 505
    code = "http_version_not_supported"
    detail = "The HTTP version is not supported."
    when = "an HTTP version other than 1.x (answered by the server)"


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
    domain.AccountNotEmpty: AccountNotEmptyError,
    domain.UserNotFound: UserNotFoundError,
    domain.NotACustomer: NotACustomerError,
    domain.CannotDisableSelf: CannotDisableSelfError,
    domain.LoginLocked: TooManyAttemptsError,
    domain.InvalidResetCode: InvalidResetCodeError,
    domain.GoalNotFound: GoalNotFoundError,
    domain.GoalLimitReached: GoalLimitError,
    domain.RoundUpTaken: RoundUpTakenError,
    domain.PayeeNotFound: PayeeNotFoundError,
    domain.NotificationNotFound: NotificationNotFoundError,
    domain.PayeeExists: PayeeExistsError,
    domain.PayeeLimitReached: PayeeLimitError,
    domain.NameCheckFailed: NameCheckFailedError,
    domain.ScheduledTransferNotFound: ScheduledTransferNotFoundError,
    domain.InvalidState: InvalidStateError,
    domain.JobNotFound: JobNotFoundError,
    domain.ApprovalNotFound: ApprovalNotFoundError,
    domain.ApprovalNotPending: ApprovalNotPendingError,
    domain.ReviewNotFound: ReviewNotFoundError,
    domain.ReviewNotOpen: ReviewNotOpenError,
    domain.DailyLimitExceeded: DailyLimitExceededError,
    domain.LoanNotFound: LoanNotFoundError,
    domain.Overpayment: OverpaymentError,
    domain.StatementNotFound: StatementNotFoundError,
    domain.ReportNotFound: ReportNotFoundError,
}
