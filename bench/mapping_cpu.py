"""Benchmark: CPU of the connectors' mapping alone — decoded upstream JSON → canonical `SourceRecord` — per stream.

    python bench/mapping_cpu.py [--clients 10000] [--repeat 3] [--baseline REF] [--profile STREAM]

A world of ``--clients`` companies (2 % malformed, 2 % duplicated records, as the "dirty" fault profile) is
rendered by the simulators without HTTP (bench/mapping_world.py), then every Zoho Account/Contact, Fenxiang
AccountObj/ContactObj and ledger client/loan item is mapped through the connector's own mapping path. Prints CPU
µs per record per stream (``time.process_time``, best of ``--repeat``: the machine is shared, so CPU seconds, not
wall time, are compared).

``--baseline REF`` runs the same measurement on the code of git commit ``REF`` in the same run: a temporary
``git worktree`` of REF is put first on ``PYTHONPATH`` of a child process (so it imports the old ``crmhub`` and
plugins), which prints its figures as JSON; both are printed side by side with the ratio old/new.
``--profile STREAM`` prints the top of a cProfile of one stream instead.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mapping_world import STREAMS, Stream, world_streams

ROOT = Path(__file__).resolve().parent.parent


def measure(streams: list[Stream], repeat: int) -> dict[str, dict[str, float]]:
    """CPU µs per record of each stream, best of ``repeat`` passes (mapping only; the items are built before)."""
    out: dict[str, dict[str, float]] = {}
    for s in streams:
        best = float("inf")
        for _ in range(repeat):
            gc.collect()
            start = time.process_time()
            for item in s.items:
                s.map_one(item)
            best = min(best, time.process_time() - start)
        out[s.name] = {"records": len(s.items), "cpu_s": best, "us_per_record": best / max(len(s.items), 1) * 1e6}
    return out


def _baseline(ref: str, clients: int, repeat: int) -> dict[str, dict[str, float]]:
    """The same measurement on commit ``ref``, in a child process importing that commit's code."""
    with tempfile.TemporaryDirectory(prefix="mapping-cpu-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
        try:
            env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree / 'plugins'}"}
            done = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--clients",
                    str(clients),
                    "--repeat",
                    str(repeat),
                    "--json",
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="REF", help="also measure git commit REF (same world, child process)")
    parser.add_argument("--profile", choices=STREAMS, help="cProfile one stream and print the top functions")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line only")
    args = parser.parse_args()

    build = time.process_time()
    streams = world_streams(args.clients)
    build = time.process_time() - build
    if args.profile:
        stream = next(s for s in streams if s.name == args.profile)
        prof = cProfile.Profile()
        prof.enable()
        for item in stream.items:
            stream.map_one(item)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    new = measure(streams, args.repeat)
    if args.json:
        print(json.dumps(new))
        return
    old = _baseline(args.baseline, args.clients, args.repeat) if args.baseline else None
    print(
        f"world: {args.clients:,} companies (dirty: 2 % malformed, 2 % duplicated), items built in {build:.1f} s "
        f"CPU; figures are CPU µs per record, best of {args.repeat}"
    )
    head = f"{'stream':<18} {'records':>8} {'µs/rec':>8}"
    if old:
        head += f" {'baseline':>9} {'old/new':>8}   (baseline = {args.baseline})"
    print(head)
    total_new = total_old = 0.0
    count = 0
    for name, row in new.items():
        line = f"{name:<18} {int(row['records']):>8,} {row['us_per_record']:>8.1f}"
        total_new += row["cpu_s"]
        count += int(row["records"])
        if old and name in old:
            was = old[name]["us_per_record"]
            total_old += old[name]["cpu_s"]
            line += f" {was:>9.1f} {was / row['us_per_record']:>7.2f}×"
        print(line)
    line = f"{'all':<18} {count:>8,} {total_new / count * 1e6:>8.1f}"
    if old:
        line += f" {total_old / count * 1e6:>9.1f} {total_old / total_new:>7.2f}×"
    print(line)


if __name__ == "__main__":
    main()
