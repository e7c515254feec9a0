"""Upstream items of a generated world, as each connector receives them, and the connectors' mapping paths.

Shared by bench/mapping_cpu.py (CPU of the mapping alone) and tests/sync/test_mapping_identity.py (the mapping
of a whole world stays byte for byte the same). No HTTP: each simulator renders its records the way it serves
them (Zoho: the record projected on the connector's fields; Fenxiang: the stored document; the ledger:
``ClientData`` with details, loans as listed), and every item goes through one JSON round trip, so the mapping
sees exactly the types a pull decodes. The map functions follow the connectors' own code for one item, from the
decoded JSON to the `SourceRecord` (or `RejectedRecord`) the engine is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from crmhub.contract import RejectedRecord, SandboxOptions, SourceRecord
from crmhub.errors import RecordError
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.world import World

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
TODAY = date(2026, 11, 30)
STREAMS = ("zoho.accounts", "zoho.contacts", "fxiaoke.accounts", "fxiaoke.contacts", "ledger.clients", "ledger.loans")

Mapped = SourceRecord | RejectedRecord


@dataclass
class Stream:
    """One stream's decoded upstream items and the function that maps one of them."""

    name: str
    items: list[Any]
    map_one: Callable[[Any], Mapped | None]


def _decoded(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _zoho(world: World, faults: FaultProfile) -> Iterator[Stream]:
    from crmhub_zoho.config import ZohoConfig
    from crmhub_zoho.mapping import ZohoMapper
    from crmhub_zoho.simulator.records import project
    from crmhub_zoho.simulator.state import ZohoSimulator

    sim = ZohoSimulator(
        SandboxOptions(
            base_url="http://127.0.0.1:1",
            world=world,
            faults=faults,
            clock=lambda: NOW,
            settings={"lazy_world_min": 10**9},
        )
    )
    cfg = ZohoConfig.model_validate(
        {
            "plugin": "zoho_crm",
            "accounts_url": "https://accounts.zoho.com.cn",
            "client_id": "x",
            "client_secret": "x",
            "refresh_token": "x",
        }
    )
    mapper = ZohoMapper(cfg)
    for stream, module, fn in (("accounts", "Accounts", mapper.account), ("contacts", "Contacts", mapper.contact)):
        fields = mapper.read_fields(stream)
        store = sim.modules[module]
        items = [_decoded(project(store.records[rid], fields)) for rid in sorted(store.records)]
        yield Stream(f"zoho.{stream}", items, fn)


def _fxiaoke(world: World, faults: FaultProfile) -> Iterator[Stream]:
    from crmhub_fxiaoke import mapping
    from crmhub_fxiaoke.simulator.service import ACCOUNT, CONTACT, FxiaokeSimulator

    sim = FxiaokeSimulator(
        SandboxOptions(base_url="http://127.0.0.1:1", world=world, faults=faults, seed=1, clock=lambda: NOW)
    )
    industry_map: dict[str, str | list[str]] = {}
    for stream, api, defaults in (
        ("accounts", ACCOUNT, mapping.ACCOUNT_DEFAULTS),
        ("contacts", CONTACT, mapping.CONTACT_DEFAULTS),
    ):
        fm = mapping.resolve(defaults, {}, sim.describes[api], api)
        table = sim.tables[api]
        items = [_decoded(table.records[rid]) for rid in sorted(table.records)]

        def map_one(
            row: dict[str, Any], stream: str = stream, fm: mapping.FieldMap = fm, api: str = api
        ) -> Mapped | None:
            # crmhub_fxiaoke.connector.FxiaokeConnector._page, for one row
            rec_id = row.get("_id")
            if not isinstance(rec_id, str) or not rec_id:
                return RejectedRecord(stream=stream, source_id=None, reason="row without _id", field="_id", payload=row)
            try:
                modified = mapping.millis(row, "last_modified_time")
                if row.get("life_status") == "invalid" or row.get("is_deleted") is True:
                    return SourceRecord(stream=stream, source_id=rec_id, deleted=True, modified_at=modified, raw=row)
                data = mapping.account(row, fm, industry_map) if stream == "accounts" else mapping.contact(row, fm)
            except RecordError as exc:
                return RejectedRecord(
                    stream=stream,
                    source_id=rec_id,
                    field=exc.field,
                    payload=row,
                    reason=f"{api} {rec_id}: {exc.message}",
                )
            return SourceRecord.model_construct(
                stream=stream,
                source_id=rec_id,
                data=data,
                deleted=False,
                deletes_stream=None,
                modified_at=modified,
                raw=row,
            )

        yield Stream(f"fxiaoke.{stream}", items, map_one)


def _ledger(world: World, faults: FaultProfile) -> Iterator[Stream]:
    from crmhub_ledger import mapping
    from crmhub_ledger.config import LedgerConfig
    from crmhub_ledger.sandbox import render
    from crmhub_ledger.sandbox.state import LedgerSimulator

    sim = LedgerSimulator(
        seed=1,
        today=TODAY,
        now=NOW,
        wall=lambda: NOW,
        malformed_rate=faults.malformed_rate,
        duplicate_rate=faults.duplicate_rate,
    )
    sim.load_world(world, detail="loans")
    cfg = LedgerConfig.model_validate(
        {"base_url": "https://ledger.example/fineract-provider/api/v1", "username": "mifos", "password": "x"}
    )
    clients = [_decoded(render.client(sim, sim.clients[i], details=True)) for i in sim.client_order]
    identifiers = {
        c.id: _decoded([render.identifier(c, i) for i in range(len(c.identifiers))])
        for c in sim.clients.values()
        if c.identifiers
    }
    uscc_cache: dict[int, str] = {}

    def map_client(item: dict[str, Any]) -> Mapped | None:
        # crmhub_ledger.connector.LedgerConnector._map_clients, for one item (identifiers fetched when needed)
        if not (cfg.include_persons or mapping.is_entity(item)):
            return None
        cid = item.get("id")
        try:
            if not isinstance(cid, int) or isinstance(cid, bool):
                raise mapping.MappingProblem("id", f"expected an integer id, got {cid!r}")
            details = item.get("clientNonPersonDetails")
            incorp = details.get("incorpNumber") if isinstance(details, dict) else None
            idents = identifiers.get(cid, []) if not incorp else None
            resolution = mapping.resolve_uscc(item, idents, cfg, uscc_cache.get(cid))
            client = mapping.map_client(item, resolution, cfg)
        except mapping.MappingProblem as exc:
            return RejectedRecord(
                stream="clients",
                source_id=None if cid is None else str(cid),
                reason=f"ledger clients row {cid}: {exc.reason}",
                field=exc.field,
                payload=item,
            )
        if resolution.value:
            uscc_cache[cid] = resolution.value
        raw = {**item, "_crmhub": {"uscc_source": resolution.source, "single_read": False}}
        return SourceRecord(stream="clients", source_id=str(cid), data=client, raw=raw)

    yield Stream("ledger.clients", clients, map_client)
    loans = [_decoded(render.loan(sim, sim.loans[i], {"repaymentSchedule"}, full=True)) for i in sim.loan_order]

    def map_loan(item: dict[str, Any]) -> Mapped | None:
        # crmhub_ledger.connector.LedgerConnector.map_loans, for one item (the clients' USCCs known)
        client_id = item.get("clientId")
        try:
            facility = mapping.map_loan(item, uscc_cache.get(client_id) if isinstance(client_id, int) else None, cfg)
        except mapping.MappingProblem as exc:
            ident = item.get("id")
            return RejectedRecord(
                stream="loans",
                source_id=None if ident is None else str(ident),
                reason=f"ledger loans row {ident}: {exc.reason}",
                field=exc.field,
                payload=item,
            )
        raw = {k: v for k, v in item.items() if k not in ("repaymentSchedule", "transactions")}
        return SourceRecord(stream="loans", source_id=facility.source_id, data=facility, raw=raw)

    yield Stream("ledger.loans", loans, map_loan)


def world_streams(clients: int, *, seed: int = 7, dirty: bool = True) -> list[Stream]:
    """Every stream of a ``clients``-company world (``dirty``: 2 % malformed and 2 % duplicated records)."""
    world = World(seed=seed, clients=clients, today=TODAY)
    faults = FaultProfile(malformed_rate=0.02, duplicate_rate=0.02, seed=seed) if dirty else FaultProfile()
    return [*_zoho(world, faults), *_fxiaoke(world, faults), *_ledger(world, faults)]


def fingerprint(stream: Stream, item: Any) -> bytes:
    """What must stay identical when ``item`` is mapped: the canonical record as JSON (key order kept, as the store
    hashes and keeps it), the raw payload and every other field of the `SourceRecord` or `RejectedRecord` — or the
    exception, when the mapping raises one."""
    try:
        out = stream.map_one(item)
    except Exception as exc:
        return _dumps(["error", type(exc).__name__, str(exc)])
    if out is None:
        return b"null"
    if isinstance(out, RejectedRecord):
        return _dumps(["rejected", out.stream, out.source_id, out.field, out.reason, out.payload])
    data = out.data.model_dump(mode="json") if out.data is not None else None
    return _dumps(
        [
            "record",
            out.stream,
            out.source_id,
            out.deleted,
            out.deletes_stream,
            out.modified_at.isoformat() if out.modified_at else None,
            data,
            out.raw,
            type(out.data).__name__,
        ]
    )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=repr).encode("ascii")  # ASCII: lone surrogates in hostile text are kept


_HOSTILE: tuple[Any, ...] = (
    None,
    "",
    "   ",
    {"a": 1},
    [1, 2],
    True,
    12345,
    1.5,
    -3,
    "\x00nul\x1b[31mred\x1b[0m",
    "x" * 700,
    "  padded  ",
    "line\nbreak\ttab",
    "\u202eevil\u2066",
    "\ud800lone",
    "９１１１００００６００ ０３７３４１ｌ",
    "91110000600037341L",
    "91110000600037341X",
    "C39",
    "abc",
    "1,234.50",
    "2026-13-45T99:00:00+08:00",
    [],
    {},
)
"""Values put in place of a field's value by `hostile_items` (wrong types, control characters, over-long text,
full-width and broken USCCs, numbers as text, impossible dates)."""


def hostile_items(items: list[Any], seed: int = 11) -> list[Any]:
    """``items`` again, each with one top-level field (chosen by a seeded generator) replaced by a hostile value,
    and every fifth with one nested field replaced too: reaches the mapping's reject and cleaning paths."""
    import random

    rng = random.Random(seed)
    out: list[Any] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            out.append(item)
            continue
        copy = _decoded(item)
        key = rng.choice(sorted(copy))
        copy[key] = _HOSTILE[rng.randrange(len(_HOSTILE))]
        if n % 5 == 0:
            nested = [k for k in sorted(copy) if isinstance(copy[k], dict) and copy[k]]
            if nested:
                inner = copy[rng.choice(nested)]
                inner[rng.choice(sorted(inner))] = _HOSTILE[rng.randrange(len(_HOSTILE))]
        out.append(copy)
    return out
