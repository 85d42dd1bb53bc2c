"""JobModel: the jobs collection, the last run of each background job.

One small document per job (``_id`` its name), written once per run of that
job, never per request.
"""

from datetime import datetime
from typing import Any

from app.db import get_db


class JobModel:
    """When each job last ran, and what came of it."""

    @property
    def collection(self) -> Any:
        return get_db()["jobs"]

    def last_runs(self) -> dict[str, dict]:
        """Return each job's last run by name: {last_run_at, last_outcome}."""
        return {doc["_id"]: doc for doc in self.collection.find({})}

    def record(self, name: str, at: datetime, outcome: dict) -> None:
        """Keep a run of ``name`` as its last (of runs racing, the last to end),
        and count it by result: ``runs.ok``, ``runs.failed`` (some pieces
        failed) or ``runs.error`` (the job stopped), for the metrics."""
        if outcome.get("error"):
            result = "error"
        else:
            result = "failed" if outcome.get("failed") else "ok"
        self.collection.update_one(
            {"_id": name},
            {
                "$set": {"last_run_at": at, "last_outcome": outcome},
                "$inc": {f"runs.{result}": 1},
            },
            upsert=True,
        )
