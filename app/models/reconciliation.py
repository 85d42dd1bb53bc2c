"""Reconciliation: check every account against the journal (read-only).

The checks, per the ledger's protocol (app.models.ledger):

- balance = the deltas of its posted entries + those of entries applied but not
  yet journalled (records in ``pending_entries`` with no journal entry), and
  never negative;
- the account's history replays: its applied entries, in ``seq`` order, are
  numbered 1..entry_seq and each ``balance_after`` is the previous one plus its
  delta, ending at the balance;
- every transfer with a posted leg has exactly two posted legs, one out and one
  in, for the same amount, netting to zero;
- no movement is left unjournalled (a record) or unfinished (a hold) after the
  timeout, and no hold outlives its leg's journal entry;
- the books balance: the customers' balances, the money of transfers debited
  and not yet credited, and the system accounts (derived from the one-sided
  entries' contra accounts) sum to zero.
"""

from collections import defaultdict
from datetime import datetime
from typing import Any

from app.db import get_db
from app.models.ledger import LOAN_KIND, SYSTEM_ACCOUNTS, contra_of


def _problem(code: str, detail: str, **where: Any) -> dict:
    return {"code": code, "detail": detail, **{k: str(v) for k, v in where.items()}}


def check(stale_before: datetime) -> dict:
    """Return a report of every discrepancy between balances and journal.

    Records and holds older than ``stale_before`` count as abandoned.

    The accounts are read first, then the journal, and neither read is a
    snapshot on a real server: movements go on meanwhile. So each account is
    judged as of its own read (one document, so one moment): an entry counts
    as *applied* when the read shows it (its record is on the account, or it is
    posted with a ``seq`` the account's ``entry_seq`` had reached). Entries
    applied after the read are left out of the balance, the books and the
    money in transit alike, and a hold whose leg may have been credited and
    journalled since the read is reported only once it is older than
    ``stale_before``.
    """
    accounts = list(get_db()["accounts"].find({}))
    entries = get_db()["transactions"].find({}, JOURNAL_FIELDS)
    by_id: dict = {}
    legs: dict = defaultdict(list)
    for entry in entries:
        by_id[entry["_id"]] = entry
        if entry["transfer_id"] is not None:
            legs[entry["transfer_id"]].append(entry)
    seen = {account["_id"]: account["entry_seq"] for account in accounts}
    posted: dict = defaultdict(list)  # account id -> its applied posted entries
    for entry in by_id.values():
        if entry["status"] == "posted" and entry["seq"] <= seen.get(
            entry["account_id"], 0
        ):
            posted[entry["account_id"]].append(entry)
    problems: list[dict] = []
    system: dict[str, int] = dict.fromkeys(SYSTEM_ACCOUNTS, 0)
    applied: dict = {}  # every entry applied as of its account's read, by id
    total = 0
    for account in accounts:
        chain = [
            (e["seq"], e["delta_cents"], e["balance_after_cents"])
            for e in posted[account["_id"]]
        ]
        applied.update((e["_id"], e) for e in posted[account["_id"]])
        for record, entry in _records(account, by_id, stale_before, problems):
            applied[record["id"]] = entry
            chain.append((record["seq"], entry["delta_cents"], record["balance_after"]))
        problems.extend(_check_account(account, chain))
        problems.extend(_check_holds(account, by_id, stale_before))
        total += account["balance_cents"]
    for entry in applied.values():
        _book_contra(system, entry)
    in_transit = _in_transit(applied)
    for transfer_id, pair in legs.items():
        problems.extend(_check_transfer(transfer_id, pair, applied))
    balanced = total + in_transit + sum(system.values()) == 0
    if not balanced:
        problems.append(
            _problem(
                "books_unbalanced",
                f"customers {total} cents, in transit {in_transit} cents and "
                f"system accounts {sum(system.values())} cents do not sum to zero",
            )
        )
    return {
        "ok": not problems,
        "balanced": balanced,
        "system_cents": system,
        "accounts": len(accounts),
        "entries": len(by_id),
        "transfers": len(legs),
        "total_balance_cents": total,
        "in_transit_cents": in_transit,
        "problems": problems,
    }


JOURNAL_FIELDS = {
    "account_id": 1,
    "type": 1,
    "amount_cents": 1,
    "delta_cents": 1,
    "balance_after_cents": 1,
    "seq": 1,
    "status": 1,
    "transfer_id": 1,
    "pair_id": 1,
    "contra_account": 1,
    "created_at": 1,
}


def _records(account: dict, by_id: dict, stale_before: datetime, problems: list):
    """Yield (record, entry) for the account's records not yet journalled."""
    number = account["account_number"]
    for record in account["pending_entries"]:
        if "entry" not in record:  # not this protocol's: cannot be judged
            problems.append(
                _problem("unreadable_record", "record without its entry",
                         account_number=number, entry_id=record.get("id"))
            )  # fmt: skip
            continue
        entry = record["entry"]
        stale = entry["created_at"] < stale_before
        if record["id"] in by_id:
            # Journalled, waiting for its release: counted as posted.
            if stale:
                problems.append(
                    _problem("stale_pending",
                             "entry journalled but its record never released",
                             account_number=number, entry_id=record["id"])
                )  # fmt: skip
            continue
        if stale:
            problems.append(
                _problem(
                    "stale_pending",
                    "entry applied but not journalled since "
                    f"{entry['created_at'].isoformat()}",
                    account_number=number,
                    entry_id=record["id"],
                )
            )
        yield record, entry


def _check_holds(account: dict, by_id: dict, stale_before: datetime) -> list[dict]:
    number = account["account_number"]
    found = []
    for hold in account["holds"]:
        if not isinstance(hold, dict):  # not this protocol's
            found.append(
                _problem("unreadable_hold", "hold without its transfer",
                         account_number=number, entry_id=hold)
            )  # fmt: skip
        elif hold["at"] >= stale_before:
            continue  # in flight (or finished since the read): judged later
        elif hold["id"] in by_id:
            found.append(
                _problem("orphan_hold", "hold for a leg that is journalled already",
                         account_number=number, entry_id=hold["id"])
            )  # fmt: skip
        else:
            found.append(
                _problem("stale_pending",
                         f"transfer held since {hold['at'].isoformat()}",
                         account_number=number, entry_id=hold["id"])
            )  # fmt: skip
    return found


def _in_transit(applied: dict) -> int:
    """Money debited from a source and not (yet, as of the reads) credited.

    Per transfer: its amount if the out leg is applied and the in leg is not;
    minus it in the reverse case (the target read after the credit, the source
    before the debit).
    """
    transit = 0
    for entry in applied.values():
        if entry["type"] == "transfer_out" and entry["pair_id"] not in applied:
            transit += entry["amount_cents"]
        elif entry["type"] == "transfer_in" and entry["pair_id"] not in applied:
            transit -= entry["amount_cents"]
    return transit


def _book_contra(system: dict[str, int], entry: dict) -> None:
    """Book the bank's side of an applied one-sided entry (the opposite delta).

    An entry that is neither a transfer leg nor has a contra account books
    nothing, so its money shows as the books not balancing.
    """
    contra = contra_of(entry)
    if contra is not None:
        system[contra] = system.get(contra, 0) - entry["delta_cents"]


def _check_account(account: dict, chain: list[tuple]) -> list[dict]:
    number = account["account_number"]
    found = []
    balance = account["balance_cents"]
    journal_sum = sum(delta for _seq, delta, _after in chain)
    if balance != journal_sum:
        found.append(
            _problem(
                "balance_mismatch",
                f"balance {balance} cents, journal {journal_sum} cents",
                account_number=number,
            )
        )
    if balance < 0 and account.get("kind") != LOAN_KIND:
        found.append(
            _problem(
                "negative_balance", f"balance {balance} cents", account_number=number
            )
        )
    chain.sort()
    running = 0
    for expected_seq, (seq, delta, after) in enumerate(chain, start=1):
        running += delta
        if seq != expected_seq or after != running:
            found.append(
                _problem(
                    "history_break",
                    f"entry seq {seq}: balance_after {after}, replay gives {running}",
                    account_number=number,
                )
            )
            break
    if len(chain) != account["entry_seq"]:
        found.append(
            _problem(
                "sequence_mismatch",
                f"{len(chain)} applied entries, entry_seq {account['entry_seq']}",
                account_number=number,
            )
        )
    return found


def _check_transfer(transfer_id: Any, pair: list[dict], applied: dict):
    posted = [leg for leg in pair if leg["status"] == "posted"]
    if not posted:
        return []
    types = sorted(leg["type"] for leg in posted)
    if types == ["transfer_in", "transfer_out"]:
        if sum(leg["delta_cents"] for leg in posted) == 0 and (
            posted[0]["amount_cents"] == posted[1]["amount_cents"]
        ):
            return []
        return [_problem("transfer_unbalanced", "legs do not net to zero",
                         transfer_id=transfer_id)]  # fmt: skip
    if len(posted) == 1 and posted[0]["pair_id"] in applied:
        return []  # the other leg is applied and on its way to the journal
    return [
        _problem(
            "transfer_legs",
            f"posted legs: {', '.join(types)}",
            transfer_id=transfer_id,
        )
    ]
