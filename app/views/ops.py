"""Blueprint ops: health check."""

from flask import Blueprint

from app.controllers import ops as controller

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    """Report whether the API and its database answer."""
    return controller.health(), 200
