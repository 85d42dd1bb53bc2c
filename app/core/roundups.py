"""Round-ups: the spare change of a customer's spending, saved into a goal.

(To be built with the savings goals.)
"""

from app.core.movements import Caller, Movement


def after_spending(caller: Caller, movement: Movement) -> None:
    """Round up a posted withdrawal or transfer into the caller's round-up goal."""
    return None
