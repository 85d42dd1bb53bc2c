"""What is measured: the targets wrk drives, what they send, the ratio targets."""

import json
from dataclasses import dataclass
from decimal import Decimal

POST_AMOUNT = Decimal("1.00")
POST_BODY = json.dumps({"amount": f"{POST_AMOUNT:.2f}"})
TRANSFER_AMOUNT = Decimal("1.00")


@dataclass(frozen=True)
class Target:
    """One endpoint wrk drives."""

    name: str
    server: str  # "api", "api_empty", "api_20k" or "ceiling"
    path: str
    post: bool


# The order of one round: each API target right after its reference.
TARGETS = (
    Target("ceiling_get", "ceiling", "/ceiling", post=False),
    Target("balance", "api", "/balance", post=False),
    Target("ceiling_post", "ceiling", "/ceiling", post=True),
    Target("deposit", "api", "/deposit", post=True),
    Target("transfer", "api", "/transfers", post=True),
    Target("deposit_empty", "api_empty", "/deposit", post=True),
    Target("deposit_20k", "api_20k", "/deposit", post=True),
)
# Deposit targets: (target name, server) whose benchuser balance is reconciled.
DEPOSIT_TARGETS = ("deposit", "deposit_empty", "deposit_20k")


@dataclass(frozen=True)
class Ratio:
    """A target: ``numerator`` must reach ``minimum`` x ``denominator``."""

    numerator: str
    denominator: str
    minimum: float

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"


RATIOS = (
    Ratio("balance", "ceiling_get", 0.8),
    Ratio("deposit", "ceiling_post", 0.6),
    Ratio("transfer", "ceiling_post", 0.5),
    Ratio("deposit_20k", "deposit_empty", 0.8),
)
