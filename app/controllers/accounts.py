"""A customer's accounts: balance, list, open another, show one."""

from flask import current_app
from marshmallow import ValidationError

from app.core.accounts import open_extra_account, own_account
from app.core.errors import AccountNotFound
from app.models.account import AccountModel
from app.schemas.account import (
    account_list_args_schema,
    account_schema,
    balance_args_schema,
    balance_schema,
    open_account_schema,
)
from app.schemas.common import ACCOUNT_NUMBER, page


def get_balance(user: dict, args: dict) -> dict:
    """Return the balance of the caller's primary (or named) account.

    :raises ValidationError: a malformed account number.
    :raises AccountNotFound: the account is not the caller's.
    """
    query = balance_args_schema.load(args)
    account = own_account(
        user, query["account_number"], current_app.config["CURRENCY"]
    )
    return balance_schema.dump(account)


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
    :raises AccountLimitReached: the caller holds MAX_ACCOUNTS_PER_CUSTOMER already.
    """
    data = open_account_schema.load(payload)
    return account_schema.dump(open_for(user, data["kind"]))


def open_for(user: dict, kind: str) -> dict:
    """Open a non-primary account for a customer under the configured limit.

    Shared by POST /accounts and the bankers' POST /banker/accounts.

    :raises AccountLimitReached: the customer holds MAX_ACCOUNTS_PER_CUSTOMER.
    """
    config = current_app.config
    return open_extra_account(
        user,
        kind,
        currency=config["CURRENCY"],
        limit=config["MAX_ACCOUNTS_PER_CUSTOMER"],
        settle_after=config["LEDGER_PENDING_TIMEOUT"],
    )


def get_account(user: dict, account_number: str) -> dict:
    """Return one of the caller's accounts.

    :raises AccountNotFound: no such account, or not the caller's.
    """
    try:
        ACCOUNT_NUMBER(account_number)
    except ValidationError:
        raise AccountNotFound() from None  # cannot exist: same answer
    account = own_account(user, account_number, current_app.config["CURRENCY"])
    return account_schema.dump(account)
