"""Bankers' views of every account and transaction, and creating bankers."""

from app.controllers import transaction_page
from app.controllers.auth import create_user
from app.errors import UsernameTakenError
from app.models.account import AccountModel
from app.models.user import UserModel
from app.schemas.account import banker_account_args_schema, banker_account_schema
from app.schemas.auth import RegisterSchema
from app.schemas.common import page
from app.schemas.transaction import (
    banker_transaction_args_schema,
    banker_transaction_schema,
)

# Staff credentials follow the same username and password rules as customers.
staff_schema = RegisterSchema(only=("username", "password"))


def list_accounts(args: dict) -> dict:
    """Return a page of every account, newest first, filtered by ``q``/``status``.

    :raises ValidationError: a bad limit, cursor, q or status.
    """
    query = banker_account_args_schema.load(args)
    prefix = query["q"].lower() if query["q"] else None
    docs, has_more = AccountModel().list_page(
        query["limit"],
        after=query["cursor"],
        username_prefix=prefix,
        status=query["status"],
    )
    return page(banker_account_schema.dump(docs, many=True), docs, has_more)


def _account_filter(query: dict) -> list | None:
    """Turn the account_number/username filters into account ids (None = all)."""
    account_ids = None
    if query["account_number"] is not None:
        account = AccountModel().find_by_number(query["account_number"])
        account_ids = [account["_id"]] if account else []
    if query["username"] is not None:
        user = UserModel().find_by_username(query["username"].lower())
        owned = AccountModel().ids_for_user(user["_id"]) if user else []
        account_ids = (
            owned
            if account_ids is None
            else [oid for oid in account_ids if oid in owned]
        )
    return account_ids


def list_transactions(args: dict) -> dict:
    """Return a page of every posted transaction, newest first, filtered.

    :raises ValidationError: a bad limit, cursor, type or date.
    """
    query = banker_transaction_args_schema.load(args)
    account_ids = _account_filter(query)
    if account_ids == []:
        return page([], [], False)
    return transaction_page(query, account_ids, banker_transaction_schema)


def create_banker(username: str, password: str) -> dict:
    """Create a banker (command line and bootstrap only, never over HTTP).

    :raises ValidationError: the username or password breaks the rules.
    :raises UsernameTakenError: the username exists already.
    """
    data = staff_schema.load({"username": username, "password": password})
    return create_user(data, role="banker")


def ensure_bootstrap_banker(username: str, password: str) -> bool:
    """Create the bootstrap banker unless that username exists; tell if created.

    :raises ValidationError: the username or password breaks the rules.
    """
    if UserModel().find_by_username(username.lower()) is not None:
        return False
    try:
        create_banker(username, password)
    except UsernameTakenError:
        # Another worker starting at the same moment created it first.
        return False
    return True
