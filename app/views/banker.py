"""Blueprint banker: every account and every transaction, and administration."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import banker as controller
from app.controllers import jobs as jobs_controller
from app.controllers import ledger as ledger_controller
from app.http import json_body, query_args
from app.openapi import operation
from app.schemas.account import (
    BankerAccountArgsSchema,
    BankerAccountPageSchema,
    BankerAccountSchema,
)
from app.schemas.admin import (
    BankerOpenAccountSchema,
    BankerUserSchema,
    CreateStaffSchema,
    SetAccountStatusSchema,
    SetUserActiveSchema,
    StaffResponseSchema,
)
from app.schemas.auth import RegisterSchema, RegistrationSchema
from app.schemas.ops import (
    JobListSchema,
    JobRunSchema,
    LedgerReportSchema,
    LedgerSummarySchema,
)
from app.schemas.transaction import (
    BankerTransactionArgsSchema,
    BankerTransactionPageSchema,
)
from app.security import roles_required

bp = Blueprint(
    "banker",
    __name__,
    url_prefix="/banker",
    description="Every account and every transaction (roles banker and auditor), "
    "and their administration (role banker).",
)

# Administration is the bankers' alone: an auditor reads, and changes nothing.
ADMIN_FORBIDDEN = {
    403: "Valid token of a role other than banker, auditors included "
    "(`forbidden`), or of a disabled user (`account_disabled`)."
}
USERNAME_TAKEN = {409: "The username is taken (`username_taken`)."}


@bp.get("/accounts")
@operation(bp, 200, BankerAccountPageSchema, query=BankerAccountArgsSchema)
@roles_required("banker", "auditor")
def list_accounts():
    """List every account."""
    return controller.list_accounts(query_args()), 200


@bp.get("/transactions")
@operation(bp, 200, BankerTransactionPageSchema, query=BankerTransactionArgsSchema)
@roles_required("banker", "auditor")
def list_transactions():
    """List every transaction."""
    return controller.list_transactions(query_args()), 200


@bp.get("/ledger/check")
@operation(bp, 200, LedgerReportSchema)
@roles_required("banker", "auditor")
def check_ledger():
    """Reconcile every balance with the journal."""
    return ledger_controller.check_report(), 200


@bp.get("/ledger/summary")
@operation(bp, 200, LedgerSummarySchema)
@roles_required("banker", "auditor")
def ledger_summary():
    """Show the trial balance: customer accounts against the bank's own."""
    return ledger_controller.summary(), 200


@bp.post("/staff")
@operation(
    bp,
    201,
    StaffResponseSchema,
    body=CreateStaffSchema,
    errors={**ADMIN_FORBIDDEN, **USERNAME_TAKEN},
    example={"username": "audrey", "password": "correct horse battery",
             "role": "auditor"},
)  # fmt: skip
@roles_required("banker")
def create_staff():
    """Create a banker or an auditor."""
    return controller.create_staff(current_user, json_body()), 201


@bp.post("/customers")
@operation(
    bp,
    201,
    RegistrationSchema,
    body=RegisterSchema,
    errors={**ADMIN_FORBIDDEN, **USERNAME_TAKEN},
    example={"username": "alice", "password": "correct horse battery",
             "full_name": "Alice Example", "email": "alice@example.com"},
)  # fmt: skip
@roles_required("banker")
def create_customer():
    """Create a customer with a primary account, as registration does."""
    return controller.create_customer(current_user, json_body()), 201


@bp.post("/accounts")
@operation(
    bp,
    201,
    BankerAccountSchema,
    body=BankerOpenAccountSchema,
    errors={
        **ADMIN_FORBIDDEN,
        404: "No user has this username (`user_not_found`).",
        409: "The user is staff (`not_a_customer`), or the customer holds the "
        "most accounts allowed (`account_limit_reached`).",
    },
    example={"username": "alice", "kind": "savings"},
)
@roles_required("banker")
def open_account():
    """Open another account for a customer."""
    return controller.open_account(current_user, json_body()), 201


@bp.patch("/accounts/<account_number>")
@operation(
    bp,
    200,
    BankerAccountSchema,
    body=SetAccountStatusSchema,
    errors={
        **ADMIN_FORBIDDEN,
        404: "No such account (`account_not_found`).",
        409: "The account is closed and never reopens (`account_closed`), or "
        "closing it needs a zero balance and no movement in flight "
        "(`account_not_empty`).",
        503: "The database does not answer (`database_unavailable`) or the "
        "account kept changing (`ledger_busy`); nothing changed, retry.",
    },
    example={"status": "frozen"},
)
@roles_required("banker")
def set_account_status(account_number: str):
    """Freeze, unfreeze or close an account."""
    body = controller.set_account_status(current_user, account_number, json_body())
    return body, 200


@bp.patch("/users/<user_id>")
@operation(
    bp,
    200,
    BankerUserSchema,
    body=SetUserActiveSchema,
    errors={
        **ADMIN_FORBIDDEN,
        404: "No such user (`user_not_found`).",
        409: "A banker cannot disable themselves (`cannot_disable_self`), or a "
        "daily limit for a staff member (`not_a_customer`).",
    },
    example={"active": True, "daily_limit": "25000.00"},
)
@roles_required("banker")
def set_user_active(user_id: str):
    """Enable or disable a user (disabling ends their live sessions), and/or set
    a customer's daily limit."""
    return controller.set_user_active(current_user, user_id, json_body()), 200


@bp.get("/jobs")
@operation(bp, 200, JobListSchema)
@roles_required("banker", "auditor")
def list_jobs():
    """List the background jobs: last run, its outcome, and what is due now."""
    return jobs_controller.list_jobs(), 200


@bp.post("/jobs/<name>/run")
@operation(
    bp,
    200,
    JobRunSchema,
    errors={**ADMIN_FORBIDDEN, 404: "No job has that name (`job_not_found`)."},
)
@roles_required("banker")
def run_job(name: str):
    """Run one background job now, due or not; answer what it did."""
    return jobs_controller.run_job(name), 200
