"""The OpenAPI document covers every route, and the docs pages are self-hosted."""

import re

import pytest

from app.openapi import AUTHENTICATED, WITH_BODY

# Routes that serve the documentation itself rather than the API.
DOC_ENDPOINTS = {
    "static",
    "docs.openapi_json",
    "docs.swagger_ui",
    "docs.redoc",
    "docs.static",
    # The web front end's page and assets (app/views/web.py): HTML, not API.
    "web.shell",
    "web.asset",
}
PUBLIC = {
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/auth/password-reset"),
    ("post", "/auth/password-reset/confirm"),
    ("get", "/health"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
}
# Public unless METRICS_TOKEN is set: then its own bearer token, not a login's.
OPTIONAL_TOKEN = {("get", "/metrics"): [{}, {"metricsToken": []}]}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def api_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, from its URL map."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOC_ENDPOINTS:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), openapi_path(rule.rule)))
    return routes


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_route_is_documented_and_nothing_else(app, spec):
    assert set(operations(spec)) == api_routes(app)
    assert spec["openapi"].startswith("3.")


MAKER_CHECKER = {("post", "/withdraw"), ("post", "/transfers")}


def test_every_operation_documents_its_success_and_errors(spec):
    for key, operation in operations(spec).items():
        responses = {
            int(status): body for status, body in operation["responses"].items()
        }
        assert "default" not in operation["responses"], key
        successes = [status for status in responses if status < 400]
        # A large withdrawal or transfer to others waits for a banker: 202.
        assert len(successes) == (2 if key in MAKER_CHECKER else 1), key
        assert {500, 503} <= set(responses), key
        for status, body in responses.items():
            if status >= 400:
                content = body["content"]["application/problem+json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
        if key in PUBLIC:
            assert "security" not in operation, key
        elif key in OPTIONAL_TOKEN:
            assert operation["security"] == OPTIONAL_TOKEN[key], key
            assert 401 in responses, key
        else:
            assert operation["security"] == [{"bearerAuth": []}], key
            assert set(AUTHENTICATED) <= set(responses), key
        if "requestBody" in operation:
            assert set(WITH_BODY) <= set(responses), key
            assert "example" in operation["requestBody"]["content"]["application/json"]
        assert operation["summary"], key


def test_money_movements_document_the_idempotency_key(spec):
    ops = operations(spec)
    for path in ("/deposit", "/withdraw", "/transfers"):
        operation = ops[("post", path)]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation[
            "parameters"
        ]
        assert "Idempotency-Replayed" in operation["responses"]["201"]["headers"]
        assert {"404", "409", "422", "503"} <= set(operation["responses"])
        if ("post", path) in MAKER_CHECKER:
            accepted = operation["responses"]["202"]
            assert "Idempotency-Replayed" in accepted["headers"]
            assert accepted["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ApprovalResponse"
            }
    header = spec["components"]["parameters"]["IdempotencyKey"]
    assert header["in"] == "header" and header["schema"]["maxLength"] == 255


def test_lists_document_pagination_and_filters(spec):
    ops = operations(spec)
    names = {p["name"] for p in ops[("get", "/transactions")]["parameters"]}
    assert {"limit", "cursor", "type", "from", "to", "account_number"} <= names
    names = {p["name"] for p in ops[("get", "/banker/accounts")]["parameters"]}
    assert {"limit", "cursor", "q", "status"} <= names
    page = spec["components"]["schemas"]["TransactionPage"]
    assert page["properties"]["next_cursor"]["nullable"] is True
    assert set(page["required"]) == {"items", "next_cursor"}


def test_money_and_time_fields_have_their_wire_format(spec):
    schemas = spec["components"]["schemas"]
    balance = schemas["Balance"]["properties"]["balance"]
    assert balance["type"] == "string" and re.fullmatch(balance["pattern"], "0.30")
    assert not re.fullmatch(balance["pattern"], "0.3")
    amount = schemas["Amount"]["properties"]["amount"]
    kinds = {choice["type"] for choice in amount["oneOf"]}
    assert kinds == {"string", "number"}
    created = schemas["Transaction"]["properties"]["created_at"]
    assert created["format"] == "date-time"
    assert "password" not in schemas["User"]["properties"]
    assert schemas["Register"]["properties"]["password"]["writeOnly"] is True
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    for source in sources:
        assert source.startswith("/"), source
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.get_data()) > 1000, source


def test_docs_pages_point_at_the_document(client):
    assert "/openapi.json" in client.get("/docs").get_data(as_text=True)
    assert "/openapi.json" in client.get("/redoc").get_data(as_text=True)


def test_probes_and_metrics_are_documented(spec):
    ops = operations(spec)
    live = ops[("get", "/health/live")]["responses"]["200"]
    assert live["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Liveness"
    }
    ready = ops[("get", "/health/ready")]["responses"]
    assert {"200", "503"} <= set(ready)
    metrics = ops[("get", "/metrics")]["responses"]
    assert metrics["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert {"401", "404"} <= set(metrics)
    scheme = spec["components"]["securitySchemes"]["metricsToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"


def test_reads_of_the_callers_profile_document_no_rate_limit(spec):
    ops = operations(spec)
    for key in (("get", "/auth/me"), ("get", "/auth/logins")):
        assert "429" not in ops[key]["responses"], key
    for path in ("/auth/login", "/auth/register", "/auth/refresh"):
        assert "429" in ops[("post", path)]["responses"], path
