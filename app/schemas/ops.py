"""Schemas for the operational routes: health and the ledger check."""

from marshmallow import Schema, fields

from app.schemas.common import Cents


class HealthSchema(Schema):
    """The API and its database answer."""

    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String(required=True, metadata={"example": "ok"})


class LedgerProblemSchema(Schema):
    """One discrepancy between a balance and the journal."""

    code = fields.String(
        required=True,
        metadata={
            "description": "balance_mismatch, negative_balance, history_break, "
            "sequence_mismatch, transfer_legs, transfer_unbalanced, "
            "stale_pending or orphan_hold.",
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
    accounts = fields.Integer(required=True, strict=True)
    entries = fields.Integer(required=True, strict=True)
    transfers = fields.Integer(required=True, strict=True)
    total_balance = Cents(required=True, attribute="total_balance_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})
    problems = fields.List(fields.Nested(LedgerProblemSchema), required=True)


health_schema = HealthSchema()
ledger_report_schema = LedgerReportSchema()
