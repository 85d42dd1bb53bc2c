"""The job runner: every piece of background work, run when due, safe in parallel.

Each job is a name, what it does and how much of it is due. ``run_due`` runs
them all (``flask jobs run-due`` from cron, the loop inside ``python run.py``,
``POST /banker/jobs/{name}/run`` one at a time). No job relies on being the
only runner: what must happen once is guarded where it happens (a standing
order's occurrence is paid under a claim keyed by the occurrence; recovery and
the audit feed are idempotent), so two runners at once cost some duplicated
reading, never a duplicated effect, and a runner that was down catches up by
doing what is due when it comes back. The clock is passed in (``now``), so
tests run the jobs on any date.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.core import (
    approvals,
    limits,
    loans,
    notification_events,
    notification_sending,
    password_reset,
    recovery,
    reports,
    reviews,
    roundups,
    scheduled_transfers,
)
from app.core.approvals import ApprovalRules
from app.core.errors import JobNotFound
from app.core.idempotency import settle_stale_keys
from app.core.notification_events import NotifyRules
from app.core.notification_sending import Sender, SendPolicy
from app.core.reviews import FlagRules
from app.core.spending import SpendingRules
from app.models import utc_now
from app.models.daily_usage import DailyUsageModel
from app.models.idempotency import IdempotencyModel
from app.models.job import JobModel

log = logging.getLogger("app.jobs")


@dataclass(frozen=True)
class JobContext:
    """What a job needs: the time it runs at, and the bank's rules."""

    now: datetime
    zone: str  # BANK_TIMEZONE
    spending: SpendingRules
    flags: FlagRules  # FLAG_AMOUNT, FLAG_VELOCITY_COUNT
    # APPROVAL_THRESHOLD, APPROVAL_TTL_SECONDS: a standing order's large
    # occurrence waits for a banker, as the same transfer by hand does.
    approvals: ApprovalRules
    # The notifications job: what to notify, how to retry, each channel's sender.
    notify: NotifyRules | None = None
    sending: SendPolicy | None = None
    senders: Mapping[str, Sender] = field(default_factory=dict)
    # The monthly report's addresses (REPORT_RECIPIENTS; empty: no mail).
    report_recipients: tuple[str, ...] = ()

    @property
    def stale_after(self) -> timedelta:
        """LEDGER_PENDING_TIMEOUT: when work in flight counts as abandoned."""
        return self.spending.stale_after


@dataclass(frozen=True)
class Outcome:
    """What one run of a job did: pieces done, pieces that failed."""

    done: int
    failed: int


@dataclass(frozen=True)
class Job:
    """A background job: its name, what it does, and how much of it is due."""

    name: str
    summary: str
    run: Callable[[JobContext], Outcome]
    due: Callable[[JobContext], int]
    # Run on every pass even when ``due`` says 0 (it cannot count its work cheaply).
    always: bool = False


def _pay_scheduled(context: JobContext) -> Outcome:
    paid = scheduled_transfers.pay_due(context.now, context.zone, context.approvals)
    return Outcome(done=paid.done, failed=paid.failed)


def _recover(context: JobContext) -> Outcome:
    timeout = context.stale_after
    counts = recovery.recover(timeout)
    keys = settle_stale_keys(timeout)
    judged = limits.settle_stale(timeout)
    resets = password_reset.finish_stale(timeout)
    done = counts["finished"] + counts["aborted"] + counts["released"] + keys + judged
    done += resets
    return Outcome(done=done, failed=counts["failed"])


def _stale_work(context: JobContext) -> int:
    cutoff = utc_now() - context.stale_after
    resets = password_reset.count_stale(context.stale_after)
    return (
        len(IdempotencyModel().stale(cutoff))
        + len(DailyUsageModel().stale(cutoff))
        + resets
    )


def _round_ups(context: JobContext) -> Outcome:
    made = roundups.catch_up(
        recovery.feed_overlap(context.stale_after),
        currency=context.spending.currency,
        stale_after=context.stale_after,
    )
    return Outcome(done=made, failed=0)


def _loan_rules(context: JobContext) -> loans.LoanRules:
    return loans.LoanRules(
        currency=context.spending.currency,
        zone=context.zone,
        stale_after=context.stale_after,
    )


def _loans(context: JobContext) -> Outcome:
    done, failed = loans.charge_due(context.now, rules=_loan_rules(context))
    return Outcome(done=done, failed=failed)


def _audit(context: JobContext) -> Outcome:
    return Outcome(done=recovery.audit_movements(context.stale_after), failed=0)


def _approvals(context: JobContext) -> Outcome:
    run = approvals.run_job(context.now, context.spending)
    return Outcome(done=run.done, failed=run.failed)


def _flag(context: JobContext) -> Outcome:
    overlap = recovery.feed_overlap(context.stale_after)
    opened = reviews.catch_up(overlap, context.flags)
    return Outcome(done=opened + reviews.finish_closes(), failed=0)


def _monthly_report(context: JobContext) -> Outcome:
    queued = reports.mail_monthly_report(
        context.now,
        context.zone,
        context.report_recipients,
        context.spending.currency,
    )
    return Outcome(done=queued, failed=0)


def _notify(context: JobContext) -> Outcome:
    # The sweeps read the records up to the real clock (a feed moved into the
    # future would pass over what is written meanwhile); overdue instalments
    # and the sends are judged at the job's time.
    # A sweep that stops (the database, a record it cannot read) must not hold
    # back the sends of what is queued already: it is counted and logged.
    queued = stopped = 0
    if context.notify is not None:
        try:
            queued = notification_events.derive(context.notify, day_of=context.now)
        except Exception:  # noqa: BLE001 - the next run sweeps again
            log.exception("notifications: deriving the events stopped")
            stopped = 1
    if context.sending is None:
        return Outcome(done=queued, failed=stopped)
    sent = notification_sending.send_due(context.senders, context.sending, context.now)
    return Outcome(done=queued + sent.sent, failed=sent.failed + stopped)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "scheduled_transfers",
            "Pay every standing-order occurrence due up to today.",
            _pay_scheduled,
            lambda context: scheduled_transfers.due_count(context.now, context.zone),
        ),
        Job(
            "ledger_recovery",
            "Finish or undo movements, keys and daily-limit reservations, and "
            "finish password resets, whose request stopped.",
            _recover,
            _stale_work,
        ),
        Job(
            "round_ups",
            "Make the round-ups of spending whose request stopped before them.",
            _round_ups,
            lambda context: 0,
            always=True,
        ),
        Job(
            "loan_interest",
            "Charge each loan's interest on its due dates; finish disbursements "
            "and closes whose request stopped, and audit the loan decisions "
            "whose request stopped before their entry.",
            _loans,
            lambda context: loans.due_count(context.now, rules=_loan_rules(context)),
            always=True,
        ),
        Job(
            "audit_movements",
            "Derive the audit entries of the movements posted since the last run.",
            _audit,
            lambda context: 0,
            always=True,
        ),
        Job(
            "flag_movements",
            "Open a review of each movement posted since the last run that a "
            "flag rule fires on; finish the freezes and audit entries of closes "
            "whose request stopped.",
            _flag,
            lambda context: 0,
            always=True,
        ),
        Job(
            "approvals",
            "Expire approvals past APPROVAL_TTL_SECONDS, finish those whose "
            "approver stopped, release reservations left behind, audit the "
            "decisions whose request stopped before their entry.",
            _approvals,
            lambda context: approvals.due_count(context.now),
            always=True,
        ),
        # Before the notifications, so a report queued here is sent in the
        # same pass.
        Job(
            "monthly_report",
            "Mail the previous month's report (CSV attached) once to each "
            "REPORT_RECIPIENTS address, on or after the 1st.",
            _monthly_report,
            lambda context: reports.report_due(
                context.now, context.zone, context.report_recipients
            ),
        ),
        Job(
            "notifications",
            "Queue the notifications of the events recorded since the last run, "
            "then send every message due (retried with backoff, dead after "
            "NOTIFY_MAX_ATTEMPTS).",
            _notify,
            lambda context: notification_sending.due_count(context.now),
            always=True,
        ),
    )
}


def run_job(name: str, context: JobContext) -> Outcome:
    """Run one job now, due or not, and keep its outcome as its last run.

    :raises JobNotFound: no job has that name.
    """
    job = JOBS.get(name)
    if job is None:
        raise JobNotFound()
    started = utc_now()
    try:
        outcome = job.run(context)
    except Exception as error:
        JobModel().record(
            name, started, {"done": 0, "failed": 0, "error": type(error).__name__}
        )
        raise
    JobModel().record(
        name, started, {"done": outcome.done, "failed": outcome.failed, "error": None}
    )
    return outcome


def run_due(context: JobContext) -> dict[str, Outcome | Exception | None]:
    """Run every job with work due; return each job's outcome.

    None: nothing was due. An exception: the job stopped with it (logged); the
    jobs after it still run.
    """
    outcomes: dict[str, Outcome | Exception | None] = {}
    for name, job in JOBS.items():
        outcomes[name] = None
        try:
            if job.due(context) == 0 and not job.always:
                continue
            outcomes[name] = run_job(name, context)
        except Exception as error:  # noqa: BLE001 - one job must not stop the rest
            log.exception("job %s failed", name)
            outcomes[name] = error
    return outcomes


def list_jobs(context: JobContext) -> list[dict]:
    """Return every job with its last run and how much of it is due now."""
    last = JobModel().last_runs()
    return [
        {
            "name": name,
            "summary": job.summary,
            "last_run_at": last.get(name, {}).get("last_run_at"),
            "last_outcome": last.get(name, {}).get("last_outcome"),
            "due": job.due(context),
        }
        for name, job in JOBS.items()
    ]
