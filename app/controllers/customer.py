"""A customer's accounts, balances, deposits, withdrawals, transfers, history."""

import logging

from bson import ObjectId
from flask import current_app
from marshmallow import ValidationError
from pymongo.errors import PyMongoError

from app import audit
from app.controllers import transaction_page
from app.errors import (
    AccountClosedError,
    AccountFrozenError,
    AccountLimitError,
    AccountNotFoundError,
    ApiError,
    InsufficientFundsError,
    LedgerBusyError,
)
from app.models import ledger, utc_now
from app.models.account import AccountModel
from app.models.audit import AuditModel
from app.models.user import UserModel
from app.schemas.account import (
    account_list_args_schema,
    account_schema,
    balance_args_schema,
    balance_schema,
    open_account_schema,
)
from app.schemas.common import ACCOUNT_NUMBER, format_cents, page
from app.schemas.transaction import (
    amount_schema,
    movement_result_schema,
    transaction_list_args_schema,
    transaction_schema,
    transfer_response_schema,
    transfer_schema,
)

log = logging.getLogger("app.audit")
# The audit action of each kind of movement, by the type of its (out) entry.
ACTIONS = {"deposit": "deposit", "withdrawal": "withdrawal", "transfer_out": "transfer"}


def _own_account(user: dict, account_number: str | None) -> dict:
    """Return the caller's account by number, or their primary account.

    Another customer's account answers exactly like a missing one.
    """
    accounts = AccountModel()
    if account_number is None:
        return accounts.ensure_primary(user, current_app.config["CURRENCY"])
    account = accounts.find_owned(user["_id"], account_number)
    if account is None:
        raise AccountNotFoundError()
    return account


def _refusal_error(refusal: ledger.LedgerRefusal, amount_cents: int) -> ApiError:
    whose = "The receiving account" if refusal.side == "target" else "The account"
    if refusal.reason == "insufficient_funds":
        return InsufficientFundsError(
            f"Insufficient funds: balance {format_cents(refusal.balance_cents)}, "
            f"requested {format_cents(amount_cents)}"
        )
    if refusal.reason == "account_frozen":
        return AccountFrozenError(f"{whose} is frozen.")
    if refusal.reason == "account_closed":
        return AccountClosedError(f"{whose} is closed.")
    if refusal.reason == "expired":
        # Recovery abandoned this movement while the request was stalled.
        return LedgerBusyError()
    return AccountNotFoundError()


def _in_ledger(movement, amount_cents: int, *args):
    """Run a ledger movement, turning its refusals into API errors."""
    try:
        return movement(*args)
    except ledger.LedgerRefusal as refusal:
        raise _refusal_error(refusal, amount_cents) from None
    except ledger.LedgerBusy:
        raise LedgerBusyError() from None


def get_balance(user: dict, args: dict) -> dict:
    """Return the balance of the caller's primary (or named) account.

    :raises ValidationError: a malformed account number.
    :raises AccountNotFoundError: the account is not the caller's.
    """
    query = balance_args_schema.load(args)
    return balance_schema.dump(_own_account(user, query["account_number"]))


def list_accounts(user: dict, args: dict) -> dict:
    """Return a page of the caller's accounts, newest first.

    :raises ValidationError: a bad limit or cursor.
    """
    query = account_list_args_schema.load(args)
    AccountModel().ensure_primary(user, current_app.config["CURRENCY"])
    docs, has_more = AccountModel().list_for_user(
        user["_id"], query["limit"], after=query["cursor"]
    )
    return page(account_schema.dump(docs, many=True), docs, has_more)


def open_account(user: dict, payload: object) -> dict:
    """Open another (non-primary) account for the caller at 0.00.

    :raises ValidationError: a missing or unknown kind.
    :raises AccountLimitError: the caller holds MAX_ACCOUNTS_PER_CUSTOMER already.
    """
    data = open_account_schema.load(payload)
    return account_schema.dump(open_extra_account(user, data["kind"]))


def open_extra_account(user: dict, kind: str) -> dict:
    """Open a non-primary account of ``kind`` for a customer; return the document.

    Shared by POST /accounts and the bankers' POST /banker/accounts.

    :raises AccountLimitError: the customer holds MAX_ACCOUNTS_PER_CUSTOMER already.
    """
    accounts = AccountModel()
    currency = current_app.config["CURRENCY"]
    accounts.ensure_primary(user, currency)
    _reserve_account_place(user["_id"])
    try:
        return accounts.create(user, currency, kind=kind)
    except Exception:
        UserModel().release_account(user["_id"])
        raise


def _reserve_account_place(user_id: ObjectId) -> None:
    """Take one of the customer's MAX_ACCOUNTS_PER_CUSTOMER places, atomically.

    The place is taken before the account is inserted, by a guarded increment
    of a counter on the user, so the limit holds exactly under parallel
    requests. A user counted for the first time starts at the accounts they
    hold. A process that died between taking a place and inserting leaves the
    counter above the accounts: once the last place taken is older than
    LEDGER_PENDING_TIMEOUT (no request can still be inserting), the counter
    is corrected to the accounts that exist.

    :raises AccountLimitError: every place is taken.
    """
    users, limit = UserModel(), current_app.config["MAX_ACCOUNTS_PER_CUSTOMER"]
    for _attempt in range(3):
        if users.reserve_account(user_id, limit):
            return
        counted, counted_at = users.account_count(user_id)
        held = AccountModel().count_for_user(user_id)
        if counted is None:
            users.start_count(user_id, held)
            continue
        settled = utc_now() - current_app.config["LEDGER_PENDING_TIMEOUT"]
        if held < counted and counted_at < settled:
            users.correct_count(user_id, counted, counted_at, held)
            continue
        break
    raise AccountLimitError()


def get_account(user: dict, account_number: str) -> dict:
    """Return one of the caller's accounts.

    :raises AccountNotFoundError: no such account, or not the caller's.
    """
    try:
        ACCOUNT_NUMBER(account_number)
    except ValidationError:
        raise AccountNotFoundError() from None  # cannot exist: same answer
    return account_schema.dump(_own_account(user, account_number))


def movement_body(entries: list[dict]) -> dict:
    """Shape the response of a posted movement from its journal entries.

    Used for the live response and for one rebuilt by recovery, so a replayed
    response is the one the first request would have sent.
    """
    entry = entries[0]
    if entry["type"] in ("transfer_out", "transfer_in"):
        out_entry = next(e for e in entries if e["type"] == "transfer_out")
        return transfer_response_schema.dump({**out_entry, "transfer": out_entry})
    return movement_result_schema.dump({**entry, "transaction": entry})


def record_movement(
    entries: list[dict], *, actor: str | None, recovered: bool = False
) -> None:
    """Append the audit entry of a posted money movement.

    The money has moved by now, so a failure here is logged, never turned into
    an error answer (the client would retry a movement that happened).
    Recovery calls this too, with ``recovered``, for movements whose request
    died before their entry was written; it looks for one first.
    """
    out = next((e for e in entries if e["type"] == "transfer_out"), entries[0])
    movement_id = str(out["transfer_id"] or out["_id"])
    details: dict = {"movement_id": movement_id, "amount_cents": out["amount_cents"]}
    if out["type"] == "transfer_out":
        details["to_account_number"] = out["counterparty_account_number"]
    if recovered:
        details["recovered"] = True
    action = ACTIONS[out["type"]]
    try:
        if recovered and AuditModel().has_movement(movement_id):
            return
        audit.record(action, actor=actor, target=out["account_number"], details=details)
    except (PyMongoError, RuntimeError, ValueError, TypeError):
        log.exception("audit entry not written: %s %s", action, movement_id)


def _move(user: dict, payload: object, movement, movement_id: ObjectId | None) -> dict:
    data = amount_schema.load(payload)
    account = _own_account(user, data["account_number"])
    entry = _in_ledger(
        movement,
        data["amount_cents"],
        account,
        data["amount_cents"],
        data["description"],
        movement_id,
    )
    record_movement([entry], actor=user["username"])
    return movement_body([entry])


def deposit(user: dict, payload: object, movement_id: ObjectId | None = None) -> dict:
    """Credit the caller's account and record the transaction.

    :raises ValidationError: a bad amount, description or account number.
    :raises AccountNotFoundError: the account is not the caller's.
    :raises AccountFrozenError: the account is frozen.
    :raises AccountClosedError: the account is closed.
    :raises LedgerBusyError: the account kept changing; retry.
    """
    return _move(user, payload, ledger.deposit, movement_id)


def withdraw(user: dict, payload: object, movement_id: ObjectId | None = None) -> dict:
    """Debit the caller's account if the balance covers it, and record it.

    :raises ValidationError: a bad amount, description or account number.
    :raises AccountNotFoundError: the account is not the caller's.
    :raises InsufficientFundsError: the balance is lower than the amount.
    :raises AccountFrozenError: the account is frozen.
    :raises AccountClosedError: the account is closed.
    :raises LedgerBusyError: the account kept changing; retry.
    """
    return _move(user, payload, ledger.withdraw, movement_id)


def transfer(user: dict, payload: object, movement_id: ObjectId | None = None) -> dict:
    """Move money from one of the caller's accounts to any active account.

    :raises ValidationError: a bad amount or number, or the same account twice.
    :raises AccountNotFoundError: the source is not the caller's, or no target.
    :raises InsufficientFundsError: the source balance is lower than the amount.
    :raises AccountFrozenError: either account is frozen.
    :raises AccountClosedError: either account is closed.
    :raises LedgerBusyError: the source kept changing; retry.
    """
    data = transfer_schema.load(payload)
    source = _own_account(user, data["from_account_number"])
    if source["account_number"] == data["to_account_number"]:
        # The source defaulted to the primary account, which is also the target.
        raise ValidationError(
            {"to_account_number": ["Must differ from the source account."]}
        )
    target = AccountModel().find_by_number(data["to_account_number"])
    if target is None:
        refusal = ledger.refuse_unknown_target(source, data["amount_cents"])
        raise _refusal_error(refusal, data["amount_cents"])
    done = _in_ledger(
        ledger.transfer,
        data["amount_cents"],
        source,
        target,
        data["amount_cents"],
        data["description"],
        movement_id,
    )
    record_movement([done.out_entry, done.in_entry], actor=user["username"])
    return movement_body([done.out_entry, done.in_entry])


def list_transactions(user: dict, args: dict) -> dict:
    """Return a page of the caller's own transactions, newest first.

    :raises ValidationError: a bad limit, cursor, type or date.
    :raises AccountNotFoundError: ``account_number`` is not the caller's.
    """
    query = transaction_list_args_schema.load(args)
    if query["account_number"] is not None:
        account_ids = [_own_account(user, query["account_number"])["_id"]]
    else:
        account_ids = AccountModel().ids_for_user(user["_id"])
    return transaction_page(query, account_ids, transaction_schema)
