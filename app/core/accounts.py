"""Use cases of accounts: find a customer's own, open another, change a status."""

from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from app.core.errors import (
    AccountBusy,
    AccountClosed,
    AccountLimitReached,
    AccountNotEmpty,
    AccountNotFound,
)
from app.models import utc_now
from app.models.account import AccountModel
from app.models.user import UserModel


def own_account(owner: dict, account_number: str | None, currency: str) -> dict:
    """Return the owner's account by number, or their primary account.

    ``owner`` is the user (``_id``, ``username``). Another customer's account
    answers exactly like a missing one.

    :raises AccountNotFound: no such account of the owner's.
    """
    accounts = AccountModel()
    if account_number is None:
        return accounts.ensure_primary(owner, currency)
    account = accounts.find_owned(owner["_id"], account_number)
    if account is None:
        raise AccountNotFound()
    return account


def open_extra_account(
    owner: dict, kind: str, *, currency: str, limit: int, settle_after: timedelta
) -> dict:
    """Open a non-primary account of ``kind`` for a customer; return it.

    ``limit`` is MAX_ACCOUNTS_PER_CUSTOMER (the primary counts), and
    ``settle_after`` how long a request may still be inserting an account
    (LEDGER_PENDING_TIMEOUT).

    :raises AccountLimitReached: every place is taken.
    """
    accounts = AccountModel()
    accounts.ensure_primary(owner, currency)
    _reserve_place(owner["_id"], limit, settle_after)
    try:
        return accounts.create(owner, currency, kind=kind)
    except Exception:
        UserModel().release_account(owner["_id"])
        raise


def _reserve_place(user_id: ObjectId, limit: int, settle_after: timedelta) -> None:
    """Take one of the customer's ``limit`` account places, atomically.

    The place is taken before the account is inserted, by a guarded increment
    of a counter on the user, so the limit holds exactly under parallel
    requests. A user counted for the first time starts at the accounts they
    hold. A process that died between taking a place and inserting leaves the
    counter above the accounts: once the last place taken is older than
    ``settle_after`` (no request can still be inserting), the counter is
    corrected to the accounts that exist.

    :raises AccountLimitReached: every place is taken.
    """
    users = UserModel()
    for _attempt in range(3):
        if users.reserve_account(user_id, limit):
            return
        counted, counted_at = users.account_count(user_id)
        held = AccountModel().count_for_user(user_id)
        if counted is None:
            users.start_count(user_id, held)
            continue
        if held < counted and counted_at < utc_now() - settle_after:
            users.correct_count(user_id, counted, counted_at, held)
            continue
        break
    raise AccountLimitReached()


# Guarded status updates that miss because another change landed in between are
# read again and retried; this many misses in a row means a very busy account.
STATUS_ATTEMPTS = 8


@dataclass(frozen=True)
class StatusChange:
    """An account after a status change, and the status it left (None: the
    account had the status asked for already, and nothing changed)."""

    account: dict
    previous: str | None


def set_status(account_number: str, wanted: str) -> StatusChange:
    """Freeze, unfreeze or close an account; the same status again changes nothing.

    :raises AccountNotFound: no such account.
    :raises AccountClosed: the account is closed (it never reopens).
    :raises AccountNotEmpty: closing an account with money or a movement in
        flight.
    :raises AccountBusy: the account kept changing; retry.
    """
    accounts = AccountModel()
    for _attempt in range(STATUS_ATTEMPTS):
        account = accounts.find_by_number(account_number)
        if account is None:
            raise AccountNotFound()
        current = account["status"]
        if current == "closed":
            raise AccountClosed(message="The account is closed; it never reopens.")
        if current == wanted:
            return StatusChange(account, None)
        if wanted == "closed" and not accounts.is_empty(account):
            raise AccountNotEmpty()
        # Guarded by the status just read (and, for a close, by emptiness): a
        # miss means something changed in between, so judge the new state.
        updated = accounts.change_status(account_number, current, wanted)
        if updated is not None:
            return StatusChange(updated, current)
    raise AccountBusy("The account kept changing; retry the request.")
