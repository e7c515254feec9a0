"""Benchmark: CPU of the connectors' mapping alone — decoded upstream JSON → canonical `SourceRecord` — per stream.

    python bench/mapping_cpu.py [--clients 10000] [--repeat 3] [--baseline REF] [--profile STREAM]

A world of ``--clients`` companies (2 % malformed, 2 % duplicated records, as the "dirty" fault profile) is
rendered by the simulators without HTTP (bench/mapping_world.py), then every Zoho Account/Contact, Fenxiang
AccountObj/ContactObj and ledger client/loan item is mapped through the connector's own mapping path. Prints CPU
µs per record per stream (``time.process_time``, best of ``--repeat``: the machine is shared, so CPU seconds, not
wall time, are compared).

``--baseline REF`` runs the same measurement on the code of git commit ``REF`` in the same run: a temporary
``git worktree`` of REF is put first on ``PYTHONPATH`` of a child process (so it imports the old ``crmhub`` and
plugins) that builds the same world; old and new passes alternate (the same load meets both), and both are
printed side by side with the ratio old/new.
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


def one_pass(streams: list[Stream]) -> dict[str, float]:
    """CPU seconds of one mapping pass over each stream (the items are built before)."""
    out: dict[str, float] = {}
    for s in streams:
        gc.collect()
        start = time.process_time()
        for item in s.items:
            s.map_one(item)
        out[s.name] = time.process_time() - start
    return out


class Baseline:
    """The same passes on commit ``ref``'s code: a child process with a temporary ``git worktree`` of ``ref`` first
    on its ``PYTHONPATH`` builds the same world, then runs one pass per request, so old and new passes alternate
    and meet the same load on this shared machine."""

    def __init__(self, ref: str, clients: int) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="mapping-cpu-")
        self.tree = Path(self.tmp.name) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(self.tree), ref], check=True)
        env = {**os.environ, "PYTHONPATH": f"{self.tree / 'src'}{os.pathsep}{self.tree / 'plugins'}"}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--clients", str(clients), "--serve"]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def one_pass(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        result: dict[str, float] = json.loads(self.proc.stdout.readline())
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(self.tree)], check=False)
        self.tmp.cleanup()


def _serve(streams: list[Stream]) -> None:
    """Child side of `Baseline`: one pass per line read, its CPU seconds per stream as one JSON line."""
    for _line in sys.stdin:
        print(json.dumps(one_pass(streams)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="REF", help="also measure git commit REF (same world, child process)")
    parser.add_argument("--profile", choices=STREAMS, help="cProfile one stream and print the top functions")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the baseline's child process
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
    if args.serve:
        _serve(streams)
        return
    baseline = Baseline(args.baseline, args.clients) if args.baseline else None
    best_new: dict[str, float] = {}
    best_old: dict[str, float] = {}
    try:
        for _ in range(args.repeat):
            for name, cpu in one_pass(streams).items():
                best_new[name] = min(cpu, best_new.get(name, cpu))
            if baseline is not None:
                for name, cpu in baseline.one_pass().items():
                    best_old[name] = min(cpu, best_old.get(name, cpu))
    finally:
        if baseline is not None:
            baseline.close()
    print(
        f"world: {args.clients:,} companies (dirty: 2 % malformed, 2 % duplicated), items built in {build:.1f} s "
        f"CPU; CPU µs per record (process_time), best of {args.repeat} passes"
        + (", old and new passes alternating" if baseline else "")
    )
    head = f"{'stream':<18} {'records':>8} {'µs/rec':>8}"
    if baseline:
        head += f" {'baseline':>9} {'old/new':>8}   (baseline = {args.baseline})"
    print(head)
    sizes = {s.name: len(s.items) for s in streams}
    count = sum(sizes.values())
    for name, cpu in best_new.items():
        line = f"{name:<18} {sizes[name]:>8,} {cpu / sizes[name] * 1e6:>8.1f}"
        if name in best_old:
            line += f" {best_old[name] / sizes[name] * 1e6:>9.1f} {best_old[name] / cpu:>7.2f}×"
        print(line)
    total_new, total_old = sum(best_new.values()), sum(best_old.values())
    line = f"{'all':<18} {count:>8,} {total_new / count * 1e6:>8.1f}"
    if best_old:
        line += f" {total_old / count * 1e6:>9.1f} {total_old / total_new:>7.2f}×"
    print(line)


if __name__ == "__main__":
    main()
