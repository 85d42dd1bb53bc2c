"""Schemas for the bankers' directory of users: the list, its filters, one user."""

import base64
import binascii
from typing import Any

from marshmallow import Schema, fields, validate

from app.models.user import ROLES
from app.schemas.account import AccountSchema
from app.schemas.admin import BankerUserSchema
from app.schemas.common import QueryInt, UtcDateTime, decode_cursor_text, plain_text
from app.schemas.loan import QueryBoolean

_CURSOR_PREFIX = "user:"


def encode_username_cursor(username: str) -> str:
    """The opaque cursor of the directory that resumes after ``username``."""
    raw = f"{_CURSOR_PREFIX}{username}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class UsernameCursor(fields.Field):
    """The directory's opaque cursor in, the username to resume after out."""

    default_error_messages = {"invalid": "Invalid cursor."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or len(value) > 128:
            raise self.make_error("invalid")
        try:
            raw = decode_cursor_text(value)
        except (ValueError, binascii.Error) as exc:
            raise self.make_error("invalid") from exc
        username = raw.removeprefix(_CURSOR_PREFIX)
        if username == raw or not 1 <= len(username) <= 64:
            raise self.make_error("invalid")
        return username


class UserListArgsSchema(Schema):
    """``limit``, ``cursor`` and the filters of the directory."""

    limit = QueryInt(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = UsernameCursor(
        load_default=None,
        metadata={
            "type": "string",
            "description": "The `next_cursor` of the previous page.",
        },
    )
    role = fields.String(load_default=None, validate=validate.OneOf(ROLES))
    q = fields.String(
        load_default=None,
        validate=[validate.Length(min=1, max=32), plain_text],
        metadata={"description": "A username prefix, in any case."},
    )
    active = QueryBoolean(
        load_default=None,
        metadata={"type": "string", "enum": ["true", "false"]},
    )


class DirectoryUserSchema(BankerUserSchema):
    """A user as the bankers' directory shows it (never a password hash or a
    session)."""

    full_name = fields.String(required=True, allow_none=True, dump_default=None)
    email = fields.String(required=True, allow_none=True, dump_default=None)
    phone = fields.String(required=True, allow_none=True, dump_default=None)
    last_login_at = UtcDateTime(
        required=True,
        allow_none=True,
        dump_default=None,
        metadata={
            "description": "The last successful login; null: none since the "
            "bank began keeping it."
        },
    )
    accounts = fields.Integer(
        required=True,
        dump_default=0,
        metadata={"description": "Accounts held (as GET /accounts lists them)."},
    )


class UserDetailSchema(DirectoryUserSchema):
    """One user with the accounts they hold, as GET /accounts shows them."""

    accounts = fields.List(fields.Nested(AccountSchema), required=True)


class UserPageSchema(Schema):
    """A page of the directory, by username."""

    items = fields.List(fields.Nested(DirectoryUserSchema), required=True)
    next_cursor = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Pass as `cursor` for the next page."},
    )


user_list_args_schema = UserListArgsSchema()
directory_user_schema = DirectoryUserSchema()
user_detail_schema = UserDetailSchema()
