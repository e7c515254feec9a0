"""The world's matching cases (issue 13 items 5 and 11): 集团 vs subsidiary, 股份公司, new districts, full-width
and mistyped USCCs — present in the world, and matched right against its ground truth. Also: the README's example
USCC is a company of the world `crmhub sandbox serve` serves by default."""

from __future__ import annotations

import inspect
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from crmhub.model import uscc
from crmhub.sandbox.world import World
from crmhub.sync.matching import Matcher, MatchRecord, Resolution

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sync.drift_world import pairwise_quality, world_records

NEW_DISTRICTS = {"440309", "440310", "440311", "330113", "330114", "370116", "370117"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=11, clients=2000)


@pytest.fixture(scope="module")
def resolved(world: World) -> tuple[list[tuple[MatchRecord, int]], Resolution]:
    pairs = list(world_records(world.companies(ledger_detail=False)))
    return pairs, Matcher().resolve(record for record, _ in pairs)


def _views(world: World) -> list[tuple[int, str, Any]]:
    out = []
    for c in world.companies(ledger_detail=False):
        for view in (c.zoho, c.fxiaoke):
            if view is not None:
                out.append((c.key, view.system, view))
    return out


def test_the_world_holds_every_case(world: World) -> None:
    subsidiaries = [k for k in range(world.clients) if world.subsidiary_of(k) is not None]
    assert len(subsidiaries) >= 20
    for k in subsidiaries:
        parent, child = world.identity(k - 1), world.identity(k)
        assert "集团" in parent.parts.form and "集团" not in child.parts.form
        assert child.name == parent.name.replace("集团", "") and child.uscc != parent.uscc
        assert child.city == parent.city
    moved = [world.identity(k) for k in range(world.clients) if world.identity(k).district.code in NEW_DISTRICTS]
    assert len(moved) >= 30
    assert sum(1 for i in moved if i.district.name in i.name) >= 10  # 深圳市龙华区… in the legal name
    assert {i.uscc[2:8] for i in moved} & NEW_DISTRICTS  # registered there after the district existed
    views = _views(world)
    assert sum(1 for _, _, v in views if "股份公司" in v.name) >= 5
    wide = [v.uscc for _, system, v in views if system == "fxiaoke" and v.uscc and not v.uscc.isascii()]
    assert wide and all(uscc.is_valid(unicodedata.normalize("NFKC", code)) for code in wide)
    assert any(v.uscc and v.uscc.islower() for _, system, v in views if system == "zoho")
    typos = [v.uscc for _, _, v in views if v.uscc and len(uscc.compact(v.uscc)) == 18 and not uscc.is_valid(v.uscc)]
    assert len(typos) >= 5


def test_matching_quality_with_the_new_cases(
    world: World, resolved: tuple[list[tuple[MatchRecord, int]], Resolution]
) -> None:
    """Pairwise precision ≥ 0.995 and recall ≥ 0.98 on a world that contains every case."""
    pairs, result = resolved
    truth = {record.ref: key for record, key in pairs}
    quality = pairwise_quality(result.clusters, truth)
    assert quality.true_pairs > 1000
    assert quality.precision >= 0.995, quality
    assert quality.recall >= 0.98, quality


def test_group_and_subsidiary_are_never_merged_and_are_reviewed(
    world: World, resolved: tuple[list[tuple[MatchRecord, int]], Resolution]
) -> None:
    pairs, result = resolved
    truth = {record.ref: key for record, key in pairs}
    cluster_keys = [{truth[ref] for ref in members} for members in result.clusters]
    subsidiaries = [k for k in range(world.clients) if world.subsidiary_of(k) is not None]
    assert not [k for k in subsidiaries if any({k - 1, k} <= keys for keys in cluster_keys)]
    reviewed = {frozenset((truth[p.ref_a], truth[p.ref_b])) for p in result.review if p.reason == "group_mismatch"}
    assert len(reviewed & {frozenset((k - 1, k)) for k in subsidiaries}) >= len(subsidiaries) // 2


def test_full_width_mistyped_and_new_district_records_join_their_company(
    world: World, resolved: tuple[list[tuple[MatchRecord, int]], Resolution]
) -> None:
    pairs, result = resolved
    truth = {record.ref: key for record, key in pairs}
    where = result.cluster_index()
    records_of: dict[int, list[str]] = defaultdict(list)
    for record, key in pairs:
        records_of[key].append(record.ref)
    special = [
        (record, key)
        for record, key in pairs
        if record.uscc_invalid or (record.name.region_code or "") in NEW_DISTRICTS
    ]
    assert len(special) >= 20
    joined = sum(1 for record, key in special if all(where[other] == where[record.ref] for other in records_of[key]))
    assert joined >= 0.95 * len(special)
    assert all(truth[ref] == key for record, key in special for ref in result.clusters[where[record.ref]])


def test_readme_example_uscc_is_in_the_default_sandbox_world() -> None:
    """The codes in README's "Try it step by step" name a ledger client of `crmhub sandbox serve`'s default world,
    in a CRM too, so `clients explain` and `risk explain` show it."""
    from crmhub.cli.sandbox_cmds import sandbox_serve

    params = inspect.signature(sandbox_serve).parameters
    seed, clients = params["seed"].default.default, params["clients"].default.default
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it step by step", 1)[1].split("\n## ", 1)[0]
    codes = set(re.findall(r"\b[0-9A-HJ-NP-RTUWXY]{18}\b", section))
    assert codes, "the README's walk-through names no USCC"
    default = World(seed=seed, clients=clients)
    for code in codes:
        key = default.key_for_uscc(code)
        assert key is not None, f"README example {code} is not a company of World(seed={seed}, clients={clients})"
        plan = default.plan(key)
        assert plan.in_ledger and (plan.in_zoho or plan.in_fxiaoke), code
