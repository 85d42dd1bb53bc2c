"""Schemas for approvals: large movements waiting for a banker's decision."""

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from app.models.approval import KINDS, SHOWN_STATUSES, shown_status
from app.schemas.account import WithOwner
from app.schemas.common import (
    Cents,
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)


class ApprovalArgsSchema(PageArgsSchema):
    """GET /banker/approvals: pagination and an optional ``status``."""

    status = fields.String(load_default=None, validate=validate.OneOf(SHOWN_STATUSES))


class RejectApprovalSchema(Schema):
    """POST /banker/approvals/{approval_id}/reject: why, for the customer."""

    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=500), plain_text]
    )


class ApprovalSchema(Schema):
    """A withdrawal or transfer waiting for (or past) a banker's decision."""

    id = ObjectIdString(required=True, attribute="_id")
    status = fields.String(required=True, validate=validate.OneOf(SHOWN_STATUSES))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    from_account_number = fields.String(required=True)
    to_account_number = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The target of a transfer; null for a withdrawal."},
    )
    amount = Cents(required=True, attribute="amount_cents")
    currency = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(
        required=True,
        metadata={"description": "When it expires unless decided before."},
    )
    decided_by = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The banker who approved or rejected it, or the "
                  "customer who cancelled it; null while pending or once expired."},
    )  # fmt: skip
    decided_at = UtcDateTime(required=True, allow_none=True)
    reason = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The banker's reason for a rejection, or why the "
                  "movement failed (e.g. `account_frozen`, "
                  "`daily_limit_exceeded`)."},
    )  # fmt: skip
    transfer_id = ObjectIdString(
        required=True,
        allow_none=True,
        metadata={"description": "The posted movement's id (a withdrawal's "
                  "transaction, a transfer's id); null until posted."},
    )  # fmt: skip

    @pre_dump
    def show_status(self, doc: dict, **kwargs: Any) -> dict:
        return {**doc, "status": shown_status(doc["status"])}


class BankerApprovalSchema(ApprovalSchema, WithOwner):
    """An approval with the customer who asked, as bankers see it."""


class ApprovalResponseSchema(Schema):
    """The 202 answer of a withdrawal or transfer that waits for a banker."""

    approval = fields.Nested(ApprovalSchema, required=True)


ApprovalPageSchema = page_schema(ApprovalSchema)
BankerApprovalPageSchema = page_schema(BankerApprovalSchema)

approval_args_schema = ApprovalArgsSchema()
reject_approval_schema = RejectApprovalSchema()
approval_schema = ApprovalSchema()
banker_approval_schema = BankerApprovalSchema()
approval_response_schema = ApprovalResponseSchema()
