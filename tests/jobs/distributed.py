"""Helpers of the distributed-sync tests: a config for a run split over workers, and a snapshot of a store's
engine results keyed by stable keys (USCC, member source ids) — never by autoincrement ids, which differ between
a single-process run and one whose merge, risk and plan ran in partitions side by side."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import select

from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.tables import FieldLineage, GoldenClient, Outbox, RiskAssessmentRow, SourceRecord, Xref

from .sandbox import write_config


def distributed_config(path: Path, sandbox: SandboxSet, store_url: str, *, partitions: int = 3) -> Path:
    """The end-to-end world's config with ``[sync] executor = "workers"`` and ``partitions`` id ranges."""
    write_config(path, sandbox, store_url, {})
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    doc.setdefault("sync", {})["workers"] = {"partitions": partitions, "max_tries": 3}
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def timeless(value: Any) -> Any:
    """``value`` without the wall-clock stamps a run writes (``*_at`` keys): they differ between any two runs."""
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if not str(k).endswith("_at")}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def canonical(value: Any, key: str = "") -> Any:
    """``value`` as compared between runs. Lists are multisets: golden contacts, aliases, external ids and a
    field's competing values follow the members' ``source_record.id`` order — the order pages happened to commit,
    which differs between any two runs whose connectors ingest side by side (single-process runs too). For the
    same reason a contact present in two systems is compared by who it is (name, then mobile, email or phone —
    the merge's de-duplication key), not by which system's copy the de-duplication kept first."""
    if key == "contacts" and isinstance(value, list):
        return sorted(
            (str(c.get("name", "")).strip(), str(c.get("mobile") or c.get("email") or c.get("phone") or ""))
            for c in value
            if isinstance(c, dict)
        )
    if isinstance(value, dict):
        return {k: canonical(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=repr)
    return value


def _keys(store: Store) -> dict[int, str]:
    """Golden client id → a stable key: its USCC, else its members' ``connector/source id`` list."""
    with store.begin() as s:
        members: dict[int, list[str]] = {}
        for cid, connector, sid in s.execute(
            select(Xref.client_id, SourceRecord.connector, SourceRecord.source_id).join(
                SourceRecord, SourceRecord.id == Xref.source_record_id
            )
        ):
            members.setdefault(cid, []).append(f"{connector}/{sid}")
        return {
            g.id: g.uscc or "members:" + ",".join(sorted(members.get(g.id, [])))
            for g in s.scalars(select(GoldenClient))
        }


def engine_results(store: Store) -> dict[str, Any]:
    """Golden records, lineage, current risk assessments and write-back plans, by stable keys."""
    key = _keys(store)
    with store.begin() as s:
        golden = {
            key[g.id]: {
                "name": g.name,
                "status": g.status,
                "merged_into": key.get(g.merged_into) if g.merged_into else None,
                "data": canonical(timeless(g.data)),
                "rating": g.rating,
                "segment": g.segment,
                "flags": (g.needs_merge, g.needs_risk, g.needs_plan),
            }
            for g in s.scalars(select(GoldenClient))
        }
        lineage = {
            f"{key[r.client_id]}|{r.field}": {
                "value": canonical(r.value, r.field),
                "source": r.source,
                "record": r.source_record_id,
                "rule": r.rule,
                "competing": canonical(timeless(r.competing)),
            }
            for r in s.scalars(select(FieldLineage))
        }
        risk = {
            key[r.client_id]: {
                "score": r.score,
                "rating": r.rating,
                "segment": r.segment,
                "card": r.scorecard_version,
                "inputs": r.inputs_hash,
            }
            for r in s.scalars(select(RiskAssessmentRow).where(RiskAssessmentRow.current.is_(True)))
        }
        plans: dict[str, Any] = {}
        for o in s.scalars(select(Outbox).where(Outbox.kind == "write_back")):
            client = key.get(o.client_id) if o.client_id is not None else None
            plans.setdefault(f"{o.target}|{o.stream}|{client}", []).append(
                {"payload": canonical(timeless(o.payload)), "state": o.state}
            )
        for rows in plans.values():
            rows.sort(key=repr)
    return {"golden": golden, "lineage": lineage, "risk": risk, "plans": plans}
