"""Schemas for the reviews of flagged movements."""

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from app.core.reviews import RULES
from app.models.review import OUTCOMES, REVIEW_STATUSES
from app.schemas.common import (
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)
from app.schemas.transaction import BankerTransactionSchema


class ReviewArgsSchema(PageArgsSchema):
    """GET /banker/reviews: pagination and an optional ``status``."""

    status = fields.String(load_default=None, validate=validate.OneOf(REVIEW_STATUSES))


class CloseReviewSchema(Schema):
    """POST /banker/reviews/{review_id}/close: the outcome, and a note."""

    outcome = fields.String(
        required=True,
        validate=validate.OneOf(OUTCOMES),
        metadata={"description": "`fraud` freezes the movement's account."},
    )
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=500), plain_text],
    )


class ReviewSchema(Schema):
    """The review of one flagged movement."""

    id = ObjectIdString(required=True, attribute="_id")
    status = fields.String(required=True, validate=validate.OneOf(REVIEW_STATUSES))
    rules = fields.List(
        fields.String(validate=validate.OneOf(RULES)),
        required=True,
        metadata={"description": "Every rule that flagged the movement."},
    )
    transaction = fields.Nested(
        BankerTransactionSchema,
        required=True,
        metadata={"description": "The movement (a transfer's out leg), with its "
                  "owner, as the banker's transaction list shows it."},
    )  # fmt: skip
    opened_at = UtcDateTime(required=True, attribute="created_at")
    closed_at = UtcDateTime(required=True, allow_none=True)
    closed_by = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The username of the banker who closed it."},
    )
    outcome = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(OUTCOMES)
    )
    note = fields.String(required=True, allow_none=True)

    @pre_dump
    def flag_transaction(self, doc: dict, **kwargs: Any) -> dict:
        return {**doc, "transaction": {**doc["transaction"], "flags": doc["rules"]}}


ReviewPageSchema = page_schema(ReviewSchema)

review_args_schema = ReviewArgsSchema()
close_review_schema = CloseReviewSchema()
review_schema = ReviewSchema()
