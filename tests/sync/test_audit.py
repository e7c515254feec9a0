"""The hash-chained audit log: appends in one transaction and across transactions form one unbroken chain."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import select, update

from crmhub.store import Store
from crmhub.store.tables import AuditLog
from crmhub.sync import audit


def test_chain_is_intact_and_detects_tampering(store: Store) -> None:
    """Many appends per transaction, several transactions: verify finds nothing; editing a row breaks it."""
    for batch in range(3):
        with store.begin() as s:
            for i in range(50):
                audit.append(
                    s,
                    actor="test",
                    action="client.update",
                    entity="client",
                    entity_id=i,
                    details={"batch": batch, "i": i},
                )
    with store.begin() as s:
        assert audit.verify_chain(s) == []
        rows = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        assert len(rows) == 150 and rows[0].prev_hash == audit.GENESIS
        assert all(b.prev_hash == a.hash for a, b in pairwise(rows))
        victim = rows[70].id
        s.execute(update(AuditLog).where(AuditLog.id == victim).values(details={"forged": True}))
    with store.begin() as s:
        assert audit.verify_chain(s) == [victim]
