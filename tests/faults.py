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
    """

    def __init__(
        self,
        database: Any,
        fail_at: int | None = None,
        crash_after: int | None = None,
    ) -> None:
        self._database = database
        self.fail_at = fail_at
        self.crash_after = crash_after
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
        if attr not in WRITES or self._name == "audit_log":
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
    app, fail_at: int | None = None, crash_after: int | None = None
) -> FaultyDatabase:
    """Put a FaultyDatabase in front of the app's database and return it."""
    faulty = FaultyDatabase(app.extensions["mongo_db"], fail_at, crash_after)
    app.extensions["mongo_db"] = faulty
    return faulty


def uninstall(app, faulty: FaultyDatabase) -> None:
    """Put the real database back."""
    app.extensions["mongo_db"] = faulty._database
