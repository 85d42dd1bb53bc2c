"""A disbursement retried with its Idempotency-Key disburses once and answers as
the contract says, whatever happened to the first request: refused, stopped
after any write (and finished by the job runner, or by the retry), or sent by
another banker with the same key text."""

from datetime import timedelta

import pytest

from app.controllers.jobs import context as job_context
from app.core import jobs
from app.db import get_db
from tests import faults
from tests.factories import auth_headers, balance_cents, make_user
from tests.helpers import assert_problem

PRODUCT = {
    "name": "Personal loan", "annual_rate": "12.00", "min_amount": "500.00",
    "max_amount": "25000.00", "min_term_months": 1, "max_term_months": 60,
}  # fmt: skip
KEY = {"Idempotency-Key": "disburse-lena-1"}


@pytest.fixture
def approved(client, customer, banker) -> dict:
    product = client.post("/banker/loan-products", headers=banker["headers"],
                          json=PRODUCT).get_json()  # fmt: skip
    loan = client.post(
        "/loans", headers=customer["headers"],
        json={"product_id": product["id"], "amount": "1000.00", "term_months": 12},
    ).get_json()  # fmt: skip
    response = client.post(f"/banker/loans/{loan['id']}/approve",
                           headers=banker["headers"])  # fmt: skip
    assert response.status_code == 200
    return loan


def disburse(client, banker, loan, headers=KEY):
    return client.post(f"/banker/loans/{loan['id']}/disburse",
                       headers={**banker["headers"], **headers})  # fmt: skip


def payouts(app, customer) -> int:
    """How many disbursements reached the customer's account."""
    with app.app_context():
        return get_db()["transactions"].count_documents({
            "account_number": customer["account"]["account_number"],
            "type": "transfer_in", "status": "posted",
        })  # fmt: skip


def assert_disbursed_once(app, client, customer, banker, loan):
    assert payouts(app, customer) == 1
    assert balance_cents(app, customer["account"]["account_number"]) == 100_000
    check = client.get("/banker/ledger/check", headers=banker["headers"]).get_json()
    assert check["ok"] and check["balanced"], check


def test_a_refused_first_attempt_is_replayed_and_a_new_key_disburses(
    app, client, customer, banker, approved
):
    """The first use of the key completed with a 409: the contract replays every
    non-5xx first answer, so the same key answers that 409 again (replayed) even
    once the account is unfrozen; a new key disburses, once."""
    number = customer["account"]["account_number"]
    client.patch(f"/banker/accounts/{number}", headers=banker["headers"],
                 json={"status": "frozen"})  # fmt: skip
    first = disburse(client, banker, approved)
    assert_problem(first, 409, "account_frozen")
    client.patch(f"/banker/accounts/{number}", headers=banker["headers"],
                 json={"status": "active"})  # fmt: skip
    again = disburse(client, banker, approved)
    # Byte for byte: the first answer, its request id included.
    assert again.status_code == 409
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert payouts(app, customer) == 0
    fresh = disburse(client, banker, approved, {"Idempotency-Key": "disburse-2"})
    assert fresh.status_code == 200 and fresh.get_json()["status"] == "active"
    assert_disbursed_once(app, client, customer, banker, approved)


def test_the_same_key_text_from_another_banker_is_another_request(
    app, client, customer, banker, approved
):
    """Keys are scoped to the user who sent them: another banker's request with
    the same key text is a request of its own, and a loan already disbursed
    answers it 409 invalid_state (nothing moves twice)."""
    first = disburse(client, banker, approved)
    assert first.status_code == 200
    other = {"headers": auth_headers(app, make_user(app, "bella", "pass-word-123456",
                                                    role="banker"))}  # fmt: skip
    body = assert_problem(disburse(client, other, approved), 409, "invalid_state")
    assert "active" in body["detail"]
    replay = disburse(client, banker, approved)
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    assert_disbursed_once(app, client, customer, banker, approved)


def keyed_writes(app, client, banker, loan) -> int:
    """How many counted writes a keyed disbursement makes, start to end."""
    faulty = faults.install(app)
    try:
        assert disburse(client, banker, loan).status_code == 200
    finally:
        faults.uninstall(app, faulty)
    return len(faulty.writes)


def test_a_keyed_disbursement_makes_the_writes_the_crash_tests_enumerate(
    app, client, customer, banker, approved
):
    assert keyed_writes(app, client, banker, approved) == KEYED_WRITES


# The claim, the loan -> disbursing, the loan account (its number, then the
# account), the work claim, the transfer (hold, debit, credit, journal,
# release), the work claim done, the loan -> active, the key's answer stored.
KEYED_WRITES = 13


@pytest.mark.parametrize("job_first", [False, True], ids=["retry", "job-then-retry"])
@pytest.mark.parametrize("crash_after", range(1, KEYED_WRITES))
def test_a_keyed_retry_after_the_request_stopped_disburses_once_and_answers_200(
    app, client, customer, banker, approved, crash_after, job_first
):
    """The first request died after any write; the retry with its key (after the
    job runner finished the disbursement, or before) answers 200 with the
    active loan, never 409, and the money moved once."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        disburse(client, banker, approved)
    faults.uninstall(app, faulty)
    if job_first:
        with app.app_context():
            context = job_context()
            for name in ("ledger_recovery", "loan_interest"):
                jobs.run_job(name, context)
    retry = disburse(client, banker, approved)
    assert retry.status_code == 200, retry.get_json()
    body = retry.get_json()
    assert body["status"] == "active" and body["account_number"]
    shown = client.get(f"/loans/{approved['id']}", headers=banker["headers"])
    assert shown.get_json()["outstanding"] == body["outstanding"] == "1000.00"
    # Settled now: a third try replays the second's answer.
    third = disburse(client, banker, approved)
    assert third.headers["Idempotency-Replayed"] == "true"
    assert third.get_json() == body
    assert_disbursed_once(app, client, customer, banker, approved)
