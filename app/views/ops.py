"""Blueprint ops: health check."""

from flask_smorest import Blueprint

from app.controllers import ops as controller
from app.openapi import operation
from app.schemas.ops import HealthSchema

bp = Blueprint("ops", __name__, description="Operations.")


@bp.get("/health")
@operation(bp, 200, HealthSchema, auth=False)
def health():
    """Report whether the API and its database answer."""
    return controller.health(), 200
