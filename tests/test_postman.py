"""The Postman collection and the OpenAPI document describe the same API."""

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import limits

from app import create_app
from app.config import TestConfig, read_settings
from app.db import memory_client

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "postman" / "bank.postman_collection.json"
ENVIRONMENT = ROOT / "postman" / "local.postman_environment.json"
V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
METHODS = {"get", "post", "put", "patch", "delete"}


def requests_in(items: list, folder: str = "") -> list[tuple[str, dict]]:
    found = []
    for item in items:
        if "item" in item:
            found += requests_in(item["item"], item["name"])
        else:
            found.append((folder, item))
    return found


def load_requests() -> list[tuple[str, dict]]:
    collection = json.loads(COLLECTION.read_text())
    assert collection["info"]["schema"] == V21
    return requests_in(collection["item"])


def target(item: dict) -> tuple[str, str, dict]:
    """(method, path, query) of a request, with Postman variables left in."""
    url = item["request"]["url"]
    raw = url["raw"] if isinstance(url, dict) else url
    assert raw.startswith("{{baseUrl}}/"), raw
    parts = urlsplit("http://host" + raw.removeprefix("{{baseUrl}}"))
    return item["request"]["method"].lower(), parts.path, dict(parse_qsl(parts.query))


def matcher(template: str) -> re.Pattern:
    pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template))
    return re.compile(pattern + r"\Z")


def documented(spec: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def operation_for(spec: dict, method: str, path: str) -> tuple[str, dict] | None:
    for (op_method, template), operation in documented(spec).items():
        if op_method == method and matcher(template).match(path):
            return template, operation
    return None


def expected_statuses(item: dict) -> set[int]:
    script = "\n".join(
        "\n".join(event["script"]["exec"])
        for event in item.get("event", [])
        if event["listen"] == "test"
    )
    return {
        int(code)
        for code in re.findall(r"expect(?:Json|Problem|Empty|File)\((\d{3})", script)
    }


def test_collection_covers_every_documented_operation(client):
    spec = client.get("/openapi.json").get_json()
    seen = set()
    for _folder, item in load_requests():
        method, path, _query = target(item)
        found = operation_for(spec, method, path)
        if found:
            seen.add((method, found[0]))
    assert seen == set(documented(spec))


def test_collection_sends_nothing_undocumented(client):
    """Only probes of 404/405 may leave the document, and only as error cases."""
    spec = client.get("/openapi.json").get_json()
    for folder, item in load_requests():
        method, path, query = target(item)
        found = operation_for(spec, method, path)
        statuses = expected_statuses(item)
        assert statuses, f"{item['name']}: no status check"
        if found is None:
            assert folder == "Error cases", item["name"]
            assert statuses <= {404, 405}, item["name"]
            continue
        template, operation = found
        names = {p["name"] for p in operation.get("parameters", []) if "name" in p}
        assert set(query) <= names, (item["name"], set(query) - names)
        documented_statuses = {int(code) for code in operation["responses"]}
        assert statuses <= documented_statuses, (item["name"], template)


def test_every_request_has_tests_and_bodies_where_needed(client):
    spec = client.get("/openapi.json").get_json()
    for _folder, item in load_requests():
        tests = [e for e in item.get("event", []) if e["listen"] == "test"]
        assert tests and "pm.test(" in "\n".join(tests[0]["script"]["exec"])
        method, path, _query = target(item)
        found = operation_for(spec, method, path)
        if found and "requestBody" in found[1]:
            assert item["request"].get("body", {}).get("raw"), item["name"]


def test_environment_points_at_the_local_server():
    environment = json.loads(ENVIRONMENT.read_text())
    values = {v["key"]: v["value"] for v in environment["values"]}
    assert values["baseUrl"] == "http://127.0.0.1:5000"
    assert values["bankerUsername"] and values["bankerPassword"]


class OneCredentialCall(TestConfig):
    """The credential budget on, one call a day: the second call shows a route."""

    RATELIMIT_ENABLED = True
    RATELIMIT_AUTH = "1 per day"


def credential_operations(spec: dict) -> set[tuple[str, str]]:
    """The documented operations that spend RATELIMIT_AUTH, found by spending it:
    after one call from an address, each of them answers that address 429."""
    client = create_app(OneCredentialCall, mongo_client=memory_client()).test_client()
    here = {"environ_base": {"REMOTE_ADDR": "192.0.2.30"}}
    assert client.post("/auth/login", json={}, **here).status_code == 422
    spending = set()
    for method, template in documented(spec):
        path = re.sub(r"\{[a-z_]+\}", "000000000000000000000000", template)
        response = client.open(path, method=method.upper(), **here)
        if response.status_code == 429:
            assert response.get_json()["code"] == "rate_limited", template
            spending.add((method, template))
    return spending


def test_one_run_spends_at_most_half_the_credential_budget(client):
    """Two runs in a row against one server fit RATELIMIT_AUTH's default (one
    budget per address shared by every credential route), so a run met no 429."""
    default = read_settings({})["RATELIMIT_AUTH"]
    budget = min(limit.amount for limit in limits.parse_many(default))
    spec = client.get("/openapi.json").get_json()
    spending = credential_operations(spec)
    # The probe sees the budget: the login and the reset routes spend it.
    assert {("post", "/auth/login"), ("post", "/auth/password-reset")} <= spending
    calls = []
    for folder, item in load_requests():
        method, path, _query = target(item)
        found = operation_for(spec, method, path)
        if found and (method, found[0]) in spending:
            calls.append(f"{folder} / {item['name']}")
    assert calls, "the collection logs in somewhere"
    assert 2 * len(calls) <= budget, (
        f"one run makes {len(calls)} credential calls, more than half of "
        f"RATELIMIT_AUTH={default!r}: reuse a token or customer instead",
        calls,
    )
