"""Bulk Write for large write-backs: a zipped CSV per ≤ 25,000 records, one asynchronous job each.

Why: through the record API a write-back of N records is N / 100 heavy calls under the sub-concurrency of 10;
a Bulk Write job takes a whole file and Zoho applies it on its side, so a large change set leaves the sync's
critical path. The steps follow the fact sheet ("Bulk Write"): upload the ZIP to the file-upload server (multipart
``file``, ``feature: bulk-write``, ``X-CRM-ORG: <zgid>``) → ``file_id``; ``POST /crm/bulk/v8/write`` with
``operation`` ``update`` (records with a Zoho id, ``find_by: id``) or ``upsert`` (new records, ``find_by`` the first
duplicate-check field, USCC by default); poll ``GET /crm/bulk/v8/write/{id}`` until ``COMPLETED`` or ``FAILED``
(polling is the reliable path, no callback); download ``result.download_url`` (a ZIP of one CSV: the first mapped
columns plus ``RECORD_ID``, ``STATUS``, ``ERRORS``) and map every row back to its record.

**One row per record, in order.** Row *i* of a file is record *i* of its group, so the result's row *i* is that
record's outcome; for updates the ``id`` column (the first mapped column) is checked too and rows are matched by id
when the order disagrees. A record with no result row gets a retriable error.

**Crash safety.** A job is never resumed: if the process dies before the result was fetched, the outbox rows stay
``sent`` and the next run sends them again in a new job. That is safe because every row is keyed — updates by the
Zoho ``id``, upserts by USCC — so applying the same file twice leaves the same values (only ``Modified_Time`` moves).

**Empty cells.** Jobs run with ``ignore_empty: false`` so an explicit null clears a field as it does through the
record API; records are therefore grouped by the exact set of fields they carry (a missing key must not become an
empty cell that clears the field). Groups smaller than the threshold go through the record API.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crmhub.contract import OutboundRecord, PushResult
from crmhub.core.chunks import chunked
from crmhub.errors import AuthError, FatalError, IntegrationError
from crmhub_zoho.client import ZohoApiError, ZohoClient
from crmhub_zoho.config import ZohoConfig

RETRIABLE_CODES = frozenset({"LIMIT_EXCEEDED", "CANNOT_PROCESS", "RECORD_LOCKED"})
"""Row error codes worth another attempt (the rest are data errors a retry cannot fix)."""


@dataclass(slots=True)
class Group:
    """Records sent in one Bulk Write job: same operation, same columns."""

    operation: str  # "update" | "upsert"
    columns: tuple[str, ...]
    indexes: list[int]


def plan_groups(payloads: Sequence[dict[str, Any]], by_id: Sequence[bool], *, file_records: int) -> list[Group]:
    """Split records into jobs: by operation and exact column set, at most ``file_records`` per job."""
    buckets: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, payload in enumerate(payloads):
        op = "update" if by_id[i] else "upsert"
        cols = tuple(sorted(payload, key=lambda k: (k != "id", k)))
        buckets.setdefault((op, cols), []).append(i)
    groups: list[Group] = []
    for (op, cols), indexes in buckets.items():
        groups.extend(Group(op, cols, chunk) for chunk in chunked(indexes, file_records))
    return groups


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def build_file(columns: Sequence[str], rows: Sequence[dict[str, Any]], name: str) -> tuple[bytes, list[str]]:
    """A ZIP holding one UTF-8 CSV (header of API names, lookups as ``Field.id``; one row per record), and the
    header."""
    header = [f"{c}.id" if any(isinstance(r.get(c), dict) for r in rows) else c for c in columns]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.csv", text.getvalue().encode("utf-8"))
    return buf.getvalue(), header


def field_mappings(columns: Sequence[str], header: Sequence[str]) -> list[dict[str, Any]]:
    """``[{api_name, index}]`` for every column; lookup columns (``Field.id``) add ``find_by: id``."""
    out: list[dict[str, Any]] = []
    for index, (api, head) in enumerate(zip(columns, header, strict=True)):
        mapping: dict[str, Any] = {"api_name": api, "index": index}
        if head.endswith(".id") and api != "id":
            mapping["find_by"] = "id"
        out.append(mapping)
    return out


def read_result(archive: Any) -> list[dict[str, str]]:
    """Rows of the result ZIP's single CSV (upper-cased status columns as Zoho writes them)."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
        if len(names) != 1:
            raise FatalError(f"a Bulk Write result ZIP should hold one CSV, it holds {len(names)}")
        with zf.open(names[0]) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            return [{k.strip(): (v or "") for k, v in row.items() if k is not None} for row in csv.DictReader(text)]


class BulkWriter:
    """Runs Bulk Write jobs for one connector and turns their result files into `PushResult` lists."""

    def __init__(
        self,
        client: ZohoClient,
        config: ZohoConfig,
        *,
        canonical_of: Callable[[str, str | None], str | None],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.config = config
        self.canonical_of = canonical_of
        self.sleep = sleep
        self.jobs_created = 0

    async def run(
        self,
        stream: str,
        module: str,
        group: Group,
        records: Sequence[OutboundRecord],
        payloads: Sequence[dict[str, Any]],
        find_by: str,
    ) -> list[PushResult]:
        """One job for ``group``; one result per index of the group, in the group's order."""
        rows = [payloads[i] for i in group.indexes]
        recs = [records[i] for i in group.indexes]
        try:
            archive, header = build_file(group.columns, rows, module)
            file_id = await self.client.bulk_upload(archive, f"{module}.zip", stream=stream)
            body = {
                "operation": group.operation,
                "ignore_empty": False,
                "character_encoding": "UTF-8",
                "resource": [
                    {
                        "type": "data",
                        "module": {"api_name": module},
                        "file_id": file_id,
                        "field_mappings": field_mappings(group.columns, header),
                        "find_by": "id" if group.operation == "update" else find_by,
                    }
                ],
            }
            job_id = await self.client.bulk_write_create(body, stream=stream)
            self.jobs_created += 1
            job = await self._wait(job_id, stream)
        except (ZohoApiError, IntegrationError) as exc:
            if isinstance(exc, AuthError) or (isinstance(exc, FatalError) and not isinstance(exc, ZohoApiError)):
                raise
            return [
                PushResult(
                    key=r.key,
                    status="error",
                    source_id=r.source_id,
                    reason=str(exc),
                    retriable=not isinstance(exc, FatalError),
                )
                for r in recs
            ]
        if job is None or job.get("status") != "COMPLETED":
            state = "did not finish in time" if job is None else f"ended {job.get('status')}"
            reason = f"Zoho Bulk Write job {job_id} {state}; the records are sent again in a new job"
            return [
                PushResult(key=r.key, status="error", source_id=r.source_id, reason=reason, retriable=True)
                for r in recs
            ]
        url = str((job.get("result") or {}).get("download_url") or "")
        if not url:
            return [
                PushResult(
                    key=r.key,
                    status="error",
                    source_id=r.source_id,
                    retriable=True,
                    reason=f"Zoho Bulk Write job {job_id} completed without a result file",
                )
                for r in recs
            ]
        try:
            archive_io = await self.client.download(url, stream=stream)
            try:
                result_rows = read_result(archive_io)
            finally:
                archive_io.close()
        except (ZohoApiError, IntegrationError, zipfile.BadZipFile) as exc:
            if isinstance(exc, AuthError) or (isinstance(exc, FatalError) and not isinstance(exc, ZohoApiError)):
                raise
            # the job ran: sending the records again in a new job is idempotent, so every record is retriable
            return [
                PushResult(
                    key=r.key,
                    status="error",
                    source_id=r.source_id,
                    retriable=True,
                    reason=f"Zoho Bulk Write job {job_id}: its result file could not be read ({exc})",
                )
                for r in recs
            ]
        return self._match(stream, group, recs, result_rows, job_id)

    async def _wait(self, job_id: str, stream: str) -> dict[str, Any] | None:
        """The job once ``COMPLETED``/``FAILED``; None after ``bulk_timeout``."""
        wb = self.config.write_back
        delay, waited = wb.bulk_poll_interval, 0.0
        while True:
            job = await self.client.bulk_write_status(job_id, stream=stream)
            if job.get("status") in ("COMPLETED", "FAILED", "FAILURE"):  # FAILURE is Bulk Read's word; tolerated
                return job
            if waited >= wb.bulk_timeout:
                return None
            await self.sleep(delay)
            waited += delay
            delay = min(delay * 1.5, wb.bulk_poll_max)

    def _match(
        self, stream: str, group: Group, recs: Sequence[OutboundRecord], rows: list[dict[str, str]], job_id: str
    ) -> list[PushResult]:
        by_order = len(rows) == len(recs)
        if group.operation == "update" and rows and "id" in rows[0]:
            by_order = by_order and all(rows[i].get("id") == (recs[i].source_id or "") for i in range(len(recs)))
            by_id = {row.get("id"): row for row in rows}
        else:
            by_id = {}
        out = []
        for i, rec in enumerate(recs):
            row = rows[i] if by_order else by_id.get(rec.source_id or "")
            if row is None:
                out.append(
                    PushResult(
                        key=rec.key,
                        status="error",
                        source_id=rec.source_id,
                        retriable=True,
                        reason=f"Zoho Bulk Write job {job_id} has no result row for this record",
                    )
                )
            else:
                out.append(self._row_result(stream, rec, row))
        return out

    def _row_result(self, stream: str, rec: OutboundRecord, row: dict[str, str]) -> PushResult:
        status = (row.get("STATUS") or "").strip().upper()
        record_id = (row.get("RECORD_ID") or "").strip() or rec.source_id
        if status in ("ADDED", "UPDATED"):
            return PushResult(
                key=rec.key,
                status="ok",
                source_id=record_id,
                action="insert" if status == "ADDED" else "update",
                raw=dict(row),
            )
        errors = (row.get("ERRORS") or "").strip()
        first = errors.split(":")[0] if errors else ""
        code, _, columns = first.partition("-")
        field = columns.split(",")[0].removesuffix(".id") or None if columns else None
        if status == "UNPROCESSED" and not code:
            code = "UNPROCESSED"
        reason = f"{code or status or 'UNKNOWN'}: Bulk Write row {status.lower() or 'without status'}"
        if field:
            reason += f" (field {field})"
        if errors and ":" in errors:
            reason += f"; all errors: {errors}"
        return PushResult(
            key=rec.key,
            status="error",
            source_id=rec.source_id,
            reason=reason,
            field=self.canonical_of(stream, field),
            retriable=code in RETRIABLE_CODES or status == "UNPROCESSED",
            raw=dict(row),
        )
