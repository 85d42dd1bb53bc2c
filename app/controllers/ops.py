"""Operational checks and the metrics exposition."""

from pymongo.errors import PyMongoError

from app.db import get_db
from app.errors import ServiceUnavailableError
from app.metrics import exposition
from app.schemas.ops import health_schema, liveness_schema


def health() -> dict:
    """Ping the database.

    :raises ServiceUnavailableError: the database does not answer.
    """
    try:
        get_db().command("ping")
    except PyMongoError as exc:
        raise ServiceUnavailableError() from exc
    return health_schema.dump({"status": "ok", "database": "ok"})


def live() -> dict:
    """Say the process answers, without touching the database."""
    return liveness_schema.dump({"status": "ok"})


def ready() -> dict:
    """Say the API can serve: its database answers a ping.

    :raises ServiceUnavailableError: the database does not answer.
    """
    return health()


def metrics(authorization: str | None) -> tuple[bytes, str]:
    """Render the metrics and their content type for a caller.

    :raises NotFound: metrics are off.
    :raises TokenMissingError: METRICS_TOKEN is set and no bearer token came.
    :raises TokenInvalidError: the bearer token is not METRICS_TOKEN.
    """
    return exposition(authorization)
