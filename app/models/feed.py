"""FeedModel: the feeds collection, how far each derived view has read the journal.

One small document per feed (``_id`` its name), written once per sweep, never
per movement: ``position`` is the posting time up to which the feed has
derived its records. Moves forward only (``$max``), so two sweeps racing each
other cannot move it back.
"""

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import EPOCH


class FeedModel:
    """Positions of the sweeps that derive records from the journal."""

    @property
    def collection(self) -> Any:
        return get_db()["feeds"]

    def position(self, name: str) -> datetime:
        """Where feed ``name`` stands (the epoch for a feed never run)."""
        doc = self.collection.find_one({"_id": name})
        return doc["position"] if doc else EPOCH

    def start(self, name: str, moment: datetime) -> None:
        """Put a feed that has never run at ``moment`` (a feed that has: as is).

        For a feed added to a bank with a history: it begins where it was
        first set up, instead of deriving its records from all of the past.
        """
        try:
            self.collection.update_one(
                {"_id": name}, {"$setOnInsert": {"position": moment}}, upsert=True
            )
        except DuplicateKeyError:
            pass  # another process started it at the same moment

    def advance(self, name: str, moment: datetime) -> None:
        """Move feed ``name`` forward to ``moment`` (never back)."""
        self.collection.update_one(
            {"_id": name}, {"$max": {"position": moment}}, upsert=True
        )
