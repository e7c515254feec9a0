"""One sync run split into procrastinate tasks on the PostgreSQL store (``[sync] executor = "workers"``).

The cycle is the one of `crmhub.sync.phases.CYCLE`: each phase becomes one or more tasks (a phase applied to one
partition — a connector, a golden-client id range, everything), each a ``sync_task`` row and a procrastinate job
``crmhub.sync_task`` run by any ``crmhub worker``. The same phase classes run in each task; only their input is
narrowed (`crmhub.sync.phase.RunContext.connectors` and ``id_range``).

* `partitions` — which tasks a phase is split into;
* `rows` — the task rows: claim, finish, fail, and the barrier that creates the next phase's tasks;
* `counters` — a phase's typed counters as JSON and the run report rebuilt from them;
* `execute` — the body of one task (and of the closing ``finish`` task: report, notify);
* `launch` — what `crmhub sync --on-workers` does: the run row, its locks, the first tasks, waiting, cancel.
"""
