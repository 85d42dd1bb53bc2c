"""Domain errors: what a use case refuses, in the terms of the business.

No status codes here: ``app/errors.py`` holds the one table that maps each
class to its HTTP answer.
"""


class DomainError(Exception):
    """A rule refused the request; nothing changed."""

    message = "The request was refused."

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
