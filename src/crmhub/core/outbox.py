"""The states of an outbox row, one vocabulary for write-backs (`crmhub.sync.outbox`) and notifications
(`crmhub.notify.delivery`), for the queries that count them (run reports, recovery, the console) and for the store.

A row is ``planned``, claimed as ``sent`` (committed) before the outside call, then ``confirmed`` or ``failed`` —
or ``planned`` again to retry. Notifications add ``partial`` (some recipients got it), ``unconfirmed`` (a robot send
whose answer a crash lost: never re-sent by itself) and ``skipped`` (nobody is to receive it); a write-back still
``planned`` when a newer plan for the same client replaces it becomes ``superseded``.

A `StrEnum`: the members are the very strings stored in ``outbox.state`` (both drivers bind them as text), so
comparisons with stored values and with older code's literals hold.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxState(StrEnum):
    """``outbox.state``."""

    PLANNED = "planned"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    PARTIAL = "partial"
    UNCONFIRMED = "unconfirmed"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"


OPEN = (OutboxState.PLANNED, OutboxState.SENT)
"""States still to be delivered (a ``sent`` row is confirmed or sent again after a crash)."""
