"""Database round trips per request: what a real MongoDB makes every call pay.

Counted by wrapping the app's database (every collection call is one round
trip on a real server; a bulk write to one collection is one command), the
audit log included. The ceilings are today's figures and meet the targets
(balance <= 2, deposit <= 5, transfer <= 8, at most 2 more with a key), but
for the daily limit: money leaving a customer adds two writes, the
reservation and its confirmation (without the second, a busy sender's usage
document grew with every payment: the bench measured transfers at 79 req/s
against 244 before the limit, see the issue 12 note). So a
change that adds a round trip to a hot path fails here and has to say why.
"""

import pytest

from tests import faults
from tests.factories import fund

# request -> ceiling (the audit entry of a movement is derived from the journal
# later, by the audit feed: none is written by the request)
CEILINGS = {
    "balance": 2,  # user (with its ended sessions), account
    "deposit": 5,  # user, account, commit, journal, release
    "deposit+key": 7,  # + claim, answer
    "withdraw": 7,  # user, account, daily-limit reservation, commit, journal,
    #                 release, the reservation confirmed
    # Spending with spare change (1.01) asks whether a goal takes round-ups.
    "withdraw 1.01": 8,
    "transfer": 9,  # user, source, hold (finds the target), daily-limit
    #                 reservation, debit, credit, journal both legs, release
    #                 both, the reservation confirmed
    "transfer+key": 11,
    # At APPROVAL_THRESHOLD nothing moves: user, account, the reservation, the
    # approval, its audit entry (no journal entry to derive it from).
    "withdraw 10000.00 (approval)": 5,
    # + the target, read to see whether it is someone else's.
    "transfer 10000.00 (approval)": 6,
    "transfer 10000.00 (approval)+key": 8,  # + claim, answer
}


def requests(customer: dict, target: str) -> dict:
    headers = customer["headers"]
    keyed = {**headers, "Idempotency-Key": "round-trips"}
    move = {"amount": "1.00"}
    pay = {"amount": "1.00", "to_account_number": target}
    large = {"amount": "10000.00"}
    return {
        "balance": ("get", "/balance", headers, None),
        "deposit": ("post", "/deposit", headers, move),
        "deposit+key": ("post", "/deposit", keyed, move),
        "withdraw": ("post", "/withdraw", headers, move),
        "withdraw 1.01": ("post", "/withdraw", headers, {"amount": "1.01"}),
        "transfer": ("post", "/transfers", headers, pay),
        "transfer+key": ("post", "/transfers", {**keyed, "Idempotency-Key": "t"}, pay),
        "withdraw 10000.00 (approval)": ("post", "/withdraw", headers, large),
        "transfer 10000.00 (approval)": ("post", "/transfers", headers,
                                         {**pay, **large}),
        "transfer 10000.00 (approval)+key": (
            "post", "/transfers", {**keyed, "Idempotency-Key": "a"}, {**pay, **large},
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(CEILINGS))
def test_hot_paths_stay_within_their_round_trips(
    app, client, customer, other_customer, name
):
    fund(app, customer["account"]["account_number"], 1_000_000)
    method, path, headers, body = requests(
        customer, other_customer["account"]["account_number"]
    )[name]
    counted = faults.schedule(app, audit=True)
    try:
        response = getattr(client, method)(path, headers=headers, json=body)
    finally:
        app.extensions["mongo_db"] = counted._database
    assert response.status_code in (200, 201, 202), response.get_json()
    assert len(counted.ops) <= CEILINGS[name], counted.ops
