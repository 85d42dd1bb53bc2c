"""Standing orders placed and looked at from tests, through the use case."""

from datetime import UTC, date, datetime

from app.core import scheduled_transfers
from app.core.scheduled_transfers import StandingOrder
from app.db import get_db
from app.models.user import UserModel


def at(day: str, hour: int = 12) -> datetime:
    """An instant on ``day`` (UTC), noon unless told."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def place(app, customer, target: str, start: str, cents=1000, recurrence=None):
    """Place an order through the use case, as if today were its start."""
    with app.app_context():
        owner = UserModel().find_by_id(customer["user"]["id"])
        return scheduled_transfers.place(
            owner,
            StandingOrder(
                cents=cents, start_date=date.fromisoformat(start),
                to_account_number=target, recurrence=recurrence,
            ),
            currency="USD",
            today=date.fromisoformat(start),
        )  # fmt: skip


def posted_out(app, number: str) -> int:
    """How many transfers out of ``number`` are posted."""
    with app.app_context():
        return get_db()["transactions"].count_documents(
            {"account_number": number, "type": "transfer_out", "status": "posted"}
        )
