"""instalment × active subscribers − ledger → provider, with retries, exactly once.

Three steps, one module each: `plan` (who is owed it, counted first), `run` (batches to the
provider, recorded in the ledger before and after each request) and `settle` (what became of
requests whose answer was lost; when an instalment is finished). `Sender` does all three for
one series and one provider.
"""

from seriespub.models import SETTLED
from seriespub.sending.plan import (
    RESENDABLE,
    SHOWN_FAILURES,
    ProgressSink,
    SendPlan,
    SendReport,
    choose_next,
)
from seriespub.sending.run import Sender
from seriespub.sending.settle import assume_delivered, finish_if_settled

__all__ = [
    "RESENDABLE",
    "SETTLED",
    "SHOWN_FAILURES",
    "ProgressSink",
    "SendPlan",
    "SendReport",
    "Sender",
    "assume_delivered",
    "choose_next",
    "finish_if_settled",
]
