"""Use cases of a customer's payees, and the name check (confirmation of payee).

A payee is an account the customer pays, kept with the name they believe its
holder has. Adding one checks that name against the holder's (``check_name``,
a pure function); what the check found is kept with the payee and reported to
the caller's ``on_name_check`` (the edge audits it).
"""

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from bson import ObjectId

from app.core.errors import (
    AccountNotFound,
    InvalidRequest,
    NameCheckFailed,
    PayeeExists,
    PayeeLimitReached,
    PayeeNotFound,
)
from app.models import AlreadyTaken, utc_now
from app.models.account import AccountModel
from app.models.payee import PayeeModel
from app.models.user import UserModel

MATCH, CLOSE_MATCH, NO_MATCH = "match", "close_match", "no_match"
NAME_CHECK_RESULTS = (MATCH, CLOSE_MATCH, NO_MATCH)
# At most this many edits apart is a close match.
CLOSE_EDITS = 2
# What can be paid as a payee: a customer's current or savings account. Goals
# take money only from their owner, and any other kind (loans, the bank's
# own accounts) is no one's payee; all of them answer like an unknown number.
PAYABLE_KINDS = frozenset({"checking", "savings"})
# The fields PATCH may change.
EDITABLE = frozenset({"nickname", "reference"})


@dataclass(frozen=True)
class NameCheck:
    """What the name check found: ``result``, and the holder's name as stored
    when (and only when) the result is a close match."""

    result: str
    matched_name: str | None = None


@dataclass(frozen=True)
class NewPayee:
    """An account to keep as a payee, with the name the payer believes it has."""

    account_number: str
    name: str
    nickname: str | None = None
    reference: str | None = None
    acknowledge_name_check: bool = False


# Told of every name check made: what it found and whether a payee was stored.
NameCheckListener = Callable[[NameCheck, bool], None]


def normalise_name(name: str) -> str:
    """Fold a name for comparison: letters and single spaces, case-folded.

    NFKC first, so a letter written with a combining accent equals its
    precomposed form (the accent is not dropped as a non-letter) and
    full-width or ligature letters read as the plain ones. ``str.isalpha``
    keeps letters of every script; digits, punctuation and symbols go, and
    any run of white space becomes one space.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = "".join(
        char if char.isalpha() else " " if char.isspace() else "" for char in folded
    )
    return " ".join(kept.split())


def levenshtein(first: str, second: str) -> int:
    """Return the edit distance of two strings (insert, delete, substitute)."""
    if len(first) < len(second):
        first, second = second, first
    previous = list(range(len(second) + 1))
    for row, char in enumerate(first, start=1):
        current = [row]
        for column, other in enumerate(second, start=1):
            current.append(
                min(
                    previous[column] + 1,  # delete char
                    current[column - 1] + 1,  # insert other
                    previous[column - 1] + (char != other),  # substitute
                )
            )
        previous = current
    return previous[-1]


def check_name(given: str, holder: str) -> tuple[str, str | None]:
    """Check the name a payer gave against the holder's; return (result, matched_name).

    Both are normalised (``normalise_name``). Equal is a ``match``; the same
    last word and the same first initial, or at most CLOSE_EDITS edits apart,
    is a ``close_match``, which names the holder as stored; anything else,
    and any name against a holder whose name holds no letter, is a
    ``no_match``, which names no one.
    """
    mine, theirs = normalise_name(given), normalise_name(holder)
    if not mine or not theirs:
        return NO_MATCH, None
    if mine == theirs:
        return MATCH, None
    my_words, their_words = mine.split(), theirs.split()
    same_initial_and_last = (
        my_words[0][0] == their_words[0][0] and my_words[-1] == their_words[-1]
    )
    # Strings whose lengths differ by more than CLOSE_EDITS cannot be closer.
    near = abs(len(mine) - len(theirs)) <= CLOSE_EDITS and (
        levenshtein(mine, theirs) <= CLOSE_EDITS
    )
    if same_initial_and_last or near:
        return CLOSE_MATCH, holder
    return NO_MATCH, None


def holder_name(user: dict) -> str:
    """The name a holder is checked by: the full name, else the username."""
    return user.get("full_name") or user["username"]


def add_payee(
    owner: dict,
    order: NewPayee,
    *,
    limit: int,
    on_name_check: NameCheckListener | None = None,
) -> dict:
    """Keep another customer's account as one of the owner's payees.

    Everything that needs no name check is judged first, so a refusal for
    those reasons checks (and reveals) no name. ``on_name_check`` hears of
    every check made, whether or not a payee came of it; ``limit`` is
    MAX_PAYEES.

    :raises AccountNotFound: no such account, or closed, or not payable (a goal).
    :raises InvalidRequest: the account is the owner's own.
    :raises PayeeExists: the owner keeps this account as a payee already.
    :raises PayeeLimitReached: the owner keeps ``limit`` payees already.
    :raises NameCheckFailed: the name is a ``no_match`` and was not acknowledged.
    """
    account = _payable_account(order.account_number)
    if account["user_id"] == owner["_id"]:
        raise InvalidRequest(
            "account_number", "Must be another customer's account, not your own."
        )
    payees = PayeeModel()
    if payees.find_by_account(owner["_id"], order.account_number) is not None:
        raise PayeeExists()
    if len(payees.taken_places(owner["_id"])) >= limit:
        raise PayeeLimitReached()
    check = NameCheck(*check_name(order.name, _holder_of(account)))
    heard = on_name_check or (lambda _check, _created: None)
    if check.result == NO_MATCH and not order.acknowledge_name_check:
        heard(check, False)
        raise NameCheckFailed()
    doc = {
        "_id": ObjectId(),
        "user_id": owner["_id"],
        "account_number": order.account_number,
        "name": order.name,
        "nickname": order.nickname,
        "reference": order.reference,
        "name_check": {"result": check.result, "matched_name": check.matched_name},
        "created_at": utc_now(),
    }
    try:
        stored = payees.insert_within(doc, limit)
    except AlreadyTaken:
        # A parallel request added the same account first.
        heard(check, False)
        raise PayeeExists() from None
    if stored is None:
        heard(check, False)
        raise PayeeLimitReached()
    heard(check, True)
    return stored


def _payable_account(account_number: str) -> dict:
    """Return the account a payee may name, or answer as if it did not exist."""
    account = AccountModel().find_by_number(account_number)
    if (
        account is None
        or account.get("status") == "closed"
        or account.get("kind") not in PAYABLE_KINDS
    ):
        raise AccountNotFound()
    return account


def _holder_of(account: dict) -> str:
    """The name the account's holder is checked by."""
    user = UserModel().find_by_id(account["user_id"])
    return holder_name(user) if user is not None else account["username"]


def list_payees(
    owner: dict, limit: int, after: tuple | None = None
) -> tuple[list[dict], bool]:
    """Return a page of the owner's payees, newest first, and whether more follow."""
    return PayeeModel().list_for_user(owner["_id"], limit, after)


def get_payee(owner: dict, payee_id: str) -> dict:
    """Return one of the owner's payees.

    :raises PayeeNotFound: no such payee of the owner's (a malformed id included).
    """
    payee = PayeeModel().find_owned(owner["_id"], payee_id)
    if payee is None:
        raise PayeeNotFound()
    return payee


def update_payee(owner: dict, payee_id: str, changes: dict) -> dict:
    """Change the nickname or reference of one of the owner's payees.

    :raises PayeeNotFound: no such payee of the owner's.
    """
    editable = {name: value for name, value in changes.items() if name in EDITABLE}
    payee = PayeeModel().update_owned(owner["_id"], payee_id, editable)
    if payee is None:
        raise PayeeNotFound()
    return payee


def delete_payee(owner: dict, payee_id: str) -> dict:
    """Forget one of the owner's payees; return it as it was.

    :raises PayeeNotFound: no such payee of the owner's.
    """
    payee = PayeeModel().delete_owned(owner["_id"], payee_id)
    if payee is None:
        raise PayeeNotFound()
    return payee


def payee_account(owner: dict, payee_id: str) -> str:
    """Return the account number of one of the owner's payees, to pay it.

    :raises PayeeNotFound: no such payee of the owner's (a malformed id included).
    """
    return get_payee(owner, payee_id)["account_number"]
