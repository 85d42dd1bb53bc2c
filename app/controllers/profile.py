"""The caller's own profile: change email, full name or phone."""

from app import audit
from app.models.user import UserModel
from app.schemas.auth import me_schema, profile_update_schema

PROFILE_ACTION = "profile_update"


def update_profile(user: dict, payload: object) -> dict:
    """Change the fields sent (a null clears one) and return the profile.

    Audited with the names of the fields changed, never their values: contact
    details are personal data, and the audit log is never edited or erased.

    :raises ValidationError: no field, an unknown field, or a bad value.
    """
    changes = profile_update_schema.load(payload)
    updated = UserModel().update_profile(user["_id"], changes)
    audit.record(
        PROFILE_ACTION,
        actor=user["username"],
        target=user["_id"],
        details={"fields": sorted(changes)},
    )
    return me_schema.dump(updated or user)
