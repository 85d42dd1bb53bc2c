"""Schemas for the customer's notifications and channel preferences."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

from app.schemas.admin import StrictBoolean
from app.schemas.common import ObjectIdString, UtcDateTime, page_schema


class NotificationSchema(Schema):
    """One in-app notification."""

    id = ObjectIdString(required=True, attribute="_id")
    event = fields.String(
        required=True,
        metadata={"description": "What happened, e.g. `incoming_transfer`, "
                  "`large_movement`, `new_login`, `password_changed`."},
    )  # fmt: skip
    title = fields.String(required=True)
    body = fields.String(required=True, metadata={"description": "In plain words."})
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(required=True, allow_none=True)


class PreferencesSchema(Schema):
    """The caller's channels: off stops that channel for all but security events."""

    email = fields.Boolean(required=True)
    sms = fields.Boolean(required=True)


class UpdatePreferencesSchema(Schema):
    """PATCH /notifications/preferences: any of the channels, true or false."""

    email = StrictBoolean(
        metadata={"description": "false: no email but for security events (a new "
                  "login, a password change or reset), which are always sent."},
    )  # fmt: skip
    sms = StrictBoolean(
        metadata={"description": "false: no text message but for security events."},
    )

    @validates_schema
    def something_to_change(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Send email, sms or both.")


NotificationPageSchema = page_schema(NotificationSchema)

notification_schema = NotificationSchema()
preferences_schema = PreferencesSchema()
update_preferences_schema = UpdatePreferencesSchema()
