"""Use cases: validate input, apply the business rules, call the models."""

from bson import ObjectId
from marshmallow import Schema

from app.models.transaction import TransactionModel
from app.schemas.common import page


def transaction_page(
    query: dict, account_ids: list[ObjectId] | None, schema: Schema
) -> dict:
    """Return one page of posted transactions for validated list ``query``."""
    docs, has_more = TransactionModel().list_posted(
        query["limit"],
        after=query["cursor"],
        account_ids=account_ids,
        type_=query["type"],
        start=query["start"],
        end=query["end"],
    )
    return page(schema.dump(docs, many=True), docs, has_more)
