"""Blueprint auth: register, login, me."""

from flask import Blueprint
from flask_jwt_extended import current_user

from app.controllers import auth as controller
from app.http import json_body
from app.security import roles_required

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.post("/register")
def register():
    """Register a customer with a new primary account."""
    return controller.register(json_body()), 201


@bp.post("/login")
def login():
    """Exchange a username and password for tokens."""
    return controller.login(json_body()), 200


@bp.get("/me")
@roles_required()
def me():
    """Return the caller's profile."""
    return controller.me(current_user), 200
