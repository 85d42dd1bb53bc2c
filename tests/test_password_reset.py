"""Password reset by a one-time code (OWASP's Forgot Password cheat sheet).

No user enumeration (the same answer, the same round trips and hashes on
every path), codes that are hashed, single use, short-lived and limited in
tries, nothing changed before a valid code, and a reset that ends every
session, exactly once under races and crashes.
"""

import json
import logging
import re
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from bson import ObjectId

from app import create_app
from app.config import TestConfig
from app.controllers.jobs import context as job_context
from app.core import jobs, password_reset
from app.core.errors import InvalidResetCode
from app.core.password_reset import CODE_LIFETIME, MAX_TRIES, Origin
from app.db import memory_client
from app.models import utc_now
from app.models.session import LoginThrottleModel
from app.models.user import UserModel
from tests import faults
from tests.conftest import PASSWORD
from tests.helpers import assert_problem, sent_reset_code, snapshot

NEW_PASSWORD = "a-whole-new-Passphrase-7"
REQUEST = "/auth/password-reset"
CONFIRM = "/auth/password-reset/confirm"
# The writes of a successful confirmation, in order (the audit log's append,
# between the third and the fourth, is not counted by tests/faults.py).
CONFIRM_WRITES = [
    ("password_resets", "find_one_and_update"),  # the code is taken
    ("users", "update_one"),  # the new password, every session ended
    ("login_failures", "delete_one"),  # the lockout cleared
    ("password_resets", "delete_one"),  # the request forgotten
]


def ask(client, username: str, **kwargs):
    return client.post(REQUEST, json={"username": username}, **kwargs)


def confirm(client, username: str, code: str, password: str = NEW_PASSWORD, **kw):
    body = {"username": username, "code": code, "new_password": password}
    return client.post(CONFIRM, json=body, **kw)


def login(client, username: str, password: str, **kwargs):
    body = {"username": username, "password": password}
    return client.post("/auth/login", json=body, **kwargs)


def set_contact(app, username: str, **fields) -> None:
    with app.app_context():
        from app.db import get_db

        get_db()["users"].update_one({"username": username}, {"$set": fields})


def stored_reset(app, username: str) -> dict | None:
    with app.app_context():
        from app.db import get_db

        return get_db()["password_resets"].find_one({"_id": username})


def audit_actions(app, action: str) -> list[dict]:
    with app.app_context():
        from app.db import get_db

        return list(get_db()["audit_log"].find({"action": action}))


def wrong(code: str) -> str:
    """Another valid-looking code."""
    return f"{(int(code) + 1) % 10**8:08d}"


@pytest.fixture
def carol(app, client, customer):
    """The customer, with an email address to receive codes at."""
    set_contact(app, "carol", email="carol@example.com")
    return customer


def reset_code(app, client, username: str = "carol") -> str:
    response = ask(client, username)
    assert response.status_code == 202
    code = sent_reset_code(app, username)
    assert code is not None and re.fullmatch(r"[0-9]{8}", code)
    return code


# -- the request: the same answer, the same work -----------------------------

REQUEST_PATHS = ("email", "phone", "no_contact", "disabled", "unknown")


def make_path(app, path: str, name: str | None = None) -> str:
    """Set up the user of one request path; return the username to ask for."""
    if path == "unknown":
        return "nobody"
    with app.app_context():
        users = UserModel(app.config["PASSWORD_HASH_METHOD"])
        username = name or f"user-{path.replace('_', '-')}"
        user = users.create(username, PASSWORD, "customer")
        if path == "email":
            users.update_profile(user["_id"], {"email": "u@example.com"})
        elif path == "phone":
            users.update_profile(user["_id"], {"phone": "+14155550123"})
        elif path == "disabled":
            users.update_profile(user["_id"], {"email": "d@example.com"})
            users.set_active(user["_id"], False)
    return user["username"]


@contextmanager
def counting(app):
    """Count database calls (every collection call, the audit log's included)
    and the codes made, HMACs and password hashes computed."""
    counts = {"codes": 0, "hmacs": 0, "password_hashes": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        for name, attribute in (
            ("codes", "new_code"),
            ("hmacs", "code_hash"),
            ("password_hashes", "hash_password"),
        ):
            original = getattr(password_reset, attribute)
            patch.setattr(password_reset, attribute, counted(name, original))
        scheduled = faults.schedule(app, audit=True)
        try:
            yield counts, scheduled
        finally:
            app.extensions["mongo_db"] = scheduled._database


def test_every_request_path_answers_the_same_after_the_same_work(
    app, client, monkeypatch
):
    answers, work = {}, {}
    for path in REQUEST_PATHS:
        username = make_path(app, path)
        with counting(app) as (counts, scheduled):
            response = ask(client, username)
        assert response.status_code == 202, response.get_json()
        answers[path] = (response.mimetype, response.get_data())
        work[path] = (len(scheduled.ops), tuple(sorted(counts.items())))
    assert len(set(answers.values())) == 1, answers
    body = json.loads(answers["unknown"][1])
    assert set(body) == {"message"} and "15 minutes" in body["message"]
    # One user look-up, the request written, the message queued or a write in
    # its stead, the audit entry: on every path alike.
    assert len(set(work.values())) == 1, work
    ops, counts = work["email"]
    assert ops >= 4
    assert dict(counts) == {"codes": 1, "hmacs": 1, "password_hashes": 0}
    # Only the users who can receive a code got one, on their one channel.
    with app.app_context():
        from app.db import get_db

        sent = {
            (m["channel"], m["address"])
            for m in get_db()["notifications"].find({"event": "password_reset_code"})
        }
    assert sent == {("email", "u@example.com"), ("sms", "+14155550123")}


def test_the_counting_sees_a_path_that_does_less(app, client, monkeypatch):
    """The check above can fail: a request that skipped the stand-in write
    for an unsent code would be told apart by its round trips."""
    known, unknown = make_path(app, "email"), make_path(app, "unknown")
    monkeypatch.setattr(
        password_reset.PasswordResetModel, "note_unsent", lambda *args: None
    )
    seen = []
    for username in (known, unknown):
        with counting(app) as (_counts, scheduled):
            assert ask(client, username).status_code == 202
        seen.append(len(scheduled.ops))
    assert seen[0] > seen[1]


CONFIRM_PATHS = (
    "unknown",
    "no_request",
    "wrong_code",
    "expired",
    "used",
    "killed",
    "replaced",
    "disabled",
)


def make_confirm_path(app, client, path: str) -> tuple[str, str]:
    """Set up one refused confirmation; return (username, code to send)."""
    if path == "unknown":
        return "nobody", "12345678"
    username = make_path(app, "email", name=f"user-{path.replace('_', '-')}")
    if path == "no_request":
        return username, "12345678"
    code = reset_code(app, client, username)
    if path == "wrong_code":
        return username, wrong(code)
    if path == "expired":
        with app.app_context():
            from app.db import get_db

            past = utc_now() - timedelta(seconds=1)
            get_db()["password_resets"].update_one(
                {"_id": username}, {"$set": {"expires_at": past}}
            )
    elif path == "used":
        assert confirm(client, username, code).status_code == 204
    elif path == "killed":
        for _ in range(MAX_TRIES):
            assert confirm(client, username, wrong(code)).status_code == 400
    elif path == "replaced":
        assert ask(client, username).status_code == 202
        assert sent_reset_code(app, username) != code
    elif path == "disabled":
        with app.app_context():
            UserModel().set_active(UserModel().find_by_username(username)["_id"], False)
    return username, code


def test_every_refused_confirmation_answers_the_same_after_the_same_work(
    app, client, monkeypatch
):
    answers, work = {}, {}
    for path in CONFIRM_PATHS:
        username, code = make_confirm_path(app, client, path)
        with counting(app) as (counts, scheduled):
            response = confirm(client, username, code)
        body = assert_problem(response, 400, "invalid_reset_code")
        answers[path] = (body["detail"], body["title"])
        work[path] = (len(scheduled.ops), tuple(sorted(counts.items())))
    assert len(set(answers.values())) == 1, answers
    assert len(set(work.values())) == 1, work
    # One HMAC of the code, one hash of the new password (as a success costs).
    assert dict(work["unknown"][1]) == {"codes": 0, "hmacs": 1, "password_hashes": 1}


# -- codes ---------------------------------------------------------------------


def test_a_code_is_8_digits_stored_only_as_a_keyed_hash(app, client, carol):
    code = reset_code(app, client)
    stored = stored_reset(app, "carol")
    assert stored["code_hash"] != code
    assert re.fullmatch(r"[0-9a-f]{64}", stored["code_hash"])
    assert stored["code_hash"] == password_reset.code_hash(
        app.config["JWT_SECRET_KEY"], "carol", code
    )
    # Keyed: the same code under another key, or for another user, differs.
    assert stored["code_hash"] != password_reset.code_hash("other" * 8, "carol", code)
    assert stored["code_hash"] != password_reset.code_hash(
        app.config["JWT_SECRET_KEY"], "dave", code
    )
    # The code is nowhere in the database but the message that carries it.
    everything = snapshot(app)
    outbox = everything.pop("notifications")
    assert code not in repr(everything)
    assert [m["secret"] for m in outbox if code in m["body"]] == [True]
    assert stored["expires_at"] - stored["created_at"] == CODE_LIFETIME


def test_codes_come_from_secrets_zero_padded(monkeypatch):
    monkeypatch.setattr(password_reset.secrets, "randbelow", lambda n: 4711)
    assert password_reset.new_code() == "00004711"


def test_a_code_works_once(app, client, carol):
    code = reset_code(app, client)
    assert confirm(client, "carol", code).status_code == 204
    again = confirm(client, "carol", code, password="yet-another-Passphrase-3")
    assert_problem(again, 400, "invalid_reset_code")
    assert login(client, "carol", NEW_PASSWORD).status_code == 200


def test_the_username_is_folded_like_at_login(app, client, carol):
    assert ask(client, "CAROL").status_code == 202
    code = sent_reset_code(app, "carol")
    assert confirm(client, "Carol", code).status_code == 204
    assert login(client, "carol", NEW_PASSWORD).status_code == 200


def test_a_code_lives_15_minutes(app, carol):
    origin, secret = Origin(), app.config["JWT_SECRET_KEY"]
    method = app.config["PASSWORD_HASH_METHOD"]
    with app.app_context():
        start = utc_now()
        password_reset.request_reset("carol", secret=secret, origin=origin, now=start)
        code = sent_reset_code(app, "carol")
        with pytest.raises(InvalidResetCode):
            password_reset.confirm_reset(
                "carol", code, NEW_PASSWORD, secret=secret, hash_method=method,
                origin=origin, now=start + CODE_LIFETIME,
            )  # fmt: skip
        # An expired code spends no try; just before the end it still works.
        password_reset.confirm_reset(
            "carol", code, NEW_PASSWORD, secret=secret, hash_method=method,
            origin=origin, now=start + CODE_LIFETIME - timedelta(milliseconds=1),
        )  # fmt: skip


def test_four_wrong_tries_leave_the_code_working(app, client, carol):
    code = reset_code(app, client)
    for _ in range(MAX_TRIES - 1):
        assert_problem(confirm(client, "carol", wrong(code)), 400, "invalid_reset_code")
    assert stored_reset(app, "carol")["tries"] == MAX_TRIES - 1
    assert confirm(client, "carol", code).status_code == 204


def test_the_fifth_wrong_try_kills_the_request(app, client, carol):
    code = reset_code(app, client)
    for _ in range(MAX_TRIES):
        assert_problem(confirm(client, "carol", wrong(code)), 400, "invalid_reset_code")
    assert_problem(confirm(client, "carol", code), 400, "invalid_reset_code")
    assert stored_reset(app, "carol")["tries"] == MAX_TRIES
    assert login(client, "carol", PASSWORD).status_code == 200
    # A new request starts again with a new code and no tries.
    fresh = reset_code(app, client)
    assert confirm(client, "carol", fresh).status_code == 204


def test_a_new_request_replaces_the_old_one(app, client, carol, monkeypatch):
    codes = iter([11111111, 22222222])
    monkeypatch.setattr(password_reset.secrets, "randbelow", lambda n: next(codes))
    old = reset_code(app, client)
    assert confirm(client, "carol", wrong(old)).status_code == 400
    new = reset_code(app, client)
    assert (old, new) == ("11111111", "22222222")
    assert stored_reset(app, "carol")["tries"] == 0  # the old tries went with it
    assert_problem(confirm(client, "carol", old), 400, "invalid_reset_code")
    assert confirm(client, "carol", new).status_code == 204


def test_a_code_goes_by_sms_when_there_is_no_email(app, client, customer):
    set_contact(app, "carol", phone="+447700900123")
    code = reset_code(app, client)
    with app.app_context():
        from app.db import get_db

        message = get_db()["notifications"].find_one({"event": "password_reset_code"})
    assert (message["channel"], message["address"]) == ("sms", "+447700900123")
    assert confirm(client, "carol", code).status_code == 204


def test_a_user_without_email_or_phone_gets_nothing_and_cannot_reset(
    app, client, customer
):
    assert ask(client, "carol").status_code == 202
    assert sent_reset_code(app, "carol") is None
    stored = stored_reset(app, "carol")
    assert stored["user_id"] is None and stored["channel"] is None
    # Even someone who could read the database's hash cannot use it: no user.
    assert confirm(client, "carol", "00000000").status_code == 400


def test_a_disabled_user_gets_no_code(app, client, carol):
    with app.app_context():
        UserModel().set_active(carol["user"]["id"], False)
    assert ask(client, "carol").status_code == 202
    assert sent_reset_code(app, "carol") is None


# -- nothing changes before a valid code ---------------------------------------


def test_a_request_changes_nothing_of_the_account(app, client, carol):
    tokens = login(client, "carol", PASSWORD).get_json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    with app.app_context():
        before = UserModel().find_by_username("carol")
    code = reset_code(app, client)
    assert confirm(client, "carol", wrong(code)).status_code == 400
    with app.app_context():
        assert UserModel().find_by_username("carol") == before
    assert client.get("/balance", headers=access).status_code == 200
    assert client.post("/auth/refresh", headers=refresh).status_code == 200
    assert client.get("/balance", headers=carol["headers"]).status_code == 200
    assert login(client, "carol", PASSWORD).status_code == 200
    # ... and the code still works afterwards.
    assert confirm(client, "carol", code).status_code == 204


@pytest.mark.parametrize(
    "password, message",
    [
        ("short-7", "Length must be between 8 and 128."),
        ("x" * 129, "Length must be between 8 and 128."),
        ("password123", "Is too common; choose another."),
        ("eight-ch", None),  # 8 characters: allowed
    ],
)
def test_the_new_password_follows_the_register_rules(
    app, client, carol, password, message
):
    code = reset_code(app, client)
    response = confirm(client, "carol", code, password=password)
    if message is None:
        assert response.status_code == 204
        return
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"]["new_password"] == [message]
    # Refused before the code is looked at: no try spent, the code still good.
    assert stored_reset(app, "carol")["tries"] == 0
    assert confirm(client, "carol", code).status_code == 204


def test_the_new_password_may_not_be_the_username(app, client):
    with app.app_context():
        UserModel(app.config["PASSWORD_HASH_METHOD"]).create(
            "carolinesmith", PASSWORD, "customer"
        )
    set_contact(app, "carolinesmith", email="cs@example.com")
    code = reset_code(app, client, "carolinesmith")
    response = confirm(client, "carolinesmith", code, password="CarolineSmith")
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"]["new_password"] == ["Must not be the username."]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "username"),
        ({"username": "a"}, "username"),
        ({"username": "carol", "role": "banker"}, "role"),
        ({"username": 7}, "username"),
    ],
)
def test_bad_requests_are_422(client, carol, body, field):
    response = client.post(REQUEST, json=body)
    assert field in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"code": "1234567"}, "code"),
        ({"code": "123456789"}, "code"),
        ({"code": 12345678}, "code"),
        ({"code": "1234 5678"}, "code"),
        ({"code": "١٢٣٤٥٦٧٨"}, "code"),  # Arabic-Indic digits are not the code
        ({"new_password": None}, "new_password"),
        ({"extra": True}, "extra"),
    ],
)
def test_bad_confirmations_are_422_and_spend_no_try(app, client, carol, change, field):
    code = reset_code(app, client)
    body = {"username": "carol", "code": code, "new_password": NEW_PASSWORD, **change}
    response = client.post(CONFIRM, json=body)
    assert field in assert_problem(response, 422, "validation_error")["errors"]
    assert stored_reset(app, "carol")["tries"] == 0


# -- a successful reset ----------------------------------------------------------


def test_a_reset_sets_the_password_and_ends_every_session(app, client, carol):
    first = login(client, "carol", PASSWORD).get_json()
    second = login(client, "carol", PASSWORD).get_json()
    code = reset_code(app, client)
    response = confirm(client, "carol", code)
    assert response.status_code == 204 and response.get_data() == b""
    for tokens in (first, second):
        for kind, path, method in (
            ("access_token", "/balance", "GET"),
            ("refresh_token", "/auth/refresh", "POST"),
        ):
            headers = {"Authorization": f"Bearer {tokens[kind]}"}
            answer = client.open(path, method=method, headers=headers)
            assert_problem(answer, 401, "token_revoked")
    assert_problem(
        client.get("/balance", headers=carol["headers"]), 401, "token_revoked"
    )
    assert_problem(login(client, "carol", PASSWORD), 401, "invalid_credentials")
    fresh = login(client, "carol", NEW_PASSWORD)
    assert fresh.status_code == 200
    headers = {"Authorization": f"Bearer {fresh.get_json()['access_token']}"}
    assert client.get("/balance", headers=headers).status_code == 200
    # Audited once, with the user as target and never the code.
    entries = audit_actions(app, "password_reset")
    assert [(e["actor"], e["target"]) for e in entries] == [
        ("carol", carol["user"]["id"])
    ]
    assert stored_reset(app, "carol") is None


def test_a_reset_clears_the_login_lockout(app, client, carol):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        login(client, "carol", "not-the-password")
    assert_problem(login(client, "carol", PASSWORD), 429, "too_many_attempts")
    code = reset_code(app, client)
    assert confirm(client, "carol", code).status_code == 204
    assert login(client, "carol", NEW_PASSWORD).status_code == 200


def test_staff_reset_their_password_too(app, client, banker):
    set_contact(app, "bernie", email="bernie@bank.example")
    code = reset_code(app, client, "bernie")
    assert confirm(client, "bernie", code).status_code == 204
    assert_problem(client.get("/banker/accounts", headers=banker["headers"]), 401,
                   "token_revoked")  # fmt: skip
    assert login(client, "bernie", NEW_PASSWORD).status_code == 200


def test_a_password_change_after_the_code_was_taken_wins(app, client, carol):
    """The password write is guarded by the session cut-off the reset read:
    a change in between (here, a disable) overtakes the reset, which then
    sets nothing."""
    code = reset_code(app, client)
    with app.app_context():
        user = UserModel().find_by_username("carol")
        reset = password_reset.PasswordResetModel().consume(
            "carol", user["_id"],
            password_reset.code_hash(app.config["JWT_SECRET_KEY"], "carol", code),
            utc_now(), max_tries=MAX_TRIES,
            pending={"password_hash": "x", "seen_cutoff": None,
                     "audit_id": ObjectId(), "ip": None, "http_request_id": None},
        )  # fmt: skip
        UserModel().set_active(user["_id"], False)
        UserModel().set_active(user["_id"], True)
        assert password_reset._finish(reset) is False
        assert UserModel().find_by_username("carol")["password_hash"] != "x"
    assert login(client, "carol", PASSWORD).status_code == 200
    assert audit_actions(app, "password_reset") == []
    assert stored_reset(app, "carol") is None


# -- races and crashes -----------------------------------------------------------

RACE_ROUNDS = 30


def test_two_parallel_confirmations_with_the_right_code_reset_once(
    app, client, carol, fast_switching
):
    for round_ in range(RACE_ROUNDS):
        code = reset_code(app, client)
        barrier = threading.Barrier(2)
        statuses = []

        def attempt(password: str, code=code, barrier=barrier, out=statuses) -> None:
            mine = app.test_client()
            barrier.wait()
            out.append(confirm(mine, "carol", code, password=password).status_code)

        threads = [
            threading.Thread(target=attempt, args=(f"round-{round_}-Passphrase-{n}",))
            for n in (1, 2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [204, 400], (round_, statuses)
    assert len(audit_actions(app, "password_reset")) == RACE_ROUNDS


def test_a_confirmation_makes_exactly_the_protocol_writes(app, client, carol):
    code = reset_code(app, client)
    faulty = faults.install(app)
    response = confirm(client, "carol", code)
    faults.uninstall(app, faulty)
    assert response.status_code == 204
    assert faulty.writes == CONFIRM_WRITES


def recover(app) -> int:
    """Run the recovery job with no grace period."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    with app.app_context():
        before = password_reset.count_stale(timedelta(0))
        outcome = jobs.run_job("ledger_recovery", job_context())
    assert outcome.failed == 0
    return before


@pytest.mark.parametrize("crash_after", range(len(CONFIRM_WRITES) + 1))
def test_a_crash_at_every_write_of_a_confirmation(app, client, carol, crash_after):
    """Before the code is taken, nothing happened and the code still works.
    Once it is taken, the reset is finished by the recovery with the password
    the user chose: never a spent code with the old password silently kept."""
    old_session = login(client, "carol", PASSWORD).get_json()
    old = {"Authorization": f"Bearer {old_session['access_token']}"}
    code = reset_code(app, client)
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        confirm(client, "carol", code)
    faults.uninstall(app, faulty)
    assert faulty.writes == CONFIRM_WRITES[:crash_after]

    if crash_after == 0:
        assert login(client, "carol", PASSWORD).status_code == 200
        assert confirm(client, "carol", code).status_code == 204
    else:
        # The code is spent: a retry is refused like any bad code.
        assert_problem(confirm(client, "carol", code), 400, "invalid_reset_code")
        if crash_after == 1:
            # Not written yet; a new request cannot replace the pending reset.
            assert login(client, "carol", PASSWORD).status_code == 200
            assert ask(client, "carol").status_code == 202
            assert sent_reset_code(app, "carol") == code  # no new message
        finishing = crash_after < len(CONFIRM_WRITES)
        assert recover(app) == (1 if finishing else 0)
    assert recover(app) == 0
    assert_problem(login(client, "carol", PASSWORD), 401, "invalid_credentials")
    assert login(client, "carol", NEW_PASSWORD).status_code == 200
    assert_problem(client.get("/balance", headers=old), 401, "token_revoked")
    # The audit entry (from which the user is told) exactly once, whoever wrote it.
    assert len(audit_actions(app, "password_reset")) == 1
    assert stored_reset(app, "carol") is None
    with app.app_context():
        assert LoginThrottleModel().collection.find_one({"_id": "carol"}) is None
    # And the next reset works as usual.
    fresh = reset_code(app, client)
    assert (
        confirm(client, "carol", fresh, password="third-time-Passphrase-5").status_code
        == 204
    )


def test_a_reset_stopped_after_its_audit_entry_is_not_audited_twice(app, client, carol):
    """The last write fails after the audit entry went in (a 500): the
    recovery finishes the reset and appends the entry only once."""
    code = reset_code(app, client)
    faulty = faults.install(app, fail_at=len(CONFIRM_WRITES))
    response = confirm(client, "carol", code)
    faults.uninstall(app, faulty)
    assert_problem(response, 500, "internal_error")
    assert len(audit_actions(app, "password_reset")) == 1
    assert stored_reset(app, "carol")["state"] == "consumed"
    assert recover(app) == 1
    assert len(audit_actions(app, "password_reset")) == 1
    assert stored_reset(app, "carol") is None
    assert login(client, "carol", NEW_PASSWORD).status_code == 200


def test_a_stalled_confirmation_is_left_alone_until_it_is_stale(app, client, carol):
    code = reset_code(app, client)
    faulty = faults.install(app, crash_after=1)
    with pytest.raises(faults.Crash):
        confirm(client, "carol", code)
    faults.uninstall(app, faulty)
    with app.app_context():
        assert password_reset.count_stale(timedelta(seconds=60)) == 0
        assert password_reset.finish_stale(timedelta(seconds=60)) == 0
        listed = jobs.list_jobs(job_context())
    due = {item["name"]: item["due"] for item in listed}
    assert due["ledger_recovery"] == 0
    assert login(client, "carol", PASSWORD).status_code == 200
    with app.app_context():
        later = utc_now() + timedelta(seconds=61)
        assert password_reset.count_stale(timedelta(seconds=60), later) == 1
        assert password_reset.finish_stale(timedelta(seconds=60), later) == 1
    assert login(client, "carol", NEW_PASSWORD).status_code == 200


# -- secrets stay secret; rate limits ---------------------------------------------


def test_neither_code_nor_password_reaches_a_log_or_the_audit_log(
    app, client, carol, caplog
):
    with caplog.at_level(logging.DEBUG):
        code = reset_code(app, client)
        digest = stored_reset(app, "carol")["code_hash"]
        answers = [
            confirm(client, "carol", wrong(code)),
            confirm(client, "carol", code),
        ]
        answers.append(login(client, "carol", NEW_PASSWORD))
    assert [a.status_code for a in answers] == [400, 204, 200]
    assert "password_reset" in caplog.text  # the flow was logged ...
    secrets_ = (code, wrong(code), digest, NEW_PASSWORD)
    for secret in secrets_:
        assert secret not in caplog.text  # ... without its secrets
        for answer in answers:
            assert secret not in answer.get_data(as_text=True)
    with app.app_context():
        from app.db import get_db

        entries = list(get_db()["audit_log"].find({"actor": "carol"}))
    actions = {e["action"] for e in entries}
    assert {"password_reset_request", "password_reset_failure", "password_reset"} <= (
        actions
    )
    for secret in secrets_:
        assert secret not in repr(entries)


class LimitedConfig(TestConfig):
    RATELIMIT_ENABLED = True
    RATELIMIT_AUTH = "3 per minute"


def test_both_reset_routes_spend_the_credential_budget():
    app = create_app(LimitedConfig, mongo_client=memory_client())
    client = app.test_client()
    here = {"environ_base": {"REMOTE_ADDR": "192.0.2.1"}}
    there = {"environ_base": {"REMOTE_ADDR": "192.0.2.2"}}
    assert ask(client, "nobody", **here).status_code == 202
    assert confirm(client, "nobody", "12345678", **here).status_code == 400
    assert ask(client, "nobody", **here).status_code == 202
    for response in (
        ask(client, "nobody", **here),
        confirm(client, "nobody", "12345678", **here),
        login(client, "nobody", PASSWORD, **here),
    ):
        body = assert_problem(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) >= 1
        assert body["request_id"]
    assert ask(client, "nobody", **there).status_code == 202
