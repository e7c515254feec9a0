"""Benchmark: entity resolution on 10,000 and 100,000 records (``python bench/matching.py``).

Records come from the sandbox world (`crmhub.sandbox.world.World`, the CRM and ledger views a sync pulls) — or,
with ``--source drift`` or when the world generator is absent, from the drifted population of
``tests/sync/drift_world.py``. Each size runs in a fresh process so that its peak memory is its own. Printed per
size: wall and CPU seconds (CPU time is the steadier figure on a shared machine), records/s, peak RSS and the part
of it the matcher added, candidate pairs scored, oversized blocks, pairwise precision/recall against the ground
truth, review-queue size; then the 100k/10k ratios (≈ 10 means linear). Building the records (world generation and
name normalisation) is timed separately from matching.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from crmhub.sync.matching import BlockingConfig, Matcher, MatchRecord  # noqa: E402
from sync.drift_world import drifted_population, pairwise_quality, world_records  # noqa: E402


def _rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _records(source: str, size: int, seed: int) -> tuple[list[MatchRecord], dict[str, int]]:
    records: list[MatchRecord] = []
    truth: dict[str, int] = {}
    if source == "world":
        from crmhub.sandbox.world import World

        world = World(seed=seed, clients=int(size / 1.6) + 100)
        for record, key in world_records(world.companies(ledger_detail=False)):
            records.append(record)
            truth[record.ref] = key
            if len(records) >= size:
                break
        # keep whole companies only, so the truth is complete
        last = truth[records[-1].ref]
        while records and truth[records[-1].ref] == last and len(records) > size * 0.99:
            del truth[records.pop().ref]
        return records, truth
    records, truth = drifted_population(int(size / 2.0) + 10, seed=seed)
    return records[:size], {r.ref: truth[r.ref] for r in records[:size]}


def child(source: str, size: int, seed: int, max_block: int | None) -> dict[str, Any]:
    """Build and match one population; return the measurements."""
    t0 = time.perf_counter()
    records, truth = _records(source, size, seed)
    built = time.perf_counter() - t0
    rss_before = _current_rss_mib()
    matcher = Matcher(blocking=BlockingConfig(max_block) if max_block else None)
    t1, c1 = time.perf_counter(), time.process_time()
    result = matcher.resolve(records)
    seconds, cpu = time.perf_counter() - t1, time.process_time() - c1
    quality = pairwise_quality(result.clusters, truth)
    return {
        "records": len(records),
        "build_s": built,
        "match_s": seconds,
        "cpu_s": cpu,
        "records_per_s": len(records) / seconds,
        "peak_rss_mib": _rss_mib(),
        "matcher_mib": _current_rss_mib() - rss_before,
        "pairs": result.stats.pairs_scored,
        "oversized": result.stats.oversized_blocks,
        "precision": quality.precision,
        "recall": quality.recall,
        "true_pairs": quality.true_pairs,
        "false_pairs": quality.false_pairs,
        "missed_pairs": quality.missed_pairs,
        "review": len(result.review),
        "clusters": len(result.clusters),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated record counts")
    parser.add_argument("--source", choices=("world", "drift"), default=None)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--max-block", type=int, default=None, help="override BlockingConfig.max_block")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = args.source or ("world" if importlib.util.find_spec("crmhub.sandbox.world") else "drift")
    if args.child is not None:
        print(json.dumps(child(source, args.child, args.seed, args.max_block)))
        return
    rows: list[dict[str, Any]] = []
    print(f"source: {source}, seed {args.seed}, max_block {args.max_block or BlockingConfig().max_block}")
    header = (
        f"{'records':>8} {'build s':>8} {'match s':>8} {'cpu s':>7} {'rec/s':>8} {'peak MiB':>9} "
        f"{'index MiB':>9} {'pairs':>9} {'pairs/rec':>9} {'oversized':>9} {'precision':>9} {'recall':>7} "
        f"{'review':>7}"
    )
    print(header)
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--source",
                source,
                "--seed",
                str(args.seed),
                "--child",
                str(size),
                *(["--max-block", str(args.max_block)] if args.max_block else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['records']:>8} {row['build_s']:>8.1f} {row['match_s']:>8.2f} {row['cpu_s']:>7.2f} "
            f"{row['records_per_s']:>8.0f} "
            f"{row['peak_rss_mib']:>9.0f} {row['matcher_mib']:>9.0f} {row['pairs']:>9} "
            f"{row['pairs'] / row['records']:>9.1f} {row['oversized']:>9} {row['precision']:>9.4f} "
            f"{row['recall']:>7.4f} {row['review']:>7}"
        )
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        print(
            f"{large['records']}/{small['records']} records ({large['records'] / small['records']:.1f}x): "
            f"wall time {large['match_s'] / small['match_s']:.1f}x, CPU time {large['cpu_s'] / small['cpu_s']:.1f}x, "
            f"candidate pairs {large['pairs'] / small['pairs']:.1f}x"
        )


if __name__ == "__main__":
    main()
