"""The job runner over HTTP and the CLI: list the jobs, run one, run the due."""

from flask import current_app

from app.controllers import approval_rules, flag_rules, spending_rules
from app.controllers.notifications import notify_rules, send_policy, senders
from app.core import jobs
from app.core.jobs import JobContext
from app.models import utc_now
from app.schemas.ops import JobListSchema, JobRunSchema

_job_list_schema = JobListSchema()
_job_run_schema = JobRunSchema()


def context(now=None) -> JobContext:
    """The jobs' context from the settings, at ``now`` (default: the clock)."""
    return JobContext(
        now=now or utc_now(),
        zone=current_app.config["BANK_TIMEZONE"],
        spending=spending_rules(),
        flags=flag_rules(),
        approvals=approval_rules(),
        notify=notify_rules(),
        sending=send_policy(),
        senders=senders(),
        report_recipients=current_app.config["REPORT_RECIPIENTS"],
    )


def list_jobs() -> dict:
    """Return every job with its last run and what is due."""
    return _job_list_schema.dump({"items": jobs.list_jobs(context())})


def run_job(name: str) -> dict:
    """Run one job now; return its summary.

    :raises JobNotFound: no job has that name.
    """
    outcome = jobs.run_job(name, context())
    return _job_run_schema.dump(
        {"name": name, "done": outcome.done, "failed": outcome.failed}
    )


def run_due(now=None) -> dict:
    """Run every job with work due; return {name: summary, or None if not due}.

    A job that stopped with an error has ``{"error": <its type>}``.
    """
    summaries: dict = {}
    for name, outcome in jobs.run_due(context(now)).items():
        if outcome is None:
            summaries[name] = None
        elif isinstance(outcome, Exception):
            summaries[name] = {"error": type(outcome).__name__}
        else:
            summaries[name] = {"done": outcome.done, "failed": outcome.failed}
    return summaries
