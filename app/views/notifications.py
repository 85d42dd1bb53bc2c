"""Blueprint notifications: the caller's in-app notifications and channel
preferences (role customer)."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import notifications as controller
from app.http import json_body, query_args
from app.openapi import operation
from app.schemas.common import PageArgsSchema
from app.schemas.notification import (
    NotificationPageSchema,
    NotificationSchema,
    PreferencesSchema,
    UpdatePreferencesSchema,
)
from app.security import roles_required

bp = Blueprint(
    "notifications",
    __name__,
    description="The caller's notifications: what happened to their accounts and "
    "sessions, also sent by email and text message as their preferences allow "
    "(role customer).",
)


@bp.get("/notifications")
@operation(bp, 200, NotificationPageSchema, query=PageArgsSchema)
@roles_required("customer")
def list_notifications():
    """List the caller's notifications, newest first."""
    return controller.list_notifications(current_user, query_args()), 200


@bp.post("/notifications/<notification_id>/read")
@operation(
    bp,
    200,
    NotificationSchema,
    errors={404: "No such notification of the caller's (`notification_not_found`)."},
)
@roles_required("customer")
def mark_read(notification_id: str):
    """Mark one of the caller's notifications read (again: it stays as it was)."""
    return controller.mark_read(current_user, notification_id), 200


@bp.get("/notifications/preferences")
@operation(bp, 200, PreferencesSchema)
@roles_required("customer")
def get_preferences():
    """Show which channels the caller receives notifications on."""
    return controller.get_preferences(current_user), 200


@bp.patch("/notifications/preferences")
@operation(
    bp,
    200,
    PreferencesSchema,
    body=UpdatePreferencesSchema,
    example={"email": False},
)
@roles_required("customer")
def update_preferences():
    """Turn email or text messages off or on (security events are always sent)."""
    return controller.update_preferences(current_user, json_body()), 200
