"""``[sync]`` in crmhub.toml: matching thresholds, survivorship rules and write-back batching.

The sync engine's own settings, next to the engine as ``[risk]``, ``[notify]`` and ``[jobs]`` are next to theirs;
`crmhub.config.Settings` gathers every package's section into the one configuration. This module imports nothing
of crmhub, because `crmhub.config` imports it (the import-linter contract "settings modules are leaves" in
pyproject.toml keeps it so).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SyncStrict(BaseModel):
    """Sync settings reject unknown keys, like the rest of the configuration."""

    model_config = ConfigDict(extra="forbid")


class MatchingSettings(SyncStrict):
    """``[sync.matching]``: thresholds on the match probability (0-1)."""

    auto_merge: float = Field(default=0.95, ge=0, le=1, description="At or above: same company, merged.")
    review: float = Field(default=0.6, ge=0, le=1, description="At or above (below auto_merge): review queue.")


SurvivorshipRuleName = Literal["source_priority", "prefer_unless_blank", "most_recent", "most_complete"]


class FieldRule(SyncStrict):
    """How one golden field picks its value among the sources."""

    rule: SurvivorshipRuleName = "source_priority"
    sources: list[str] = Field(default_factory=list, description="Connector names, most trusted first.")


class WorkersSettings(SyncStrict):
    """``[sync.workers]``: how a sync run is split when it runs on ``crmhub worker`` processes (docs/scaling.md)."""

    partitions: int = Field(
        default=8, ge=1, le=256, description="Golden-client id ranges of the merge, risk and plan phases."
    )
    max_tries: int = Field(default=3, ge=1, le=20, description="Tries of one task before the run fails.")
    task_timeout: float = Field(
        default=3600,
        ge=0,
        description="Seconds after which a stuck ingest or deliver task is stopped and tried again (0: never); "
        "other phases cannot be stopped half-way and only log a warning.",
    )


class SyncSettings(SyncStrict):
    """``[sync]``: matching, survivorship and write-back behaviour."""

    executor: Literal["process", "workers"] = Field(
        default="process",
        description="``process``: `crmhub sync` runs the cycle itself; ``workers``: split into tasks run by "
        "`crmhub worker` processes (PostgreSQL store only).",
    )
    workers: WorkersSettings = Field(default_factory=WorkersSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    source_priority: list[str] = Field(
        default_factory=list, description="Default trust order of connectors (empty: ledger, then CRMs)."
    )
    fields: dict[str, FieldRule] = Field(default_factory=dict, description="Per-field survivorship rules.")
    write_batch: int = Field(default=100, ge=1, le=100)
    shared_budget: Literal[True, False, "auto"] = Field(
        default="auto",
        description=(
            "Pace calls to each outside service (Fenxiang's per-path window, Zoho's concurrency) with budgets kept "
            "in the store, shared by every crmhub process on it: true, false (each process paces alone) or auto "
            "(shared when [store] is PostgreSQL)."
        ),
    )
    dead_letter_alert_threshold: int = Field(default=50, ge=0)

    @field_validator("shared_budget", mode="before")
    @classmethod
    def _budget_mode(cls, value: object) -> object:
        if value not in (True, False, "auto") or (isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError('expected true, false or "auto"')
        return value
