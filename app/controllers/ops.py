"""Operational checks."""

from pymongo.errors import PyMongoError

from app.db import get_db
from app.errors import ServiceUnavailableError
from app.schemas.ops import health_schema


def health() -> dict:
    """Ping the database.

    :raises ServiceUnavailableError: the database does not answer.
    """
    try:
        get_db().command("ping")
    except PyMongoError as exc:
        raise ServiceUnavailableError() from exc
    return health_schema.dump({"status": "ok", "database": "ok"})
