"""The contract of a bank-statement importer: what a plugin offers through ``crmhub_statement_importers``.

``crmhub ledger import FILE`` books a statement file (SWIFT MT940, ISO 20022 camt.053 …) into the ledger tables.
The core does not know any statement format: it reads the first bytes of the file, asks each importer the loaded
plugins offer whether it ``accepts`` them, and hands the file to the first that does (or to the only one, so its
own detailed error names the line that is wrong). What comes back is one `StatementResult` per statement of the
file, which the CLI prints and turns into the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

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


ImportFile = Callable[[Any, Path, "str | None", str], Sequence[StatementResult]]
"""``(store, file, account, connector) → results``: ``store`` is the open `crmhub.store.Store`; ``account`` the
ledger account the lines belong to (``None``: each statement's own); ``connector`` the ledger connector's name.
Raises `crmhub.errors.InputError` when the file cannot be read as a statement file at all (nothing stored)."""


@dataclass(frozen=True, slots=True)
class StatementImporter:
    """A statement importer offered by a plugin: its name, the formats it reads, how to recognise them and how to
    book a file."""

    name: str
    formats: tuple[str, ...]
    accepts: Callable[[bytes], bool]
    """True when the first `SNIFF_BYTES` of a file look like one of ``formats`` (by content, not file name)."""
    import_file: ImportFile
