"""Password reset by a one-time code sent to the user's email, else phone.

The rules (OWASP's Forgot Password cheat sheet):

- **Nothing to learn from asking.** A request answers the same, and does the
  same work, whether the username exists, is disabled, has an email, a phone
  or neither: a code is always made and hashed, the username's request
  document is always written, and where no message is queued a write of the
  same kind stands in for it (one look-up, two writes, one audit entry on
  every path). A confirmation likewise: one HMAC, one password hash, one
  look-up, one guarded update, one ``$inc``, one audit entry, whatever is wrong.
- **Nothing changes until a valid code arrives.** A request locks nothing,
  changes no password and ends no session; it only replaces the username's
  previous request (whose code stops working).
- **Codes.** 8 digits from ``secrets``, alive 15 minutes, good once, dead
  after 5 wrong tries; every refusal is the same :class:`InvalidResetCode`.
  Stored only as HMAC-SHA256 under a key derived from the server's
  JWT_SECRET_KEY (:func:`code_hash`): 10^8 codes are brute-forced from a
  plain SHA-256 in well under a second, and a slow password hash (scrypt)
  only slows that down while needing a salt per request, so the code could
  no longer be matched by the single guarded update that takes it. Without
  the key, a leaked database gives no code away; whoever holds the key can
  mint tokens anyway.
- **A reset.** Taking the code is one guarded update (:meth:`consume`), which
  also stores the new password's hash: of two confirmations with the right
  code exactly one succeeds. Then the password is written and every session
  ended (one update guarded by the session cut-off as read), the username's
  login lockout cleared, the ``password_reset`` audit entry appended once
  (the notifications sweep tells the user from it), and the request deleted.
  A crash after the code was taken leaves a consumed request holding the new
  password: the recovery (:func:`finish_stale`, in the ``ledger_recovery``
  job) finishes it after LEDGER_PENDING_TIMEOUT with the same idempotent
  steps, so the user is never left with a spent code and the old password
  kept without being told: the password they chose takes effect, and the
  audit entry (so the notification) follows. A new request for the username
  cannot replace a consumed one meanwhile.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from app.core import notifications
from app.core.errors import InvalidResetCode
from app.models import utc_now
from app.models.audit import AuditModel
from app.models.password_reset import PasswordResetModel
from app.models.session import LoginThrottleModel
from app.models.user import UserModel
from app.passwords import hash_password

CODE_DIGITS = 8
CODE_LIFETIME = timedelta(minutes=15)
MAX_TRIES = 5
# The notification's event, and the audit actions of the three outcomes.
EVENT = "password_reset_code"
REQUEST_ACTION = "password_reset_request"
FAILURE_ACTION = "password_reset_failure"
RESET_ACTION = "password_reset"
# Domain separation: the code key is not the token-signing key itself.
_KEY_LABEL = b"bank/password-reset-code/v1"
TITLE = "Your password reset code"


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit trail."""

    ip: str | None = None
    request_id: str | None = None


def new_code() -> str:
    """Return a fresh code: 8 digits from the system's CSPRNG, zero-padded."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret: str, username: str, code: str) -> str:
    """Return the HMAC-SHA256 a code is stored and matched as.

    Bound to the username, so one code means a different hash for each user.
    """
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    message = f"{username}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _channel(user: dict | None) -> str | None:
    """Where a code for ``user`` goes: email, else sms, else nowhere."""
    if user is None or not user.get("active", True):
        return None
    if user.get("email"):
        return "email"
    return "sms" if user.get("phone") else None


def _body(code: str) -> str:
    minutes = CODE_LIFETIME // timedelta(minutes=1)
    return (
        f"Your password reset code is {code}. It works once, within {minutes} "
        "minutes. If you did not ask for it, ignore this message: your password "
        "stays as it is."
    )


def request_reset(
    username: str, *, secret: str, origin: Origin, now: datetime | None = None
) -> None:
    """Send a reset code to the user's email, else phone; reveal nothing.

    Same work and no error on every path: an unknown, disabled or unreachable
    user gets a request no one can confirm and no message. ``secret`` is the
    server key codes are hashed under (JWT_SECRET_KEY).
    """
    now = now or utc_now()
    code = new_code()
    digest = code_hash(secret, username, code)
    user = UserModel().find_by_username(username)
    channel = _channel(user)
    request_id = ObjectId()
    resets = PasswordResetModel()
    stored = resets.replace(
        username,
        request_id=request_id,
        user_id=user["_id"] if channel else None,
        code_hash=digest,
        channel=channel,
        now=now,
        expires_at=now + CODE_LIFETIME,
    )
    sent = 0
    if stored and channel:
        sent = notifications.queue(
            user,
            EVENT,
            f"password-reset-code:{request_id}",
            TITLE,
            _body(code),
            channels=(channel,),
            security=True,
            secret=True,
            now=now,
        )
    if not sent:
        resets.note_unsent(username, request_id)
    _audit(
        REQUEST_ACTION,
        username,
        user,
        origin,
        details={"channel": channel if sent else None},
    )


def confirm_reset(
    username: str,
    code: str,
    new_password: str,
    *,
    secret: str,
    hash_method: str,
    origin: Origin,
    now: datetime | None = None,
) -> None:
    """Set a new password with the code sent, and end every session.

    ``new_password`` has passed the password policy already.

    :raises InvalidResetCode: the code is wrong, used, expired, replaced or out
        of tries, or the username has no request, no user or a disabled one.
    """
    now = now or utc_now()
    digest = code_hash(secret, username, code)
    # Hashed on every path, refused or not, so no answer comes sooner.
    password_hash = hash_password(new_password, hash_method)
    user = UserModel().find_by_username(username)
    usable = user is not None and user.get("active", True)
    resets = PasswordResetModel()
    taken = resets.consume(
        username,
        # A fresh id matches no request: unknown and disabled users alike.
        user["_id"] if usable else ObjectId(),
        digest,
        now,
        max_tries=MAX_TRIES,
        pending={
            "password_hash": password_hash,
            "seen_cutoff": user.get("tokens_valid_after") if user else None,
            "audit_id": ObjectId(),
            "ip": origin.ip,
            "http_request_id": origin.request_id,
        },
    )
    if taken is None:
        resets.count_wrong_try(username, now, MAX_TRIES)
        _audit(FAILURE_ACTION, username, user, origin)
        raise InvalidResetCode()
    if not _finish(taken):
        raise InvalidResetCode()


def _finish(reset: dict) -> bool:
    """Finish a consumed reset; tell whether it set the password.

    Every step is idempotent, so the request and the recovery may both run
    it, in any order and as often as they stop half-way. Sessions end as of
    the clock's now, never a time given to the job runner (``--at``): a
    cut-off in the future would refuse every login until then.
    """
    users = UserModel()
    applied = users.apply_reset(
        reset["user_id"],
        reset["password_hash"],
        seen_cutoff=reset["seen_cutoff"],
        reset_id=reset["request_id"],
        now=utc_now(),
    )
    if not applied:
        # Written before this run stopped, or overtaken by a password change
        # or a disable since the code was taken (then the reset did nothing).
        user = users.find_by_id(reset["user_id"])
        applied = (
            user is not None and user.get("password_reset_id") == reset["request_id"]
        )
    if applied:
        # The user proved they hold the mailbox or phone: the lockout a
        # guesser caused is over, as after a successful login.
        LoginThrottleModel().reset(reset["_id"])
        audit = AuditModel()
        entry = audit.build(
            RESET_ACTION,
            actor=reset["_id"],
            target=str(reset["user_id"]),
            ip=reset.get("ip"),
            request_id=reset.get("http_request_id"),
            entry_id=reset["audit_id"],
        )
        audit.append_once([entry])
    PasswordResetModel().finish(reset["_id"], reset["request_id"])
    return applied


def finish_stale(stale_after: timedelta, now: datetime | None = None) -> int:
    """Finish the resets whose request stopped after taking the code; count them."""
    now = now or utc_now()
    finished = 0
    for reset in PasswordResetModel().stale(now - stale_after):
        _finish(reset)
        finished += 1
    return finished


def count_stale(stale_after: timedelta, now: datetime | None = None) -> int:
    """Count the resets the recovery would finish now."""
    return PasswordResetModel().count_stale((now or utc_now()) - stale_after)


def _audit(
    action: str,
    username: str,
    user: dict | None,
    origin: Origin,
    details: dict | None = None,
) -> None:
    AuditModel().append(
        action,
        actor=username,
        target=str(user["_id"]) if user else None,
        ip=origin.ip,
        request_id=origin.request_id,
        details=details,
    )
