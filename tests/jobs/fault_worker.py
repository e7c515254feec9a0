"""A `crmhub worker` process with one injected fault, for tests/jobs/test_worker_stop.py (run as a script).

    python fault_worker.py CONFIG FAULT GRACE

FAULT is one of:

* ``stale-token`` — the stop token of a job whose own event loop has already closed is still listed as running
  (a job's thread ends, then its runner records the outcome: under load that takes a while). SIGTERM used to hit
  that token's listener, which raised "Event loop is closed" inside the signal handler, before the worker was
  told to stop and before the grace timer started: the process never left.
* ``blocked-loop`` — once the worker has started, a callback blocks the event loop for good (a blocking call where
  an await belonged). Nothing on the loop can react to SIGTERM; the process must leave anyway, ``GRACE`` seconds
  after the signal.

The worker itself is `crmhub.jobs.worker.run_worker` exactly as ``crmhub worker`` runs it (signals installed).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from crmhub.cli.common import run
from crmhub.config import load_settings
from crmhub.jobs import joblog, worker
from crmhub.jobs.guard import SafePoints, StopToken
from crmhub.plugins import load
from crmhub.store import Store


class _OnStarted(logging.Handler):
    """Runs ``then`` on the worker's loop once it logged ``worker_started``."""

    def __init__(self, then: object) -> None:
        super().__init__()
        self.then = then

    def emit(self, record: logging.LogRecord) -> None:
        if (getattr(record, "fields", None) or {}).get("event") == "worker_started":
            asyncio.get_running_loop().call_later(0.2, self.then)  # type: ignore[arg-type]


def _block_forever() -> None:
    print('{"event": "loop_blocked"}', flush=True)
    while True:
        time.sleep(0.5)


def main(config: str, fault: str, grace: float) -> int:
    registry = load()
    settings = load_settings(Path(config), registry)
    store = Store.open(settings.store.url)
    joblog.setup()
    if fault == "stale-token":
        finished = asyncio.new_event_loop()
        token = StopToken()
        SafePoints(finished, token)  # what a sync job subscribes, on its own loop...
        finished.close()  # ...which has ended
        worker.RUNNING.add(token)
    elif fault == "blocked-loop":
        logging.getLogger(joblog.JOB_LOGGER).addHandler(_OnStarted(_block_forever))
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    try:
        return run(worker.run_worker(settings, registry, store, grace=grace, stalled_after=5))
    finally:
        store.dispose()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
