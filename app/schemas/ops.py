"""Schemas for the operational routes: health, the ledger check and summary."""

from marshmallow import Schema, fields

from app.schemas.common import Cents, UtcDateTime


class HealthSchema(Schema):
    """The API and its database answer."""

    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String(required=True, metadata={"example": "ok"})


class LivenessSchema(Schema):
    """The process answers (the database is not asked)."""

    status = fields.String(required=True, metadata={"example": "ok"})


class LedgerProblemSchema(Schema):
    """One discrepancy between a balance and the journal."""

    code = fields.String(
        required=True,
        metadata={
            "description": "balance_mismatch, negative_balance, history_break, "
            "sequence_mismatch, transfer_legs, transfer_unbalanced, "
            "stale_pending, orphan_hold or books_unbalanced.",
            "example": "balance_mismatch",
        },
    )
    detail = fields.String(required=True)
    account_number = fields.String()
    entry_id = fields.String()
    transfer_id = fields.String()


class LedgerReportSchema(Schema):
    """The reconciliation of every balance with the journal."""

    ok = fields.Boolean(required=True)
    balanced = fields.Boolean(
        required=True,
        metadata={"description": "Customers plus system accounts sum to zero."},
    )
    accounts = fields.Integer(required=True, strict=True)
    entries = fields.Integer(required=True, strict=True)
    transfers = fields.Integer(required=True, strict=True)
    total_balance = Cents(required=True, attribute="total_balance_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})
    problems = fields.List(fields.Nested(LedgerProblemSchema), required=True)


class SystemAccountSchema(Schema):
    """One of the bank's own accounts, derived from the journal."""

    name = fields.String(required=True, metadata={"example": "cash"})
    balance = Cents(required=True, attribute="balance_cents")


class LedgerSummarySchema(Schema):
    """The trial balance: customers against the bank's own side."""

    customer_total = Cents(required=True, attribute="customer_total_cents")
    system_accounts = fields.List(fields.Nested(SystemAccountSchema), required=True)
    total = Cents(
        required=True,
        attribute="total_cents",
        metadata={"description": "Always 0.00 when the books balance."},
    )
    currency = fields.String(required=True, metadata={"example": "USD"})


health_schema = HealthSchema()
liveness_schema = LivenessSchema()
ledger_summary_schema = LedgerSummarySchema()
ledger_report_schema = LedgerReportSchema()


class JobOutcomeSchema(Schema):
    """What a job's run did."""

    done = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    error = fields.String(
        allow_none=True,
        dump_default=None,
        metadata={"description": "The exception's type when the run stopped."},
    )


class JobSchema(Schema):
    """A background job: its last run and how much of it is due now."""

    name = fields.String(required=True, metadata={"example": "scheduled_transfers"})
    summary = fields.String(required=True)
    last_run_at = UtcDateTime(required=True, allow_none=True)
    last_outcome = fields.Nested(JobOutcomeSchema, required=True, allow_none=True)
    due = fields.Integer(required=True)


class JobListSchema(Schema):
    """GET /banker/jobs."""

    items = fields.List(fields.Nested(JobSchema), required=True)


class JobRunSchema(Schema):
    """POST /banker/jobs/{name}/run: what the run did."""

    name = fields.String(required=True)
    done = fields.Integer(required=True)
    failed = fields.Integer(required=True)
