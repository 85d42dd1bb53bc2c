"""A customer's balance, deposits, withdrawals and history."""

from flask import current_app

from app.controllers import transaction_page
from app.errors import (
    AccountClosedError,
    AccountFrozenError,
    AccountNotFoundError,
    ApiError,
    InsufficientFundsError,
)
from app.models import ledger
from app.models.account import AccountModel
from app.schemas.account import balance_args_schema, balance_schema
from app.schemas.common import format_cents
from app.schemas.transaction import (
    amount_schema,
    transaction_list_args_schema,
    transaction_schema,
)


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
    if refusal.reason == "insufficient_funds":
        return InsufficientFundsError(
            f"Insufficient funds: balance {format_cents(refusal.balance_cents)}, "
            f"requested {format_cents(amount_cents)}"
        )
    if refusal.reason == "account_frozen":
        return AccountFrozenError()
    if refusal.reason == "account_closed":
        return AccountClosedError()
    return AccountNotFoundError()


def get_balance(user: dict, args: dict) -> dict:
    """Return the balance of the caller's primary (or named) account.

    :raises ValidationError: a malformed account number.
    :raises AccountNotFoundError: the account is not the caller's.
    """
    query = balance_args_schema.load(args)
    return balance_schema.dump(_own_account(user, query["account_number"]))


def _move(user: dict, payload: object, movement) -> dict:
    data = amount_schema.load(payload)
    account = _own_account(user, data["account_number"])
    try:
        done = movement(account, data["amount_cents"], data["description"])
    except ledger.LedgerRefusal as refusal:
        raise _refusal_error(refusal, data["amount_cents"]) from None
    return {
        "transaction": transaction_schema.dump(done.entry),
        "balance": format_cents(done.account["balance_cents"]),
        "currency": done.account["currency"],
    }


def deposit(user: dict, payload: object) -> dict:
    """Credit the caller's account and record the transaction.

    :raises ValidationError: a bad amount, description or account number.
    :raises AccountNotFoundError: the account is not the caller's.
    :raises AccountFrozenError: the account is frozen.
    :raises AccountClosedError: the account is closed.
    """
    return _move(user, payload, ledger.deposit)


def withdraw(user: dict, payload: object) -> dict:
    """Debit the caller's account if the balance covers it, and record it.

    :raises ValidationError: a bad amount, description or account number.
    :raises AccountNotFoundError: the account is not the caller's.
    :raises InsufficientFundsError: the balance is lower than the amount.
    :raises AccountFrozenError: the account is frozen.
    :raises AccountClosedError: the account is closed.
    """
    return _move(user, payload, ledger.withdraw)


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
