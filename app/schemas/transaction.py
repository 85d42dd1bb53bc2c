"""Schemas for money movements and the transaction resource."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.core.reviews import RULES
from app.models.transaction import TRANSACTION_TYPES
from app.schemas.account import WithOwner
from app.schemas.common import (
    ACCOUNT_NUMBER,
    Cents,
    DateRangeArgsSchema,
    Money,
    ObjectIdString,
    UtcDateTime,
    page_schema,
    plain_text,
)


class MovementSchema(Schema):
    """What every money movement takes: an amount and an optional description."""

    amount_cents = Money(required=True, data_key="amount")
    description = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=140), plain_text],
    )


class AmountSchema(MovementSchema):
    """A deposit or withdrawal, on the primary or a named own account."""

    account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)


class TransferSchema(MovementSchema):
    """A transfer from an own account (default primary) to any account, named
    by its number or as one of the caller's payees."""

    from_account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)
    to_account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)
    payee_id = fields.String(
        load_default=None,
        validate=validate.Regexp(r"\A[0-9a-f]{24}\Z", error="Must be a payee id."),
        metadata={
            "description": "One of the caller's payees, instead of "
            "`to_account_number`."
        },
    )

    @validates_schema
    def check_one_target(self, data: dict, **kwargs: Any) -> None:
        if (data.get("to_account_number") is None) == (data.get("payee_id") is None):
            message = "Give exactly one of to_account_number and payee_id."
            raise ValidationError(
                {"to_account_number": [message], "payee_id": [message]}
            )

    @validates_schema
    def check_accounts_differ(self, data: dict, **kwargs: Any) -> None:
        target = data.get("to_account_number")
        if target is not None and data.get("from_account_number") == target:
            raise ValidationError(
                "Must differ from the source account.", "to_account_number"
            )


class TransactionSchema(Schema):
    """One journal entry as clients see it."""

    id = ObjectIdString(required=True, attribute="_id")
    account_number = fields.String(required=True, metadata={"example": "4817302955"})
    type = fields.String(required=True, validate=validate.OneOf(TRANSACTION_TYPES))
    amount = Cents(required=True, attribute="amount_cents")
    balance_after = Cents(required=True, attribute="balance_after_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})
    description = fields.String(required=True, allow_none=True)
    counterparty_account_number = fields.String(required=True, allow_none=True)
    transfer_id = ObjectIdString(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)


class TransferResultSchema(Schema):
    """A transfer as its sender sees it, shaped from the out leg."""

    id = ObjectIdString(required=True, attribute="transfer_id")
    from_account_number = fields.String(required=True, attribute="account_number")
    to_account_number = fields.String(
        required=True, attribute="counterparty_account_number"
    )
    amount = Cents(required=True, attribute="amount_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})
    description = fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)


class MovementResultSchema(Schema):
    """A deposit or withdrawal: its transaction and the account's new balance."""

    transaction = fields.Nested(TransactionSchema, required=True)
    balance = Cents(required=True, attribute="balance_after_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})


class TransferResponseSchema(Schema):
    """A transfer and the source account's new balance."""

    transfer = fields.Nested(TransferResultSchema, required=True)
    balance = Cents(required=True, attribute="balance_after_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})


class BankerTransactionSchema(TransactionSchema, WithOwner):
    """A journal entry with its owner and flags, as bankers see it."""

    flags = fields.List(
        fields.String(validate=validate.OneOf(RULES)),
        required=True,
        metadata={
            "description": "The rules that flagged the entry's movement for "
            "review (both legs of a transfer); empty when none."
        },
    )


class TransactionListArgsSchema(DateRangeArgsSchema):
    """Filters for the caller's own history."""

    type = fields.String(load_default=None, validate=validate.OneOf(TRANSACTION_TYPES))
    account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)


class BankerTransactionArgsSchema(TransactionListArgsSchema):
    """Filters for the banker's view of every transaction."""

    username = fields.String(
        load_default=None, validate=[validate.Length(min=1, max=64), plain_text]
    )


TransactionPageSchema = page_schema(TransactionSchema)
BankerTransactionPageSchema = page_schema(BankerTransactionSchema)

amount_schema = AmountSchema()
transfer_schema = TransferSchema()
transaction_schema = TransactionSchema()
movement_result_schema = MovementResultSchema()
transfer_response_schema = TransferResponseSchema()
banker_transaction_schema = BankerTransactionSchema()
transaction_list_args_schema = TransactionListArgsSchema()
banker_transaction_args_schema = BankerTransactionArgsSchema()
