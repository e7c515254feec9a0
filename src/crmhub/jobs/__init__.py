"""Scheduled jobs: ``[jobs.<name>]`` settings, the embedded scheduler and procrastinate workers.

One function, `crmhub.jobs.runner.run_job`, runs a job under either executor — the embedded scheduler
(`crmhub.jobs.scheduler`, one machine, SQLite or PostgreSQL) or procrastinate workers on PostgreSQL
(`crmhub.jobs.worker`, any number of machines). This package's ``__init__`` stays import-light: `crmhub.config`
imports `crmhub.jobs.settings`, and the runner imports the sync engine, which imports the config.
"""

from __future__ import annotations

from crmhub.jobs.settings import COMMANDS, JobSettings, parse_duration

__all__ = ["COMMANDS", "JobSettings", "parse_duration"]
