"""The merge lays out the golden document without validating it again — and it is exactly the validated dump.

Before, the merge ran ``CorporateClient.model_validate`` on every golden client and stored its dump; now it trusts
the members validated at ingest (`crmhub.sync.merge.golden_document`). Over a synced world (three systems, hostile
values, mistyped USCCs, write-back echoes, risk summaries on the second pass) every document the merge writes is
compared with what the validating path gives for the same values: same keys, same order, same values.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crmhub import hookimpl, plugins
from crmhub.cli.common import Context
from crmhub.cli.sync_cmds import build_engine
from crmhub.model import CorporateClient
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.tables import GoldenClient
from crmhub.sync import merge

from .conftest import sandbox_settings

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def test_a_risk_summary_dumped_with_its_blanks_loses_them_as_in_a_validated_dump() -> None:
    values = {
        "name": "杭州西湖数字科技有限公司",
        "external_ids": {"zoho": ["1"]},
        "risk": {"rating": "BBB", "segment": "medium", "score": None, "assessed_at": None},
    }
    document, client = merge.validated_document(values, 7)
    assert merge.golden_document(values) == document
    assert list(merge.golden_document(values)) == list(document)
    assert client.id == 7 and "risk" in document and "score" not in document["risk"]


@pytest.mark.parametrize("sandbox", [150], indirect=True, ids=["150-clients"])
async def test_every_merged_document_is_the_validated_dump(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[int] = []
    trusted = merge.golden_document

    def both(values: dict[str, Any]) -> dict[str, Any]:
        document = trusted(values)
        validated, _ = merge.validated_document(values, 1)
        assert document == validated
        assert list(document) == list(validated)  # the stored JSON's key order too
        compared.append(1)
        return document

    monkeypatch.setattr(merge, "golden_document", both)
    heard: list[tuple[CorporateClient, dict[str, Any]]] = []

    class Listener:
        @hookimpl
        def crmhub_client_changed(self, client: CorporateClient, changes: dict[str, Any], run_id: int | None) -> None:
            heard.append((client, changes))

    listener = Listener()
    registry.manager.register(listener)
    try:
        engine = build_engine(Context(registry, sandbox_settings(sandbox, registry, store_url)), store)
        first = await engine.run()
        assert first.status == "succeeded"
        second = await engine.run()  # write-back echoes: goldens merged again, now with a risk summary
        assert second.status == "succeeded"
    finally:
        registry.manager.unregister(listener)
    with store.begin() as s:
        stored = {g.id: g for g in s.scalars(select(GoldenClient))}
    assert len(compared) >= len(stored) > 100
    assert (
        len(heard)
        == first.totals.clients_created
        + first.totals.clients_updated
        + second.totals.clients_created
        + second.totals.clients_updated
    )
    last: dict[int, CorporateClient] = {client.id: client for client, _ in heard if client.id is not None}
    for gid, client in last.items():  # the event's client is the stored document, validated (risk: set later)
        row = stored[gid]
        assert client.model_dump(mode="json", exclude_none=True, exclude={"id", "lineage", "risk", "uscc"}) == {
            k: v for k, v in row.data.items() if k not in ("risk", "uscc")
        }
        assert client.uscc == row.uscc and client.name == row.name
