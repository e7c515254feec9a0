"""`World.crm_view` / `World.ledger_view` build one system's view alone, identical to `World.company`'s."""

from __future__ import annotations

from crmhub.sandbox.world import World


def test_single_views_equal_the_company_views() -> None:
    world = World(seed=5, clients=300)
    for key in range(0, 300, 7):
        company = world.company(key, ledger_detail=False)
        assert world.crm_view("zoho", key) == company.zoho
        assert world.crm_view("fxiaoke", key) == company.fxiaoke
        assert world.ledger_view(key, ledger_detail=False) == company.ledger
    assert [v.source_id for v in world.crm_views("zoho", 0, 50)] == [
        c.zoho.source_id for c in world.companies(0, 50, ledger_detail=False) if c.zoho
    ]


def test_loans_only_detail_keeps_the_same_loans_and_no_accounts() -> None:
    world = World(seed=5, clients=400)
    with_loans = 0
    for key in range(400):
        full = world.ledger_view(key)
        light = world.ledger_view(key, ledger_detail="loans")
        assert (full is None) == (light is None)
        if full is None or light is None:
            continue
        assert light.savings == []
        assert light.loans == full.loans
        with_loans += bool(full.loans)
    assert with_loans > 10  # the comparison covered real loans
