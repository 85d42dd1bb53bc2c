"""Domain errors: what a use case refuses, in the terms of the business.

No status codes here: ``app/errors.py`` holds the one table that maps each
class to its HTTP answer.
"""

import re


class DomainError(Exception):
    """A rule refused the request; nothing changed."""

    message = "The request was refused."
    # Figures the client may branch on, added to the problem document as members.
    extras: dict = {}

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class InvalidRequest(DomainError):
    """The request contradicts itself in a way no schema can see alone."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class AccountNotFound(DomainError):
    """No such account, or not the caller's (the two look alike)."""

    message = "Account not found."


class InsufficientFunds(DomainError):
    """The balance does not cover the amount."""

    def __init__(self, balance_cents: int, requested_cents: int) -> None:
        self.balance_cents = balance_cents
        self.requested_cents = requested_cents
        super().__init__(
            f"Insufficient funds: balance {_money(balance_cents)}, "
            f"requested {_money(requested_cents)}"
        )


class AccountFrozen(DomainError):
    """An account of the movement is frozen."""

    def __init__(self, side: str = "source") -> None:
        self.side = side
        super().__init__(f"{_whose(side)} is frozen.")


class AccountClosed(DomainError):
    """An account of the movement is closed."""

    def __init__(self, side: str = "source", message: str | None = None) -> None:
        self.side = side
        super().__init__(message or f"{_whose(side)} is closed.")


class AccountLimitReached(DomainError):
    """The customer holds the most accounts a customer may open."""

    message = "You hold the most accounts a customer may open."


class AccountBusy(DomainError):
    """The account kept changing under every attempt; a retry is safe."""

    message = "The account is busy; retry the request (with the same Idempotency-Key)."


def _whose(side: str) -> str:
    return "The receiving account" if side == "target" else "The account"


def money_text(cents: int) -> str:
    """Write cents as an amount with two decimals (-12.30)."""
    return _money(cents)


def reason_of(error: Exception) -> str:
    """Name a refusal in snake case, as stored reasons are (AccountFrozen ->
    account_frozen)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


class AccountNotEmpty(DomainError):
    """Only an account with a zero balance and nothing in flight can close."""

    message = "Only an account with a zero balance and nothing in flight can close."


class UserNotFound(DomainError):
    """No user has that id or username."""

    message = "No such user."


class NotACustomer(DomainError):
    """The user is staff, and staff hold no accounts."""

    message = "Staff members hold no accounts."


class CannotDisableSelf(DomainError):
    """A banker may not disable their own user."""

    message = "A banker cannot disable their own user."


class RetryLater(DomainError):
    """Refused for now; the same request may succeed after ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class LoginLocked(RetryLater):
    """Too many failed password attempts for the username within the window."""

    message = "Too many failed logins for this username; try again later."


class InvalidResetCode(DomainError):
    """A password reset's code is wrong, used, expired, replaced or out of tries,
    or no reset was asked for the username (one answer for all of them)."""

    message = (
        "The reset code is not valid: wrong, used, expired or replaced. Request "
        "a new code."
    )


class GoalNotFound(DomainError):
    """No such goal, or not the caller's (the two look alike)."""

    message = "Goal not found."


class GoalLimitReached(DomainError):
    """The customer holds the most goals a customer may hold."""

    message = "You hold the most savings goals a customer may hold."


class RoundUpTaken(DomainError):
    """Another of the customer's goals already takes the round-ups."""

    message = "Another of your goals already takes the round-ups."


class NotificationNotFound(DomainError):
    """No such in-app notification of the caller's (the two look alike)."""

    message = "Notification not found."


class PayeeNotFound(DomainError):
    """No such payee of the caller's."""

    message = "Payee not found."


class PayeeExists(DomainError):
    """The account is already among the caller's payees."""

    message = "That account is already one of your payees."


class PayeeLimitReached(DomainError):
    """The customer keeps the most payees allowed."""

    message = "You keep the most payees allowed."


class NameCheckFailed(DomainError):
    """The name given does not match the account holder's (confirmation of payee)."""

    message = (
        "The name does not match the account holder's; check it, or send "
        "acknowledge_name_check: true to keep it anyway."
    )


class ScheduledTransferNotFound(DomainError):
    """No such scheduled transfer of the caller's."""

    message = "Scheduled transfer not found."


class InvalidState(DomainError):
    """The object's state does not allow that move."""

    def __init__(self, current: str, action: str, what: str = "an order") -> None:
        self.current = current
        super().__init__(f"Cannot {action} {what} that is {current}.")


class LoanNotFound(DomainError):
    """No such loan, or not the caller's (the two look alike)."""

    message = "Loan not found."


class ReportNotFound(DomainError):
    """No report for that month: it has not begun."""

    message = "No report for that month: it has not begun."


class StatementNotFound(DomainError):
    """No statement for that month: it has not begun, or the account did not
    exist yet."""

    message = "No statement for that month."


class Overpayment(DomainError):
    """A repayment of more than the loan's outstanding balance."""

    def __init__(self, outstanding_cents: int) -> None:
        self.extras = {"outstanding": _money(outstanding_cents)}
        super().__init__(
            f"The repayment is more than is owed: outstanding "
            f"{_money(outstanding_cents)}"
        )


class ApprovalNotFound(DomainError):
    """No such approval, or not the caller's (the two look alike)."""

    message = "Approval not found."


class ApprovalNotPending(DomainError):
    """The approval was decided already: it has reached (or is reaching) its one
    outcome."""

    def __init__(self, status: str, posting: bool = False) -> None:
        self.status = status
        self.extras = {"approval_status": status}
        super().__init__(
            "The approval was approved and is being posted."
            if posting
            else f"The approval is not pending: it is {status}."
        )


class JobNotFound(DomainError):
    """No job has that name."""

    message = "No such job."


class ReviewNotFound(DomainError):
    """No such review of a flagged movement."""

    message = "Review not found."


class ReviewNotOpen(DomainError):
    """The review is closed already: it reached its one outcome."""

    message = "The review is closed already."

    def __init__(self, frozen: object | None = None) -> None:
        super().__init__()
        # The account freeze this refusal made (of a fraud close cut short before
        # its freeze), for the edge to audit; None when it made none.
        self.frozen = frozen


class DailyLimitExceeded(DomainError):
    """The movement would take the customer over their daily limit."""

    def __init__(
        self, limit_cents: int, used_cents: int, resets_at: str
    ) -> None:
        remaining = max(0, limit_cents - used_cents)
        self.extras = {
            "limit": _money(limit_cents),
            "used": _money(used_cents),
            "remaining": _money(remaining),
            "resets_at": resets_at,
        }
        super().__init__(
            f"Daily limit exceeded: limit {_money(limit_cents)}, used "
            f"{_money(used_cents)}, remaining {_money(remaining)}"
        )
