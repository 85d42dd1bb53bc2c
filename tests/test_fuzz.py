"""Fuzz every documented operation with schemathesis (fixed seed, bounded).

Cases are generated from /openapi.json, both valid and invalid, and sent to
the WSGI app directly with a token of the role the operation needs. Each
answer must be no 5xx, a documented status, the documented content type and
headers, and a body that matches the documented schema.
"""

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from app.models.user import UserModel
from tests.conftest import PASSWORD, register
from tests.factories import auth_headers, fund, make_user
from tests.helpers import make_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # Beyond the document's own promises: invalid input is refused, a method
    # the path lacks is 405 with Allow, a secured operation needs its token.
    negative_data_rejection,
    unsupported_method,
    missing_required_header,
    ignored_auth,
]
MAX_EXAMPLES = 40


def make_fuzz_app():
    """One app for the whole run, with a funded customer and a banker."""
    app = make_app()
    client = app.test_client()
    customer = register(client, "fuzzy")
    register(client, "target")  # an account to transfer to
    fund(app, customer["account"]["account_number"], 10**9)
    banker = make_user(app, "fuzzbanker", PASSWORD, role="banker")
    refresh = client.post(
        "/auth/login", json={"username": "fuzzy", "password": PASSWORD}
    ).get_json()["refresh_token"]
    with app.app_context():
        app.config["FUZZ_CUSTOMER"] = UserModel().find_by_username("fuzzy")
    app.config["FUZZ_HEADERS"] = {
        "customer": customer["headers"],
        "banker": auth_headers(app, banker),
        "refresh": {"Authorization": f"Bearer {refresh}"},
    }
    return app


def headers_for(case) -> dict:
    """A token of the role the operation needs; logout gets a session of its own."""
    if case.path == "/auth/logout":
        # Logging out ends the session, so each case ends a fresh one (minted:
        # the change-password cases may have locked the password out).
        return auth_headers(FUZZ_APP, FUZZ_APP.config["FUZZ_CUSTOMER"])
    if case.path == "/auth/refresh":
        role = "refresh"
    elif case.path.startswith(("/banker/", "/audit/")):
        role = "banker"
    else:
        role = "customer"
    return dict(FUZZ_APP.config["FUZZ_HEADERS"][role])


# Built at collection: schemathesis makes one test per operation from it.
FUZZ_APP = make_fuzz_app()
schema = schemathesis.openapi.from_wsgi("/openapi.json", FUZZ_APP)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_answers_as_documented(case):
    case.call_and_validate(headers=headers_for(case), checks=CHECKS)
