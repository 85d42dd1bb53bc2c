"""Schemas for payees and their name check."""

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from app.core.payees import NAME_CHECK_RESULTS, normalise_name
from app.schemas.admin import StrictBoolean
from app.schemas.common import (
    ACCOUNT_NUMBER,
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)

NICKNAME = [validate.Length(min=1, max=60), plain_text]
REFERENCE = [validate.Length(min=1, max=140), plain_text]


class AddPayeeSchema(Schema):
    """POST /payees: the account, the holder's name as the payer believes it."""

    account_number = fields.String(required=True, validate=ACCOUNT_NUMBER)
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=100), plain_text],
        metadata={"example": "Dave Jones"},
    )
    nickname = fields.String(load_default=None, allow_none=True, validate=NICKNAME)
    reference = fields.String(load_default=None, allow_none=True, validate=REFERENCE)
    acknowledge_name_check = StrictBoolean(
        load_default=False,
        metadata={
            "description": "Keep the payee even when the name does not match "
            "the holder's (`no_match`)."
        },
    )

    @validates("name")
    def check_has_letters(self, value: str, **kwargs: Any) -> None:
        # The check compares letters only: a name without any could match no one.
        if not normalise_name(value):
            raise ValidationError("Must contain at least one letter.")


class UpdatePayeeSchema(Schema):
    """PATCH /payees/{payee_id}: a new nickname or reference (null clears it)."""

    nickname = fields.String(allow_none=True, validate=NICKNAME)
    reference = fields.String(allow_none=True, validate=REFERENCE)

    @validates_schema
    def check_changes_something(self, data: dict, **kwargs: Any) -> None:
        # Like every body the API reads, an empty one is a mistake, not a no-op.
        if not data:
            raise ValidationError("Give nickname, reference or both.")


class NameCheckSchema(Schema):
    """What the name check found when the payee was added."""

    result = fields.String(required=True, validate=validate.OneOf(NAME_CHECK_RESULTS))
    matched_name = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The holder's name, for a `close_match` only."},
    )


class PayeeSchema(Schema):
    """One of the caller's payees."""

    id = ObjectIdString(required=True, attribute="_id")
    account_number = fields.String(required=True, metadata={"example": "4817302955"})
    name = fields.String(required=True)
    nickname = fields.String(required=True, allow_none=True)
    reference = fields.String(required=True, allow_none=True)
    name_check = fields.Nested(NameCheckSchema, required=True)
    created_at = UtcDateTime(required=True)


PayeePageSchema = page_schema(PayeeSchema)

add_payee_schema = AddPayeeSchema()
update_payee_schema = UpdatePayeeSchema()
payee_schema = PayeeSchema()
payee_list_args_schema = PageArgsSchema()
