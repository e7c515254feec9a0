"""`crmhub sync` with the Zoho write-back through Bulk Write: the deliverer hands the connector whole files
(``push_batch_size``), per-record results reach the outbox, and the echo of the bulk write is recognised."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crmhub import plugins
from crmhub.cli.common import Context
from crmhub.cli.sync_cmds import build_engine
from crmhub.config import parse_settings
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.tables import Outbox

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


@pytest.mark.parametrize("sandbox", [50], indirect=True, ids=["50-clients"])
async def test_zoho_write_back_through_bulk_write(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str
) -> None:
    doc = sandbox.config()
    doc["store"] = {"url": store_url}
    zoho = doc["connectors"]["zoho"]
    zoho["write_back"] = {
        **zoho.get("write_back", {}),
        "bulk_threshold": 2,
        "bulk_poll_interval": 0.01,
        "bulk_poll_max": 0.05,
    }
    engine = build_engine(Context(registry, parse_settings(doc, registry)), store)
    first = await engine.run()
    assert first.status == "succeeded", first.model_dump_json(indent=1)
    assert first.connectors["zoho"].written_back >= 2
    sim = sandbox["zoho_crm"].simulator
    jobs = list(sim.bulk_writes.jobs.values())
    assert jobs and all(j.status == "COMPLETED" for j in jobs)
    applied = sum(j.counts["added_count"] + j.counts["updated_count"] for j in jobs)
    with store.begin() as s:
        confirmed = s.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.kind == "write_back", Outbox.target == "zoho", Outbox.state == "confirmed")
        )
        open_rows = s.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.kind == "write_back", Outbox.target == "zoho", Outbox.state.in_(("planned", "sent")))
        )
    assert confirmed == applied and open_rows == 0
    await engine.run()  # reads the echo of the bulk write
    idle = await engine.run()
    assert idle.totals.written_back == 0 and idle.totals.planned_writes == 0
    assert len(sim.bulk_writes.jobs) == len(jobs)  # nothing was written twice
