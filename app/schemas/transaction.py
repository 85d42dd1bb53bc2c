"""Schemas for money movements and the transaction resource."""

from marshmallow import Schema, fields, validate

from app.models.transaction import TRANSACTION_TYPES
from app.schemas.account import owner_schema
from app.schemas.common import (
    ACCOUNT_NUMBER,
    Cents,
    DateRangeArgsSchema,
    Money,
    ObjectIdString,
    UtcDateTime,
    no_control_chars,
)


class AmountSchema(Schema):
    """A deposit or withdrawal: amount, optional description and account."""

    amount_cents = Money(required=True, data_key="amount")
    description = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=140), no_control_chars],
    )
    account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)


class TransactionSchema(Schema):
    """One journal entry as clients see it."""

    id = ObjectIdString(attribute="_id")
    account_number = fields.String()
    type = fields.String()
    amount = Cents(attribute="amount_cents")
    balance_after = Cents(attribute="balance_after_cents")
    currency = fields.String()
    description = fields.String(allow_none=True)
    counterparty_account_number = fields.String(allow_none=True)
    transfer_id = ObjectIdString(allow_none=True)
    created_at = UtcDateTime()


class BankerTransactionSchema(TransactionSchema):
    """A journal entry with its owner, as bankers see it."""

    owner = fields.Function(lambda entry: owner_schema.dump(entry))


class TransactionListArgsSchema(DateRangeArgsSchema):
    """Filters for the caller's own history."""

    type = fields.String(load_default=None, validate=validate.OneOf(TRANSACTION_TYPES))
    account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)


class BankerTransactionArgsSchema(TransactionListArgsSchema):
    """Filters for the banker's view of every transaction."""

    username = fields.String(load_default=None, validate=validate.Length(min=1, max=64))


amount_schema = AmountSchema()
transaction_schema = TransactionSchema()
banker_transaction_schema = BankerTransactionSchema()
transaction_list_args_schema = TransactionListArgsSchema()
banker_transaction_args_schema = BankerTransactionArgsSchema()
