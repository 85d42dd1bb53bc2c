"""Transaction history: the caller's own, and the page shape staff lists share."""

from collections.abc import Callable

from bson import ObjectId
from flask import current_app
from marshmallow import Schema

from app.core.accounts import own_account
from app.models.account import AccountModel
from app.models.transaction import TransactionModel
from app.schemas.common import page
from app.schemas.transaction import transaction_list_args_schema, transaction_schema


def transaction_page(
    query: dict,
    account_ids: list[ObjectId] | None,
    schema: Schema,
    annotate: Callable[[list[dict]], list[dict]] | None = None,
) -> dict:
    """Return one page of posted transactions for validated list ``query``.

    ``annotate``, if given, adds to the page's entries what ``schema`` shows
    beside the journal's fields (the banker lists' flags), in one go per page.
    """
    docs, has_more = TransactionModel().list_posted(
        query["limit"],
        after=query["cursor"],
        account_ids=account_ids,
        type_=query["type"],
        start=query["start"],
        end=query["end"],
    )
    shown = annotate(docs) if annotate is not None else docs
    return page(schema.dump(shown, many=True), docs, has_more)


def list_transactions(user: dict, args: dict) -> dict:
    """Return a page of the caller's own transactions, newest first.

    :raises ValidationError: a bad limit, cursor, type or date.
    :raises AccountNotFound: ``account_number`` is not the caller's.
    """
    query = transaction_list_args_schema.load(args)
    if query["account_number"] is not None:
        account = own_account(
            user, query["account_number"], current_app.config["CURRENCY"]
        )
        account_ids = [account["_id"]]
    else:
        account_ids = AccountModel().ids_for_user(user["_id"])
    return transaction_page(query, account_ids, transaction_schema)
