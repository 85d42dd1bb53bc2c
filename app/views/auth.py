"""Blueprint auth: register, login, me."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import auth as controller
from app.http import json_body
from app.openapi import operation
from app.schemas.auth import (
    LoginSchema,
    MeSchema,
    RegisterSchema,
    RegistrationSchema,
    TokenSchema,
)
from app.security import roles_required

bp = Blueprint(
    "auth", __name__, url_prefix="/auth", description="Registration and login."
)


@bp.post("/register")
@operation(
    bp,
    201,
    RegistrationSchema,
    body=RegisterSchema,
    auth=False,
    errors={409: "The username is taken (`username_taken`)."},
    example={"username": "alice", "password": "correct horse battery"},
)
def register():
    """Register a customer with a new primary account."""
    return controller.register(json_body()), 201


@bp.post("/login")
@operation(
    bp,
    200,
    TokenSchema,
    body=LoginSchema,
    auth=False,
    errors={
        401: "Unknown username or wrong password (`invalid_credentials`).",
        403: "The user is disabled (`account_disabled`).",
    },
    example={"username": "alice", "password": "correct horse battery"},
)
def login():
    """Exchange a username and password for tokens."""
    return controller.login(json_body()), 200


@bp.get("/me")
@operation(bp, 200, MeSchema)
@roles_required()
def me():
    """Return the caller's profile."""
    return controller.me(current_user), 200
