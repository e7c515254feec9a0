"""The contract of a bank-statement parser: what a plugin offers through ``crmhub_statement_importers``.

``crmhub ledger import FILE`` books a statement file (SWIFT MT940, ISO 20022 camt.053 …) into the ledger tables.
The core does not know any statement format: it reads the first bytes of the file, asks each importer the loaded
plugins offer whether it ``accepts`` them, and reads the file with the first that does (or with the only one, so
its own detailed error names the line that is wrong). A parser yields `crmhub.statements.model.StatementSource`
objects (lines in batches, then the statement's balances), giving each line its identity with
`crmhub.statements.identity`; the core books them (`crmhub.sync.statement_booking`: re-import, tie-out, one
transaction per statement) and returns one `StatementResult` per statement, which the CLI prints and turns into
the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmhub.statements.model import StatementSource

SNIFF_BYTES = 4096
"""How much of a file the core reads to let importers recognise their format."""


@dataclass(slots=True)
class StatementResult:
    """What happened to one statement of a file (one JSON line of ``crmhub ledger import --json``)."""

    file: str
    statement: str
    account: str
    status: str = "imported"
    """``imported`` (new lines stored), ``already_imported`` (every line was stored before), ``empty`` (no booked
    lines), ``rejected`` (nothing of it stored; see ``error``)."""
    format: str | None = None
    statement_id: str | None = None
    currency: str | None = None
    opening_date: date | None = None
    closing_date: date | None = None
    entries: int = 0
    inserted: int = 0
    already_present: int = 0
    from_other_statement: int = 0
    matched_account: bool = False
    ties_out: bool | None = None
    error: str | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    more_notes: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (dates as ISO strings)."""
        out = asdict(self)
        out["opening_date"] = self.opening_date.isoformat() if self.opening_date else None
        out["closing_date"] = self.closing_date.isoformat() if self.closing_date else None
        return out


ReadStatements = Callable[[Path, "str | None"], Iterator["StatementSource"]]
"""``(file, account) → statements``: the file's statements one at a time, streamed; ``account`` is the ledger account
the lines belong to (``None``: each statement's own). Raises `crmhub.errors.InputError` naming the file and line
when the file cannot be read as a statement file, or (from a statement's ``batches``) when one statement is broken."""


@dataclass(frozen=True, slots=True)
class StatementImporter:
    """A statement parser offered by a plugin: its name, the formats it reads, how to recognise them and how to
    read a file's statements (the core books them)."""

    name: str
    formats: tuple[str, ...]
    accepts: Callable[[bytes], bool]
    """True when the first `SNIFF_BYTES` of a file look like one of ``formats`` (by content, not file name)."""
    read: ReadStatements
