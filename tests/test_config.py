"""Configuration rules, the bootstrap banker, the CLI and run.py."""

from datetime import UTC, datetime, timedelta

import pytest

from app import ConfigError, create_app
from app.config import Config, TestConfig
from app.db import is_memory_uri, make_client, memory_client
from tests.conftest import PASSWORD
from tests.helpers import make_app


def build(**settings):
    config = type("Custom", (TestConfig,), settings)
    return make_app(config)


@pytest.mark.parametrize(
    "settings, reason",
    [
        ({"JWT_SECRET_KEY": None, "MONGO_URI": "mongodb://db/"}, "JWT_SECRET_KEY"),
        ({"JWT_SECRET_KEY": "short", "MONGO_URI": "mongodb://db/"}, "32 bytes"),
        ({"JWT_SECRET_KEY": "k" * 40, "MONGO_URI": "mongomock://"}, "in-memory"),
        ({"JWT_SECRET_KEY": "k" * 40, "MONGO_URI": None}, "in-memory"),
    ],
)
def test_production_refuses_unsafe_settings(settings, reason):
    with pytest.raises(ConfigError) as error:
        build(APP_ENV="production", **settings)
    assert reason in str(error.value)
    assert "\n" not in str(error.value)


def test_production_starts_with_a_real_uri_and_long_secret():
    app = build(
        APP_ENV="production", JWT_SECRET_KEY="k" * 40, MONGO_URI="mongodb://db.example/"
    )
    assert app.config["JWT_SECRET_KEY"] == "k" * 40


def test_development_without_secret_gets_a_random_one(caplog):
    first = build(JWT_SECRET_KEY=None).config["JWT_SECRET_KEY"]
    second = build(JWT_SECRET_KEY=None).config["JWT_SECRET_KEY"]
    assert len(first) >= 32 and first != second
    assert "JWT_SECRET_KEY is not set" in caplog.text


@pytest.mark.parametrize(
    "uri, memory",
    [
        (None, True),
        ("", True),
        ("mongomock://", True),
        ("mongodb://localhost/", False),
        ("mongodb+srv://cluster.example/", False),
    ],
)
def test_backend_is_chosen_from_the_uri(uri, memory):
    assert is_memory_uri(uri) is memory


def test_real_uri_builds_a_tz_aware_pymongo_client():
    import pymongo

    client = make_client("mongodb://127.0.0.1:1/", timeout_ms=10)
    try:
        assert isinstance(client, pymongo.MongoClient)
        assert client.codec_options.tz_aware is True
    finally:
        client.close()


def test_memory_uri_builds_a_locked_mongomock_database():
    app = create_app(TestConfig)
    assert app.config["IN_MEMORY_DB"] is True
    assert type(app.extensions["mongo_db"]).__name__ == "_LockedDatabase"


def test_indexes_exist_after_start(app, db):
    users = db["users"].index_information()
    assert any(
        v.get("unique") and v["key"] == [("username", 1)] for v in users.values()
    )
    # Account numbers are unique through account_numbers._id, and looked up
    # through a plain index (a unique one costs a scan per update in memory).
    accounts = db["accounts"].index_information()
    assert any(v["key"] == [("account_number", 1)] for v in accounts.values())
    assert not any(v.get("unique") for k, v in accounts.items() if k != "_id_")
    keys = [v["key"] for v in db["transactions"].index_information().values()]
    assert [("account_id", 1), ("created_at", -1), ("_id", -1)] in keys
    keys = [v["key"] for v in db["idempotency_keys"].index_information().values()]
    assert [("expires_at", 1)] in keys


def test_bootstrap_banker_is_created_once_and_can_log_in():
    client = memory_client()
    config = type(
        "Boot",
        (TestConfig,),
        {"BOOTSTRAP_BANKER_USERNAME": "Boss", "BOOTSTRAP_BANKER_PASSWORD": PASSWORD},
    )
    app = create_app(config, mongo_client=client)
    create_app(config, mongo_client=client)  # a restart finds it and leaves it
    users = list(app.extensions["mongo_db"]["users"].find({}))
    assert [(u["username"], u["role"]) for u in users] == [("boss", "banker")]
    http = app.test_client()
    token = http.post(
        "/auth/login", json={"username": "boss", "password": PASSWORD}
    ).get_json()
    response = http.get(
        "/banker/accounts", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 200
    # Bankers hold no accounts.
    assert app.extensions["mongo_db"]["accounts"].count_documents({}) == 0


def test_cli_create_banker_with_password_stdin(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-banker", "Teller", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created banker teller" in result.output
    assert PASSWORD not in result.output
    user = db["users"].find_one({"username": "teller"})
    assert user["role"] == "banker"
    assert db["accounts"].count_documents({"user_id": user["_id"]}) == 0


def test_cli_create_banker_prompts_for_the_password(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-banker", "prompted"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert db["users"].find_one({"username": "prompted"})["role"] == "banker"


@pytest.mark.parametrize(
    "username, password, code, message",
    [("x", PASSWORD, 2, "username"), ("weakling", "password123", 2, "password")],
)
def test_cli_create_banker_rejects_bad_input(
    app, db, username, password, code, message
):
    result = app.test_cli_runner().invoke(
        args=["create-banker", username, "--password-stdin"], input=password + "\n"
    )
    assert result.exit_code == code
    assert message in result.output
    assert db["users"].count_documents({}) == 0


def test_cli_create_banker_refuses_a_taken_username(app, client):
    client.post("/auth/register", json={"username": "taken", "password": PASSWORD})
    result = app.test_cli_runner().invoke(
        args=["create-banker", "taken", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 1 and "taken" in result.output


def test_run_py_refuses_to_start_in_unsafe_production(monkeypatch, capsys):
    import run

    class Unsafe(Config):
        APP_ENV = "production"
        JWT_SECRET_KEY = None

    monkeypatch.setattr(run, "Config", Unsafe)
    assert run.main() == 1
    assert capsys.readouterr().err == (
        "error: JWT_SECRET_KEY must be set to at least 32 bytes when "
        "APP_ENV=production\n"
    )


def test_run_py_prints_url_warning_and_demo_banker(monkeypatch, capsys):
    import run
    from app.serving import ProblemRequestHandler

    class Dev(TestConfig):
        PORT = 5999

    started = {}
    monkeypatch.setattr(run, "Config", Dev)
    monkeypatch.setattr("flask.Flask.run", lambda self, **kw: started.update(kw))
    assert run.main() == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:5999/" in out
    assert "in-memory" in out
    assert "Demo banker: username 'banker'" in out
    assert started == {
        "host": "127.0.0.1",
        "port": 5999,
        "threaded": True,
        "request_handler": ProblemRequestHandler,
    }


def test_id_fast_path_answers_like_a_full_scan(db):
    from bson import ObjectId

    accounts = db["scratch"]
    assert accounts._collection._iter_documents._id_fast_path is True
    ids = [ObjectId() for _ in range(5)]
    accounts.insert_many(
        [{"_id": oid, "n": i, "tags": []} for i, oid in enumerate(ids)]
    )
    assert accounts.find_one({"_id": ids[2]})["n"] == 2
    assert accounts.find_one({"_id": ids[2], "n": 3}) is None
    assert accounts.find_one({"_id": ObjectId()}) is None
    assert accounts.count_documents({"_id": ids[1]}) == 1
    updated = accounts.find_one_and_update(
        {"_id": ids[3], "tags": {"$ne": "x"}},
        {"$push": {"tags": "x"}},
        return_document=True,
    )
    assert updated["tags"] == ["x"]
    again = accounts.find_one_and_update(
        {"_id": ids[3], "tags": {"$ne": "x"}}, {"$push": {"tags": "x"}}
    )
    assert again is None
    assert accounts.update_one({"_id": ids[4]}, {"$set": {"n": 40}}).modified_count == 1
    assert [d["n"] for d in accounts.find({"_id": {"$in": ids[:2]}})] == [0, 1]
    accounts.delete_one({"_id": ids[0]})
    assert accounts.find_one({"_id": ids[0]}) is None
    assert accounts.count_documents({}) == 4


@pytest.mark.parametrize(
    "settings, reason",
    [
        ({"BOOTSTRAP_BANKER_USERNAME": "boss"}, "or neither"),
        ({"BOOTSTRAP_BANKER_PASSWORD": PASSWORD}, "or neither"),
        (
            {"BOOTSTRAP_BANKER_USERNAME": "x", "BOOTSTRAP_BANKER_PASSWORD": PASSWORD},
            "username",
        ),
        (
            {"BOOTSTRAP_BANKER_USERNAME": "boss", "BOOTSTRAP_BANKER_PASSWORD": "short"},
            "password",
        ),
    ],
)
def test_bad_bootstrap_settings_refuse_to_start_in_one_line(settings, reason):
    with pytest.raises(ConfigError) as error:
        build(**settings)
    assert reason in str(error.value) and "\n" not in str(error.value)
    assert PASSWORD not in str(error.value)


def test_bootstrap_race_with_another_worker_is_harmless(monkeypatch):
    from app.models.user import UserModel

    client = memory_client()
    config = type(
        "Boot",
        (TestConfig,),
        {"BOOTSTRAP_BANKER_USERNAME": "boss", "BOOTSTRAP_BANKER_PASSWORD": PASSWORD},
    )
    create_app(config, mongo_client=client)
    # The second worker's look-up missed the first worker's insert.
    monkeypatch.setattr(UserModel, "find_by_username", lambda self, name: None)
    app = create_app(config, mongo_client=client)
    assert app.extensions["mongo_db"]["users"].count_documents({}) == 1


def test_memory_backend_emulates_a_ttl_index(db, monkeypatch):
    """Expired documents go at the next call after the purge interval, as on a
    real server; mongomock's own TTL (a scan on every access) is not used."""
    from app import db as db_module

    keys = db["idempotency_keys"]
    past = datetime.now(UTC) - timedelta(seconds=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    keys.insert_many(
        [{"_id": "old", "expires_at": past}, {"_id": "new", "expires_at": future}]
    )
    info = keys.index_information()
    assert all("expireAfterSeconds" not in spec for spec in info.values())
    assert keys.count_documents({}) == 2  # within the purge interval: kept
    monkeypatch.setattr(db_module, "TTL_PURGE_SECONDS", 0.0)
    keys._next_purge = 0.0
    assert [d["_id"] for d in keys.find({})] == ["new"]


def test_idempotency_keys_must_be_kept_a_day():
    class ShortKeys(TestConfig):
        IDEMPOTENCY_KEY_TTL = timedelta(hours=23)

    with pytest.raises(ConfigError) as error:
        create_app(ShortKeys, mongo_client=memory_client())
    assert "IDEMPOTENCY_KEY_TTL" in str(error.value)


def test_start_up_recovery_can_be_switched_off(app, client, customer):
    from app.db import get_db
    from tests import faults

    faulty = faults.install(app, crash_after=1)  # committed, never journalled
    with pytest.raises(faults.Crash):
        client.post("/deposit", headers=customer["headers"], json={"amount": 1})
    faults.uninstall(app, faulty)

    class NoRecovery(TestConfig):
        LEDGER_PENDING_TIMEOUT = timedelta(0)
        LEDGER_RECOVER_ON_START = False

    restarted = create_app(NoRecovery, mongo_client=app.extensions["mongo_client"])
    with restarted.app_context():
        (account,) = get_db()["accounts"].find({"pending_entries.id": {"$exists": 1}})
        assert get_db()["transactions"].count_documents(
            {"_id": account["pending_entries"][0]["id"]}
        ) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"limit": 3},
        {"sort": [("n", -1)], "limit": 4},
        {"sort": [("g", 1), ("n", -1)]},
        {"sort": [("n", 1)], "skip": 2, "limit": 5},
        {"projection": {"n": 1}, "skip": 7},
        {"filter": {"g": 1}, "sort": [("n", -1)], "limit": 2},
    ],
)
def test_cursor_reading_matches_mongomock_exactly(db, kwargs):
    """The adapter's one-pass cursor read returns what mongomock's cursor does."""
    db["scratch"].insert_many(
        [
            {"n": i, "g": i % 3, "at": datetime(2026, 1, 1, tzinfo=UTC)}
            for i in range(12)
        ]
    )
    raw = db["scratch"]._collection  # mongomock itself, without the adapter
    expected = list(raw.find(**kwargs))
    assert db["scratch"].find(**kwargs) == expected
    for doc in db["scratch"].find(**kwargs):
        assert "at" not in doc or doc["at"].tzinfo is not None
