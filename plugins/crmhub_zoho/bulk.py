"""Bulk Read for large first loads: one job per 200,000 records, the CSV streamed out of the ZIP.

Why: a first load of millions of records through list pages costs one credit and one round trip per 200 records;
a Bulk Read job exports 200,000 per file. The ZIP is streamed to a temporary file and read row by row through
``zipfile`` + ``csv`` — never loaded whole. Each yielded page carries ``{"mode": "bulk", "job", "page", "row",
"started"}``: after a crash the same job's file is downloaded again (results stay available for a day) and the
first ``row`` rows are skipped; if the job is gone, a new job for the same page is created and rows up to the
last id already yielded are skipped (Bulk Read files list records by ascending id). When the last file is read
the cursor becomes incremental from the moment the first job was created, so edits made during the export are
read by the next run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from typing import IO, Any

from crmhub.contract import Cursor, Page, RejectedRecord, SourceRecord
from crmhub.errors import FatalError, RetriableError
from crmhub_zoho.client import ZohoApiError, ZohoClient
from crmhub_zoho.config import ZohoConfig

MapFn = Callable[[dict[str, Any]], SourceRecord | RejectedRecord]


class BulkReader:
    """Runs Bulk Read jobs for one module and yields their rows as pages."""

    def __init__(
        self,
        client: ZohoClient,
        config: ZohoConfig,
        *,
        stream: str,
        module: str,
        fields: Sequence[str],
        map_fn: MapFn,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.config = config
        self.stream = stream
        self.module = module
        self.fields = [f for f in fields if f != "id"]
        self.map_fn = map_fn
        self.sleep = sleep
        self.jobs_created = 0

    async def read(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Pages of every record, from ``cursor`` (a ``bulk`` cursor) or from the start."""
        state = dict(cursor or {})
        page = int(state.get("page", 1))
        skip_rows = int(state.get("row", 0))
        last_id = state.get("last_id")
        job_id: str | None = state.get("job")
        started: str | None = state.get("started")
        while True:
            job = await self._completed_job(job_id, page)
            job_id = str(job["id"])
            started = started or str(job.get("created_time"))
            result = job.get("result") or {}
            resumed_same_job = state.get("job") == job_id
            archive = await self.client.download(
                f"/crm/bulk/{self.config.api_version}/read/{job_id}/result", stream=self.stream
            )
            try:
                row = 0
                batch: list[dict[str, Any]] = []
                last_yielded = last_id
                for record in _rows(archive):
                    row += 1
                    if resumed_same_job and row <= skip_rows:
                        continue
                    if not resumed_same_job and last_id is not None and _id_le(record.get("id"), last_id):
                        continue
                    batch.append(record)
                    if len(batch) >= self.config.page_size:
                        last_yielded = str(batch[-1].get("id"))
                        yield self._page(
                            batch,
                            {
                                "v": 1,
                                "mode": "bulk",
                                "job": job_id,
                                "page": page,
                                "row": row,
                                "last_id": last_yielded,
                                "started": started,
                            },
                        )
                        batch = []
                more = bool(result.get("more_records"))
                if batch:
                    last_yielded = str(batch[-1].get("id"))
                if more:
                    yield self._page(
                        batch,
                        {
                            "v": 1,
                            "mode": "bulk",
                            "job": None,
                            "page": page + 1,
                            "row": 0,
                            "last_id": last_yielded,
                            "started": started,
                        },
                    )
                else:
                    yield self._page(batch, {"v": 1, "mode": "incremental", "since": started, "seen": []})
                    return
            finally:
                archive.close()
            page, job_id, skip_rows, last_id, state = page + 1, None, 0, last_yielded, {}

    async def _completed_job(self, job_id: str | None, page: int) -> dict[str, Any]:
        """A completed job: the cursor's job if it still exists, else a new one; FAILURE retries once."""
        if job_id is not None:
            try:
                return await self._wait(job_id)
            except (ZohoApiError, _JobFailed):
                pass
        for attempt in range(2):
            details = await self.client.bulk_create(self.module, ["id", *self.fields], page=page, stream=self.stream)
            self.jobs_created += 1
            try:
                return await self._wait(str(details["id"]))
            except _JobFailed as exc:
                if attempt == 1:
                    raise FatalError(
                        f"Zoho Bulk Read job {exc} for {self.module} page {page} ended in FAILURE twice",
                        connector=self.client.connector,
                        stream=self.stream,
                        hint="retry later, or set bulk_threshold = 0 to read through list pages",
                    ) from None
        raise AssertionError("unreachable")

    async def _wait(self, job_id: str) -> dict[str, Any]:
        delay = self.config.bulk_poll_interval
        waited = 0.0
        while True:
            job = await self.client.bulk_status(job_id, stream=self.stream)
            state = job.get("state")
            if state == "COMPLETED":
                return job
            if state == "FAILURE":
                raise _JobFailed(job_id)
            if waited >= self.config.bulk_timeout:
                raise RetriableError(
                    f"Zoho Bulk Read job {job_id} still {state} after {waited:.0f} s",
                    connector=self.client.connector,
                    stream=self.stream,
                    hint="the run can be repeated; it resumes with the same job",
                )
            await self.sleep(delay)
            waited += delay
            delay = min(delay * 1.5, self.config.bulk_poll_max)

    def _page(self, batch: list[dict[str, Any]], cursor: Cursor) -> Page:
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for rec in batch:
            out = self.map_fn(rec)
            if isinstance(out, SourceRecord):
                records.append(out)
            else:
                rejected.append(out)
        return Page(records, cursor, rejected)


class _JobFailed(Exception):
    """A Bulk Read job ended in FAILURE."""


def _id_le(value: Any, last: str) -> bool:
    text = str(value or "")
    return (len(text), text) <= (len(last), last)


def _rows(archive: IO[bytes]) -> Any:
    """Rows of the (single) CSV inside a Bulk Read ZIP, as dicts with empty cells as None; streamed."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
        if len(names) != 1:
            raise FatalError(f"a Bulk Read ZIP should hold one CSV, it holds {len(names)}")
        with zf.open(names[0]) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            for row in csv.DictReader(text):
                yield {k: (v if v != "" else None) for k, v in row.items()}
