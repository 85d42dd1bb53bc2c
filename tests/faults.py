"""Fault injection: a database whose Nth write raises, as if the process died."""

from typing import Any

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
    }
)


class Crash(BaseException):
    """The simulated crash: a BaseException, so no handler of the app catches it
    and nothing after it runs, as when the process dies."""


class Failure(RuntimeError):
    """A failing write the app sees and answers (500), unlike a crash."""


class FaultyDatabase:
    """Wrap a database and count writes.

    ``fail_at=n``: write n raises Failure instead of running.
    ``crash_after=n``: write n runs, then Crash is raised (n=0: before any write).
    ``audit=True``: the audit log's appends count as writes too (for the tests
    that an audit entry survives a crash on either side of its append).
    """

    def __init__(
        self,
        database: Any,
        fail_at: int | None = None,
        crash_after: int | None = None,
        audit: bool = False,
    ) -> None:
        self._database = database
        self.fail_at = fail_at
        self.crash_after = crash_after
        self.audit = audit
        self.writes: list[tuple[str, str]] = []

    def __getitem__(self, name: str) -> "FaultyCollection":
        return FaultyCollection(self, name, self._database[name])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


class FaultyCollection:
    def __init__(self, owner: FaultyDatabase, name: str, collection: Any) -> None:
        self._owner = owner
        self._name = name
        self._collection = collection

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._collection, attr)
        # The audit log is not part of the money protocol whose write sequence
        # the crash tests enumerate; its appends pass through uncounted.
        if attr not in WRITES or (self._name == "audit_log" and not self._owner.audit):
            return target

        def write(*args: Any, **kwargs: Any) -> Any:
            owner = self._owner
            if owner.crash_after == len(owner.writes):
                raise Crash(f"crash after write {owner.crash_after}")
            owner.writes.append((self._name, attr))
            if owner.fail_at is not None and len(owner.writes) == owner.fail_at:
                raise Failure(f"write {owner.fail_at} failed: {self._name}.{attr}")
            result = target(*args, **kwargs)
            if owner.crash_after == len(owner.writes):
                raise Crash(f"crash after write {owner.crash_after}")
            return result

        return write


def install(
    app,
    fail_at: int | None = None,
    crash_after: int | None = None,
    audit: bool = False,
) -> FaultyDatabase:
    """Put a FaultyDatabase in front of the app's database and return it."""
    faulty = FaultyDatabase(app.extensions["mongo_db"], fail_at, crash_after, audit)
    app.extensions["mongo_db"] = faulty
    return faulty


def uninstall(app, faulty: FaultyDatabase) -> None:
    """Put the real database back."""
    app.extensions["mongo_db"] = faulty._database


class ScheduledDatabase:
    """Wrap a database, count every collection call, and run scheduled actions.

    ``actions`` maps an operation number to a callable that gets the *raw*
    database and runs just before that operation (0: before the first). It is
    how a test lands a concurrent change (a freeze, an unfreeze, a close) between
    any two reads or writes of a request, deterministically. ``fired`` lists the
    numbers whose action ran; ``ops`` names every call, in order.
    """

    def __init__(
        self, database: Any, actions: dict | None = None, audit: bool = False
    ) -> None:
        self._database = database
        self.audit = audit  # count the audit log's calls too
        self.actions = dict(actions or {})
        self.ops: list[tuple[str, str]] = []
        self.fired: list[int] = []

    def __getitem__(self, name: str) -> "ScheduledCollection":
        return ScheduledCollection(self, name, self._database[name])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


class ScheduledCollection:
    def __init__(self, owner: ScheduledDatabase, name: str, collection: Any) -> None:
        self._owner = owner
        self._name = name
        self._collection = collection

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._collection, attr)
        # The audit log's appends vary with the clock; they are not the money
        # protocol whose interleavings the tests enumerate.
        if not callable(target) or (
            self._name == "audit_log" and not self._owner.audit
        ):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            owner = self._owner
            number = len(owner.ops)
            action = owner.actions.pop(number, None)
            if action is not None:
                action(owner._database)
                owner.fired.append(number)
            owner.ops.append((self._name, attr))
            return target(*args, **kwargs)

        return call


def schedule(
    app, actions: dict | None = None, audit: bool = False
) -> ScheduledDatabase:
    """Put a ScheduledDatabase in front of the app's database and return it."""
    scheduled = ScheduledDatabase(app.extensions["mongo_db"], actions, audit)
    app.extensions["mongo_db"] = scheduled
    return scheduled
