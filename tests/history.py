"""A movable clock for the ledger, a customer's history written at chosen times,
and a count of what a request reads.

The ledger dates its entries (``created_at``, ``posted_at``) and accounts their
opening with ``app.models.utc_now``, imported by name into app.models.ledger,
app.models.account and app.models.ledger_recovery: a test replaces it there
(``install``) and moves the clock itself. Statements, analytics and the
dashboard read the real clock only to tell which month is "now".
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.models import ledger, ledger_recovery
from app.models.account import AccountModel
from tests import faults

CLOCKED = ("app.models.ledger", "app.models.account", "app.models.ledger_recovery")


class Clock:
    """A UTC instant that moves only when told (at BSON's millisecond)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        self.now = self.now.replace(microsecond=self.now.microsecond // 1000 * 1000)
        return self.now

    def at(self, instant: datetime) -> datetime:
        self.now = instant
        return instant


def install(monkeypatch, clock: Clock) -> Clock:
    """Have the ledger and the accounts read ``clock`` instead of the real time."""
    for module in CLOCKED:
        monkeypatch.setattr(f"{module}.utc_now", clock)
    return clock


def owner(username: str) -> dict:
    """A customer as the models need one (no user document: none is read)."""
    return {"_id": ObjectId(), "username": username}


def open_account(app, user: dict, kind: str = "checking") -> dict:
    """Open an account for ``user`` now (the clock's now, once installed)."""
    with app.app_context():
        return AccountModel().create(user, app.config["CURRENCY"], kind=kind)


def read(app, account_id: ObjectId) -> dict:
    with app.app_context():
        return AccountModel().find_by_id(account_id)


@dataclass
class Book:
    """Accounts of one app, moved through the ledger at the clock's time.

    ``stalled``: movements whose request stopped after its commit point (the
    balance moved, nothing journalled yet), oldest first, to be settled later.
    """

    app: object
    stalled: list[ObjectId] = field(default_factory=list)

    def deposit(self, account_id: ObjectId, cents: int, text: str | None = None):
        with self.app.app_context():
            return ledger.deposit(read(self.app, account_id), cents, text)

    def withdraw(self, account_id: ObjectId, cents: int) -> bool:
        """Withdraw if the money is there; False when refused."""
        with self.app.app_context():
            try:
                ledger.withdraw(read(self.app, account_id), cents, None)
            except ledger.LedgerRefusal:
                return False
        return True

    def transfer(self, source_id: ObjectId, target_number: str, cents: int) -> bool:
        with self.app.app_context():
            try:
                ledger.transfer(read(self.app, source_id), target_number, cents, None)
            except ledger.LedgerRefusal:
                return False
        return True

    def stall_deposit(self, account_id: ObjectId, cents: int) -> None:
        """A deposit whose request dies right after its commit point."""
        movement_id = ObjectId()
        faulty = faults.install(self.app, crash_after=1)
        try:
            with self.app.app_context():
                ledger.deposit(read(self.app, account_id), cents, "late", movement_id)
        except faults.Crash:
            self.stalled.append(movement_id)
        finally:
            faults.uninstall(self.app, faulty)

    def stall_transfer(
        self, source_id: ObjectId, target_number: str, cents: int
    ) -> None:
        """A transfer whose request dies right after debiting the source (the
        target is credited when it is settled)."""
        source = read(self.app, source_id)
        if ledger.available_cents(source) < cents:
            return
        transfer_id = ObjectId()
        faulty = faults.install(self.app, crash_after=2)
        try:
            with self.app.app_context():
                ledger.transfer(source, target_number, cents, "late", transfer_id)
        except faults.Crash:
            self.stalled.append(transfer_id)
        finally:
            faults.uninstall(self.app, faulty)

    def settle_oldest(self) -> None:
        """Recovery finishes the oldest stalled movement, at the clock's time."""
        if self.stalled:
            with self.app.app_context():
                ledger_recovery.settle(self.stalled.pop(0))

    def settle_all(self) -> None:
        while self.stalled:
            self.settle_oldest()


class Reads:
    """Wrap an app's database: count every collection call (a round trip on a
    real server) and every document it hands back, per collection."""

    def __init__(self, database: Any) -> None:
        self._database = database
        self.calls: list[tuple[str, str]] = []
        self.documents: Counter = Counter()

    def __getitem__(self, name: str) -> "_CountedCollection":
        return _CountedCollection(self, name, self._database[name])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)

    def round_trips(self, collection: str | None = None) -> int:
        return sum(1 for name, _ in self.calls if collection in (None, name))


class _CountedCollection:
    def __init__(self, owner: Reads, name: str, collection: Any) -> None:
        self._owner, self._name, self._collection = owner, name, collection

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._collection, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._owner.calls.append((self._name, attr))
            result = target(*args, **kwargs)
            if attr in ("find", "aggregate"):
                return _CountedCursor(result, self._owner, self._name)
            if attr.startswith("find_one") and result is not None:
                self._owner.documents[self._name] += 1
            return result

        return call


class _CountedCursor:
    def __init__(self, cursor: Any, owner: Reads, name: str) -> None:
        self._cursor, self._owner, self._name = cursor, owner, name

    def __iter__(self):
        for doc in self._cursor:
            self._owner.documents[self._name] += 1
            yield doc

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._cursor, attr)


def count_reads(app) -> Reads:
    """Count what ``app`` reads from now on (undo with ``stop_counting``)."""
    reads = Reads(app.extensions["mongo_db"])
    app.extensions["mongo_db"] = reads
    return reads


def stop_counting(app, reads: Reads) -> None:
    app.extensions["mongo_db"] = reads._database
