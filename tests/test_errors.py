"""Every error is a problem document; every response has a request id and a log."""

import logging

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from tests.conftest import PASSWORD
from tests.test_auth import assert_problem


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("{", "application/json"),
        ("", "application/json"),
        ("{'a': 1}", "application/json"),
        ('{"amount": 1,}', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        ("[" * 20000 + "]" * 20000, "application/json"),
        ('{"amount": 10}', "text/plain"),
        ('{"amount": 10}', "application/x-www-form-urlencoded"),
        ('{"amount": 10}', None),
    ],
)
def test_non_json_bodies_return_400_invalid_json(client, customer, data, content_type):
    response = client.post(
        "/deposit", headers=customer["headers"], data=data, content_type=content_type
    )
    assert_problem(response, 400, "invalid_json")


def test_json_with_charset_is_accepted(client, customer):
    response = client.post(
        "/deposit",
        headers=customer["headers"],
        data='{"amount": 1}',
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 201


def test_body_over_limit_returns_413(client, customer):
    big = '{"description": "' + "x" * (64 * 1024) + '"}'
    response = client.post(
        "/deposit",
        headers=customer["headers"],
        data=big,
        content_type="application/json",
    )
    assert_problem(response, 413, "payload_too_large")


def test_unknown_path_returns_404_problem(client):
    body = assert_problem(client.get("/no/such/path"), 404, "not_found")
    assert "<" not in body["detail"]


def test_wrong_method_returns_405_with_allow(client):
    response = client.put("/deposit")
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unexpected_exception_returns_500_without_internals(
    app, client, customer, monkeypatch, caplog
):
    from app.controllers import accounts as controller

    def explode(*args, **kwargs):
        raise KeyError("secret internal detail")

    monkeypatch.setattr(controller, "get_balance", explode)
    with caplog.at_level(logging.ERROR, logger="app"):
        response = client.get("/balance", headers=customer["headers"])
    body = assert_problem(response, 500, "internal_error")
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged and body["request_id"] in logged[0].getMessage()
    assert logged[0].exc_info is not None


def test_duplicate_key_from_a_race_is_409(app, client, monkeypatch):
    from app.models.user import UserModel

    client.post("/auth/register", json={"username": "racer", "password": PASSWORD})
    # Simulate the second of two racing registrations: the look-up saw nothing,
    # the unique index refuses the insert.
    monkeypatch.setattr(UserModel, "find_by_username", lambda self, name: None)
    response = client.post(
        "/auth/register", json={"username": "racer", "password": PASSWORD}
    )
    assert_problem(response, 409, "username_taken")


def test_request_id_is_echoed(client):
    response = client.get("/health", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["X-Request-ID"] == "abc-123.x"


@pytest.mark.parametrize(
    "given", [None, "", "bad id with spaces", "x" * 200, "<script>"]
)
def test_request_id_is_generated_when_absent_or_unsafe(client, given):
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/health", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert generated != given and len(generated) == 32


def test_every_request_logs_one_access_line(client, customer, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = client.post(
            "/deposit",
            headers=customer["headers"],
            json={"amount": 1},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "app.access"]
    assert len(lines) == 1
    line = lines[0]
    assert "method=POST path=/deposit status=201 duration_ms=" in line
    assert f"request_id={response.headers['X-Request-ID']}" in line
    assert f"user_id={customer['user']['id']}" in line


def test_logs_never_contain_passwords_hashes_or_tokens(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post("/auth/register", json={"username": "quiet", "password": PASSWORD})
        tokens = client.post(
            "/auth/login", json={"username": "quiet", "password": PASSWORD}
        ).get_json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        client.post("/deposit", headers=headers, json={"amount": 1})
        client.post("/auth/login", json={"username": "quiet", "password": "wrong!!"})
    text = caplog.text
    assert PASSWORD not in text and "wrong!!" not in text
    assert tokens["access_token"] not in text
    assert tokens["refresh_token"] not in text
    assert "scrypt:" not in text


def test_health_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_503_when_database_does_not_answer(app, client, monkeypatch):
    database = app.extensions["mongo_db"]

    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(database, "command", down, raising=False)
    assert_problem(client.get("/health"), 503, "database_unavailable")


def test_database_error_elsewhere_is_503_not_500(client, customer, app, monkeypatch):
    from app.models.account import AccountModel

    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(AccountModel, "ensure_primary", down)
    assert_problem(
        client.get("/balance", headers=customer["headers"]), 503, "database_unavailable"
    )


def domain_error_classes() -> list[type]:
    """Every domain error class app/core/errors.py defines."""
    from app.core import errors as domain

    return [
        value
        for value in vars(domain).values()
        if isinstance(value, type)
        and issubclass(value, domain.DomainError)
        and value is not domain.DomainError
    ]


def test_every_domain_error_has_an_answer_in_the_table():
    from app.core import errors as domain
    from app.errors import DOMAIN_ERRORS

    unanswered = [
        cls.__name__
        for cls in domain_error_classes()
        # InvalidRequest is answered as validation_error; a base such as
        # RetryLater is answered through its subclasses.
        if cls is not domain.InvalidRequest
        and not cls.__subclasses__()
        and not any(base in DOMAIN_ERRORS for base in cls.__mro__)
    ]
    assert unanswered == []


def test_a_domain_error_answers_with_the_detail_of_its_api_error():
    # A rule moved from an ApiError to a domain error keeps its answer: the
    # domain error's own message is the detail the ApiError gave.
    from app.errors import DOMAIN_ERRORS

    for domain_cls, api_cls in DOMAIN_ERRORS.items():
        if "message" in vars(domain_cls):
            assert domain_cls.message == api_cls.detail, domain_cls


@pytest.mark.parametrize(
    "error, status, code",
    [
        ("UserNotFound", 404, "user_not_found"),
        ("NotACustomer", 409, "not_a_customer"),
        ("AccountNotEmpty", 409, "account_not_empty"),
        ("CannotDisableSelf", 409, "cannot_disable_self"),
    ],
)
def test_domain_errors_answer_through_the_table(app, error, status, code):
    from app.core import errors as domain
    from app.error_handlers import domain_error_response

    refusal = getattr(domain, error)()
    with app.test_request_context():
        response = domain_error_response(refusal)
    assert response.status_code == status
    body = response.get_json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"] == refusal.message
    assert "Retry-After" not in response.headers


def test_a_locked_login_answers_429_with_retry_after(app):
    from app.core.errors import LoginLocked
    from app.error_handlers import domain_error_response
    from app.errors import TooManyAttemptsError

    with app.test_request_context():
        response = domain_error_response(LoginLocked(42))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "42"
    body = response.get_json()
    assert body["code"] == "too_many_attempts"
    assert body["detail"] == TooManyAttemptsError.detail
