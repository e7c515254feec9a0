"""Ground truth: the sandbox world plants one pattern per behaviour profile; every planted pattern must raise
its alert, and clients planted with nothing (healthy, overdraft, past due) should raise (almost) none."""

from __future__ import annotations

import warnings
from pathlib import Path

from crmhub.config import Settings
from crmhub.plugins import load
from crmhub.risk.alerts import ALERT_KINDS
from crmhub.risk.runner import assess
from crmhub.sandbox.world import World
from crmhub.store import Store

from .world_book import load_world, score_alerts

CLIENTS = 200
SEED = 35  # plants every kind within the first 36 companies


def test_every_planted_pattern_raises_its_alert(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'world.db'}")
    try:
        world = World(seed=SEED, clients=CLIENTS)
        truth = load_world(store, world)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            registry = load()
        outcome = assess(store, Settings(), registry, all=True, today=world.today)
        card = score_alerts(store, truth)
    finally:
        store.dispose()
    assert outcome.clients == len(truth)
    assert set(card.planted) == set(ALERT_KINDS), "the sample must plant every kind; grow CLIENTS if not"
    assert card.missed == []
    assert card.caught == card.planted
    print(
        f"\nworld seed {SEED}, {len(truth)} ledger clients: planted {dict(card.planted)}; recall 100 %; "
        f"false positives {card.healthy_alerted}/{card.healthy} = {card.false_positive_rate:.2%}; "
        f"extra alerts on planted clients {len(card.extra)}"
    )
    assert card.false_positive_rate <= 0.01
    assert len(card.extra) <= max(1, len(card.caught) // 20)
