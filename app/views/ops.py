"""Blueprint ops: health, liveness and readiness probes, metrics."""

from flask import request
from flask_smorest import Blueprint

from app.controllers import ops as controller
from app.openapi import METRICS_BEARER, operation
from app.schemas.ops import HealthSchema, LivenessSchema

bp = Blueprint("ops", __name__, description="Operations.")


@bp.get("/health")
@operation(bp, 200, HealthSchema, auth=False)
def health():
    """Report whether the API and its database answer."""
    return controller.health(), 200


@bp.get("/health/live")
@operation(bp, 200, LivenessSchema, auth=False)
def live():
    """Report that the process answers; the database is not asked."""
    return controller.live(), 200


@bp.get("/health/ready")
@operation(bp, 200, HealthSchema, auth=False)
def ready():
    """Report whether the API can serve: its database answers a ping."""
    return controller.ready(), 200


@bp.get("/metrics")
@operation(
    bp,
    200,
    None,
    auth=False,
    text="text/plain",
    optional_security=METRICS_BEARER,
    errors={
        401: "METRICS_TOKEN is set and the bearer token is missing "
        "(`token_missing`) or another (`token_invalid`).",
        404: "METRICS_ENABLED is off (`not_found`), as for an unknown URL.",
    },
)
def metrics():
    """Expose the Prometheus metrics of this process (text format)."""
    body, content_type = controller.metrics(request.headers.get("Authorization"))
    return body, 200, {"Content-Type": content_type}
