"""Bankers' views of every account and transaction, and their administration."""

from app import audit
from app.controllers import auth as auth_controller
from app.controllers.accounts import open_for
from app.controllers.auth import create_user
from app.controllers.scheduled import change_limit
from app.controllers.transactions import transaction_page
from app.core import reviews
from app.core.accounts import StatusChange, set_status
from app.core.errors import CannotDisableSelf, NotACustomer, UserNotFound
from app.errors import UsernameTakenError
from app.models.account import AccountModel
from app.models.user import UserModel
from app.schemas.account import banker_account_args_schema, banker_account_schema
from app.schemas.admin import (
    banker_open_account_schema,
    banker_user_schema,
    create_staff_schema,
    set_account_status_schema,
    set_user_active_schema,
    staff_response_schema,
)
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
    return transaction_page(
        query, account_ids, banker_transaction_schema, annotate=reviews.with_flags
    )


def create_banker(username: str, password: str) -> dict:
    """Create a banker (command line and bootstrap only, never over HTTP).

    :raises ValidationError: the username or password breaks the rules.
    :raises UsernameTakenError: the username exists already.
    """
    data = staff_schema.load({"username": username, "password": password})
    user = create_user(data, role="banker")
    # No acting user: the system made it (command line or start-up).
    audit.record(
        "staff_created",
        actor=None,
        target=user["_id"],
        details={"username": user["username"], "role": "banker", "by": "system"},
    )
    return user


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


# -- administration (banker only; every change leaves one audit entry) ---------


def create_staff(actor: dict, payload: object) -> dict:
    """Create a banker or an auditor.

    :raises ValidationError: bad username, password or role.
    :raises UsernameTakenError: the username exists already.
    """
    data = create_staff_schema.load(payload)
    user = create_user(data, role=data["role"])
    audit.record(
        "staff_created",
        actor=actor["username"],
        target=user["_id"],
        details={"username": user["username"], "role": user["role"]},
    )
    return staff_response_schema.dump({"user": user})


def create_customer(actor: dict, payload: object) -> dict:
    """Create a customer with a primary account, exactly as registration does.

    :raises ValidationError: the body breaks the registration rules.
    :raises UsernameTakenError: the username exists already.
    """
    body = auth_controller.register(payload)
    audit.record(
        "customer_created",
        actor=actor["username"],
        target=body["user"]["id"],
        details={
            "username": body["user"]["username"],
            "account_number": body["account"]["account_number"],
        },
    )
    return body


def open_account(actor: dict, payload: object) -> dict:
    """Open another account of the given kind for a customer.

    :raises ValidationError: a missing username or an unknown kind.
    :raises UserNotFound: no user has that username.
    :raises NotACustomer: the user is staff (staff hold no accounts).
    :raises AccountLimitReached: the customer holds MAX_ACCOUNTS_PER_CUSTOMER
        already.
    """
    data = banker_open_account_schema.load(payload)
    user = UserModel().find_by_username(data["username"])
    if user is None:
        raise UserNotFound()
    if user["role"] != "customer":
        raise NotACustomer()
    account = open_for(user, data["kind"])
    audit.record(
        "account_opened",
        actor=actor["username"],
        target=account["account_number"],
        details={"username": user["username"], "kind": account["kind"]},
    )
    return banker_account_schema.dump(account)


def set_account_status(actor: dict, account_number: str, payload: object) -> dict:
    """Freeze, unfreeze or close an account; the same status again changes nothing.

    :raises ValidationError: a missing or unknown status.
    :raises AccountNotFound: no such account.
    :raises AccountClosed: the account is closed (it never reopens).
    :raises AccountNotEmpty: closing an account with money or a movement in
        flight.
    :raises AccountBusy: the account kept changing; retry.
    """
    wanted = set_account_status_schema.load(payload)["status"]
    change = set_status(account_number, wanted)
    record_status_change(actor, change)
    return banker_account_schema.dump(change.account)


def record_status_change(
    actor: dict, change: StatusChange, details: dict | None = None
) -> None:
    """Audit an account's status change by ``actor`` (nothing if none was made)."""
    if change.previous is None:
        return
    audit.record(
        "account_status_changed",
        actor=actor["username"],
        target=change.account["account_number"],
        details={
            "from": change.previous,
            "to": change.account["status"],
            **(details or {}),
        },
    )


def set_user_active(actor: dict, user_id: str, payload: object) -> dict:
    """Enable or disable a user; disabling ends the user's live sessions.

    :raises ValidationError: ``active`` is not a JSON boolean.
    :raises UserNotFound: no such user (or a malformed id).
    :raises CannotDisableSelf: a banker disabling their own user.
    """
    data = set_user_active_schema.load(payload)
    users = UserModel()
    user = users.find_by_id(user_id)
    if user is None:
        raise UserNotFound()
    if "daily_limit_cents" in data:
        user = change_limit(actor, user, data["daily_limit_cents"], by_banker=True)
    if "active" not in data:
        return banker_user_schema.dump(user)
    active = data["active"]
    if not active and user["_id"] == actor["_id"]:
        raise CannotDisableSelf()
    if user.get("active", True) == active:
        return banker_user_schema.dump(user)
    updated = users.set_active(user["_id"], active)
    if updated is None:  # deleted in between; users are never deleted by the API
        raise UserNotFound()
    audit.record(
        "user_enabled" if active else "user_disabled",
        actor=actor["username"],
        target=user["_id"],
        details={"username": user["username"]},
    )
    return banker_user_schema.dump(updated)

