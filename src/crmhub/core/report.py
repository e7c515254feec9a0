"""The run report: what a sync read, changed, merged, wrote and rejected, per connector and stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmhub.model.text import FreeText


class ConnectorReport(BaseModel):
    """One connector's part of a run. ``error`` often quotes the outside system's answer: it is cleaned of control
    characters and escapes when set (text hygiene), so the stored report and the terminal stay clean."""

    model_config = ConfigDict(validate_assignment=True)

    status: Literal["ok", "failed", "stopped", "skipped"] = "ok"
    error: FreeText | None = None
    streams: dict[str, dict[str, Any]] = Field(default_factory=dict)
    api: dict[str, float] = Field(default_factory=dict)
    written_back: int = 0
    write_failed: int = 0
    write_retried: int = 0
    write_queued: int = 0
    """Write-backs left queued for this connector when the run ended (sent later by `crmhub deliver`)."""
    write_eta_s: float | None = None
    """Time to send the queued ones at the pace this run measured (None when nothing was sent to measure)."""
    write_note: str | None = None
    """Why the run sent nothing to this target although it has a queue (e.g. a deliverer is draining it)."""
    duration_s: float = 0.0


class PlannedChange(BaseModel):
    """One write in a dry-run plan."""

    connector: str
    stream: str
    action: Literal["create", "update"]
    client_id: int
    client_name: str
    source_id: str | None
    fields: dict[str, dict[str, Any]]


class RunTotals(BaseModel):
    """Run-wide counts."""

    clients_created: int = 0
    clients_updated: int = 0
    records_linked: int = 0
    conflicts: int = 0
    conflicts_queued: int = 0
    review_items: int = 0
    dead_letters: int = 0
    data_quality: int = 0
    """Records read this run that were kept despite a data-quality finding (e.g. a USCC failing its check)."""
    planned_writes: int = 0
    written_back: int = 0
    write_failed: int = 0
    write_queued: int = 0
    risk_assessed: int = 0
    rating_changes: int = 0
    alerts_raised: int = 0
    interactions_linked: int = 0
    interactions_removed: int = 0
    interactions_pending: int = 0

    def shown(self) -> dict[str, int]:
        """The totals a report prints: every count, but the interaction ones only when non-zero (only connectors
        with an interaction stream produce them)."""
        return {k: v for k, v in self.model_dump().items() if v or not k.startswith("interactions_")}


class RunReport(BaseModel):
    """Everything `crmhub report` shows about one run."""

    model_config = ConfigDict(validate_assignment=True)

    run_id: int | None
    status: Literal["running", "succeeded", "partial", "failed", "interrupted"] = "running"
    dry_run: bool = False
    trigger: str = "manual"
    job: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float = 0.0
    connectors: dict[str, ConnectorReport] = Field(default_factory=dict)
    totals: RunTotals = Field(default_factory=RunTotals)
    phases: dict[str, float] = Field(default_factory=dict, description="Seconds spent per phase.")
    phase_cpu: dict[str, float] = Field(
        default_factory=dict,
        description="CPU seconds of this process per phase (all threads; phases run one at a time).",
    )
    plan: list[PlannedChange] = Field(default_factory=list)
    error: FreeText | None = Field(default=None, description="Cleaned when set, like ConnectorReport.error.")
    tasks: list[dict[str, Any]] | None = Field(
        default=None,
        description="A run split over workers (`crmhub sync --on-workers`): each task's phase, part, status, tries "
        "and worker; None for a single-process run.",
    )
    notifications: dict[str, Any] | None = Field(
        default=None,
        description="What the notify step after the run did (delivered, failed, unconfirmed …) and "
        "the notifications that may be lost or doubled (``uncertain``), for operators.",
    )

    def stream_rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(connector, stream, counts) for tables and charts."""
        return [(c, s, counts) for c, rep in self.connectors.items() for s, counts in rep.streams.items()]

    @property
    def changes(self) -> int:
        """Golden-record changes plus writes: zero for a rerun with nothing new."""
        t = self.totals
        return t.clients_created + t.clients_updated + t.written_back + t.planned_writes
