"""End to end: the ledger simulator (a sandbox world) over real HTTP → the core_ledger connector → the sync
engine's ingest, match and merge → the risk phase. Every pattern the world planted raises its alert, and the
clients planted with nothing raise none."""

from __future__ import annotations

import warnings
from pathlib import Path

from sqlalchemy import select

from crmhub.config import parse_settings
from crmhub.plugins import load
from crmhub.risk.runner import make_risk_phase
from crmhub.sandbox.world import World
from crmhub.store import Store
from crmhub.store.tables import Alert, GoldenClient, SourceRecord, Xref
from crmhub.sync.engine import SyncEngine
from crmhub.testing import start_simulator


async def test_simulated_ledger_through_the_sync_engine(tmp_path: Path) -> None:
    from crmhub_ledger.sandbox import build

    world = World(seed=35, clients=40)  # seed 35 plants all six kinds within its first 36 companies
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    store = Store.open(f"sqlite:///{tmp_path / 'e2e.db'}")
    try:
        with start_simulator(build, world=world) as srv:
            settings = parse_settings(
                {
                    "connectors": {
                        "ledger": {
                            "plugin": "core_ledger",
                            "username": "mifos",
                            "password": "password",
                            "base_url": srv.url + "/fineract-provider/api/v1",
                            "history_days": 3650,
                        }
                    },
                    "risk": {"today": world.today.isoformat()},
                },
                registry,
            )
            report = await SyncEngine(settings, registry, store, risk_phase=make_risk_phase(settings, registry)).run()
        with store.begin() as s:
            raised: dict[int, set[str]] = {}
            for cid, kind in s.execute(select(Alert.client_id, Alert.kind)):
                raised.setdefault(cid, set()).add(kind)
            links = dict(
                s.execute(
                    select(Xref.client_id, SourceRecord.source_id).join(
                        SourceRecord, SourceRecord.id == Xref.source_record_id
                    )
                ).all()
            )
            unrated = s.scalars(select(GoldenClient.id).where(GoldenClient.rating.is_(None))).all()
    finally:
        store.dispose()
    assert report.status == "succeeded" and report.totals.risk_assessed == len(links) and unrated == []
    planted = caught = quiet = 0
    for cid, sid in links.items():
        key = world.truth_key("ledger", sid)
        assert key is not None
        expected = set(world.plan(key).expected_alerts)
        got = raised.get(cid, set())
        assert expected <= got, f"{world.plan(key).profile} client {sid}: raised {sorted(got)}"
        assert got <= expected, f"{world.plan(key).profile} client {sid}: extra {sorted(got - expected)}"
        planted += len(expected)
        caught += len(expected & got)
        quiet += not expected
    assert planted >= 6 and caught == planted and quiet >= 20
