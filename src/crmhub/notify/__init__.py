"""Notifications: facts in the store → routes → outbox → channels, exactly once.

Why planned from the store rather than from in-memory events: a process that dies between a change (an alert, a
rating downgrade, a failed run) and its notification must lose nothing. So the planner scans committed facts for
ones not yet notified and inserts one outbox row per fact, channel and recipient spec under a unique key — the row
is itself the marker — and delivery walks those rows through planned → sent → confirmed | failed, marking ``sent``
before each call so a crash is detected rather than repeated (docs/decisions/0004-db-driven-notifications.md).

Modules, one purpose each:

- `crmhub.notify.settings` — ``[notify]``: routes, groups, directory, follow-up intervals (imported by config);
- `crmhub.notify.facts` — finding un-notified facts; `crmhub.notify.followup` — follow-up due dates, interactions;
- `crmhub.notify.recipients` — ``rm`` / groups / literal addresses; `crmhub.notify.context` — masked contexts;
- `crmhub.notify.planner` — facts × routes → outbox rows; `crmhub.notify.delivery` — the exactly-once sender;
- `crmhub.notify.channels` — one channel instance per channel; `crmhub.notify.log` — the delivery log;
- `crmhub.notify.service` — `Notifier`, the entry point for the engine and the CLI.

Import-light on purpose: `crmhub.config` imports `crmhub.notify.settings`, so nothing here imports config.
"""
