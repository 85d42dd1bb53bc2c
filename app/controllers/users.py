"""The bankers' directory of users: every user by username, and one with their
accounts."""

from app.core.errors import UserNotFound
from app.models.account import AccountModel
from app.models.user import UserModel
from app.schemas.users import (
    directory_user_schema,
    encode_username_cursor,
    user_detail_schema,
    user_list_args_schema,
)


def list_users(args: dict) -> dict:
    """Return a page of users by username, filtered by role, status and prefix.

    Two queries whatever the page holds: the users, then one aggregation
    counting every listed user's accounts.

    :raises ValidationError: a bad limit, cursor, role, q or active.
    """
    query = user_list_args_schema.load(args)
    prefix = query["q"].lower() if query["q"] else None
    docs, has_more = UserModel().directory_page(
        query["limit"],
        after=query["cursor"],
        role=query["role"],
        active=query["active"],
        prefix=prefix,
    )
    counts = AccountModel().count_listed([doc["_id"] for doc in docs])
    items = [{**doc, "accounts": counts.get(doc["_id"], 0)} for doc in docs]
    return {
        "items": directory_user_schema.dump(items, many=True),
        "next_cursor": encode_username_cursor(docs[-1]["username"])
        if has_more and docs
        else None,
    }


def get_user(user_id: str) -> dict:
    """Return one user with the accounts they hold.

    :raises UserNotFound: no user has that id (or it is not an id).
    """
    user = UserModel().directory_entry(user_id)
    if user is None:
        raise UserNotFound()
    accounts = AccountModel().listed_for_user(user["_id"])
    return user_detail_schema.dump({**user, "accounts": accounts})
