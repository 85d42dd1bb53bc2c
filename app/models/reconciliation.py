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
from app.models.ledger import SYSTEM_ACCOUNTS, contra_of


def _problem(code: str, detail: str, **where: Any) -> dict:
    return {"code": code, "detail": detail, **{k: str(v) for k, v in where.items()}}


def check(stale_before: datetime) -> dict:
    """Return a report of every discrepancy between balances and journal.

    Records and holds older than ``stale_before`` count as abandoned.
    """
    accounts = list(get_db()["accounts"].find({}))
    entries = get_db()["transactions"].find(
        {},
        {
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
        },
    )
    by_id: dict = {}
    applied: dict = defaultdict(list)  # account id -> (seq, delta, balance_after)
    legs: dict = defaultdict(list)
    problems: list[dict] = []
    for entry in entries:
        by_id[entry["_id"]] = entry
        if entry["status"] == "posted":
            applied[entry["account_id"]].append(
                (entry["seq"], entry["delta_cents"], entry["balance_after_cents"])
            )
        if entry["transfer_id"] is not None:
            legs[entry["transfer_id"]].append(entry)
    total = 0
    system: dict[str, int] = dict.fromkeys(SYSTEM_ACCOUNTS, 0)
    unjournalled: dict = {}  # entries applied, not yet in the journal, by id
    for account in accounts:
        number = account["account_number"]
        chain = applied[account["_id"]]
        for record in account["pending_entries"]:
            if "entry" not in record:  # not this protocol's: cannot be judged
                problems.append(
                    _problem("unreadable_record", "record without its entry",
                             account_number=number, entry_id=record.get("id"))
                )  # fmt: skip
                continue
            entry = record["entry"]
            if record["id"] in by_id:
                # Journalled, waiting for its release: counted there.
                if entry["created_at"] < stale_before:
                    problems.append(
                        _problem(
                            "stale_pending",
                            "entry journalled but its record never released",
                            account_number=number,
                            entry_id=record["id"],
                        )
                    )
                continue
            unjournalled[record["id"]] = entry
            chain.append((record["seq"], entry["delta_cents"], record["balance_after"]))
            _book_contra(system, entry)
            if entry["created_at"] < stale_before:
                problems.append(
                    _problem(
                        "stale_pending",
                        "entry applied but not journalled since "
                        f"{entry['created_at'].isoformat()}",
                        account_number=number,
                        entry_id=record["id"],
                    )
                )
        problems.extend(_check_account(account, chain))
        for hold in account["holds"]:
            if not isinstance(hold, dict):  # not this protocol's
                problems.append(
                    _problem("unreadable_hold", "hold without its transfer",
                             account_number=number, entry_id=hold)
                )  # fmt: skip
                continue
            if hold["id"] in by_id:
                problems.append(
                    _problem(
                        "orphan_hold",
                        "hold for a leg that is journalled already",
                        account_number=number,
                        entry_id=hold["id"],
                    )
                )
            elif hold["at"] < stale_before:
                problems.append(
                    _problem(
                        "stale_pending",
                        f"transfer held since {hold['at'].isoformat()}",
                        account_number=number,
                        entry_id=hold["id"],
                    )
                )
        total += account["balance_cents"]
    for entry in by_id.values():
        if entry["status"] == "posted":
            _book_contra(system, entry)
    for transfer_id, pair in legs.items():
        problems.extend(_check_transfer(transfer_id, pair, unjournalled))
    # A transfer debited and not yet credited: its money is between accounts.
    in_transit = sum(
        -entry["delta_cents"]
        for entry in unjournalled.values()
        if entry["type"] == "transfer_out"
        and entry["pair_id"] not in unjournalled
        and entry["pair_id"] not in by_id
    )
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
    if balance < 0:
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


def _check_transfer(transfer_id: Any, pair: list[dict], unjournalled: set):
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
    if len(posted) == 1 and posted[0]["pair_id"] in unjournalled:
        return []  # the other leg is applied and on its way to the journal
    return [
        _problem(
            "transfer_legs",
            f"posted legs: {', '.join(types)}",
            transfer_id=transfer_id,
        )
    ]
