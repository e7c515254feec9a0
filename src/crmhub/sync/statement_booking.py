"""Book a statement file into ``ledger_transaction``: one database transaction per statement, all or nothing.

The file is read by the parser a plugin offers (`crmhub.statements.StatementImporter.read`, through the
``crmhub_statement_importers`` hook); the booking — line identity, re-import, tie-out — is the core's, so every
statement format is booked by the same rules and no plugin writes to the store.

Why per statement: a statement is the bank's evidence for one account and period; storing part of it would make
the ledger disagree with the bank. So each statement is read in batches (`StatementSource`), its lines are given
their identity (`crmhub.statements.identity`), looked up once per batch and only new ones inserted; at its
end the opening balance plus the movements must equal the closing balance, else the whole statement is rolled
back and reported (account, statement number, date, both figures). Other statements of the file still import.
A line already stored is never updated: evidence is not overwritten.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.i18n import t
from crmhub.model import Direction
from crmhub.statements import ReadStatements, StatementResult
from crmhub.statements.identity import Sequencer, clean, clean_account, clean_fields, minor_units, source_id
from crmhub.statements.model import StatementLine, StatementSource, difference
from crmhub.store import Store
from crmhub.store.tables import LedgerAccount, LedgerTransaction
from crmhub.sync.ingest import Ingestor, _transaction_values

MAX_NOTES = 20
"""Notes (cleaned or cut text) listed per statement; the rest are counted."""


class StatementRejected(Exception):
    """The statement cannot be booked as it is; ``message`` says why, ``hint`` what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _ledger_account(session: Session, connector: str, key: str) -> LedgerAccount | None:
    return session.scalars(
        select(LedgerAccount).where(
            LedgerAccount.connector == connector, or_(LedgerAccount.source_id == key, LedgerAccount.account_no == key)
        )
    ).first()


class _Booking:
    """State of one statement being booked."""

    def __init__(
        self, session: Session, connector: str, source: StatementSource, account: str | None, result: StatementResult
    ) -> None:
        self.session = session
        self.connector = connector
        self.source = source
        self.result = result
        self.account = account
        self.sequencer = Sequencer()
        self.legacy_sequencer = Sequencer()
        self.net: dict[str, Decimal] = {}
        self.started = False
        self.statement_key = "?"
        self.acct: LedgerAccount | None = None
        self.legacy = False
        self.touched: set[str] = set()

    def start(self) -> None:
        """Once the statement's header is read (camt reads it as it goes): its key and ledger account."""
        self.started = True
        source = self.source
        # banks reuse :20:/:28C: and Stmt/Id, so the opening balance (date, amount) tells two statements apart
        self.statement_key = (
            clean(f"{source.statement_hint} {source.account_hint} {source.opening_hint}", 200, ("", ""), [], "") or "?"
        )
        key = clean_account(self.account or source.account_hint)
        self.acct = _ledger_account(self.session, self.connector, key) if key else None
        self.result.matched_account = self.acct is not None
        account = self.acct.source_id if self.acct is not None else key
        self.legacy = (
            account is not None
            and self.session.execute(
                select(LedgerTransaction.id)
                .where(
                    LedgerTransaction.connector == self.connector,
                    LedgerTransaction.account_source_id == account,
                    LedgerTransaction.statement_ref.like("legacy mt940:%"),
                )
                .limit(1)
            ).first()
            is not None
        )

    def note(self, notes: list[str]) -> None:
        for text in notes:
            if len(self.result.notes) < MAX_NOTES:
                self.result.notes.append(text)
            else:
                self.result.more_notes += 1

    def row(self, line: StatementLine) -> dict[str, Any]:
        notes: list[str] = []
        update, reference = clean_fields(line.tx, line.reference, line.where, notes)
        self.note(notes)
        tx = line.tx
        raw_account = self.acct.source_id if self.acct is not None else tx.account_source_id
        account = clean_account(raw_account)
        if account is None:
            raise StatementRejected(
                t("ledger_import_bad_account", where=line.where, value=raw_account[:80]),
                t("ledger_import_bad_account_hint"),
            )
        try:
            cents = minor_units(tx.amount.amount)
        except ValueError as exc:
            raise StatementRejected(
                t("ledger_import_bad_amount", where=line.where, problem=str(exc)), t("ledger_import_bad_amount_hint")
            ) from None
        currency = tx.amount.currency
        sign = Decimal(1) if tx.direction is Direction.CREDIT else Decimal(-1)
        self.net[currency] = self.net.get(currency, Decimal(0)) + sign * tx.amount.amount
        seq = self.sequencer.next(account, tx.booking_date, tx.direction, cents, currency, reference)
        ident = source_id(account, tx.booking_date, tx.direction, cents, currency, reference, seq)
        client = tx.client_source_id or (self.acct.client_source_id if self.acct is not None else None)
        tx = tx.model_copy(
            update={**update, "source_id": ident, "account_source_id": account, "client_source_id": client}
        )
        if client:
            self.touched.add(client)
        legacy = None
        if self.legacy:  # MT940 rows booked before migration 0003 kept no line reference: matched without it
            legacy_seq = self.legacy_sequencer.next(account, tx.booking_date, tx.direction, cents, currency, "")
            legacy = (
                source_id(account, tx.booking_date, tx.direction, cents, currency, "", legacy_seq)
                if reference
                else None
            )
        return {
            "connector": self.connector,
            "source_id": ident,
            **_transaction_values(tx),
            "reference": reference,
            "line_seq": seq,
            "statement_ref": self.statement_key,
            "_legacy": legacy,
        }

    def batch(self, lines: list[StatementLine]) -> None:
        if not self.started:
            self.start()
        rows = [self.row(line) for line in lines]
        wanted = [r["source_id"] for r in rows] + [r["_legacy"] for r in rows if r["_legacy"]]
        found = {
            sid: ref
            for sid, ref in self.session.execute(
                select(LedgerTransaction.source_id, LedgerTransaction.statement_ref).where(
                    LedgerTransaction.connector == self.connector, LedgerTransaction.source_id.in_(wanted)
                )
            )
        }
        new: list[dict[str, Any]] = []
        for r in rows:
            legacy = r.pop("_legacy")
            stored = found.get(r["source_id"])
            if stored is None and legacy and (found.get(legacy) or "").startswith("legacy mt940:"):
                stored = found[legacy]
            if stored is None:
                new.append(r)
                continue
            self.result.already_present += 1
            self.result.from_other_statement += stored != self.statement_key
        if new:
            self.session.execute(insert(LedgerTransaction), new)
        self.result.entries += len(lines)
        self.result.inserted += len(new)

    def finish(self) -> None:
        if not self.started:
            self.start()
        summary = self.source.summary()
        r = self.result
        r.format, r.statement_id, r.currency = summary.format, summary.statement_id, summary.currency
        r.opening_date = summary.opening.on if summary.opening else None
        r.closing_date = summary.closing.on if summary.closing else None
        net = (
            self.net.get(summary.currency or "", Decimal(0)) if summary.currency else sum(self.net.values(), Decimal(0))
        )
        diff = difference(summary.opening, summary.closing, net)
        r.ties_out = None if diff is None else diff == 0
        if diff is not None and diff != 0:
            assert summary.opening is not None and summary.closing is not None
            raise StatementRejected(
                t(
                    "ledger_import_no_tie_out",
                    statement=self.source.label,
                    day=summary.closing.on or summary.opening.on or "?",
                    opening=summary.opening.amount.amount,
                    net=net,
                    computed=summary.opening.amount.amount + net,
                    closing=summary.closing.amount.amount,
                    diff=diff,
                    currency=summary.currency or "",
                ),
                t("ledger_import_no_tie_out_hint"),
            )
        if r.entries == 0:
            r.status = "empty"
        elif r.inserted == 0:
            r.status = "already_imported"
        Ingestor(self.connector, None)._flag_risk(self.session, self.touched)


def _book(store: Store, connector: str, source: StatementSource, account: str | None, file: Path) -> StatementResult:
    result = StatementResult(file=str(file), statement=source.label, account=account or source.account_hint)
    try:
        with store.begin() as session:
            booking = _Booking(session, connector, source, account, result)
            for lines in source.batches():
                booking.batch(lines)
            booking.finish()
    except StatementRejected as exc:
        _rejected(result, f"{file}: {exc.message}", exc.hint)
    except InputError as exc:
        _rejected(result, exc.message, exc.hint or t("ledger_import_fix_file_hint"))
    except IntegrityError:  # another import booked the same lines between our lookup and our insert
        _rejected(result, t("ledger_import_concurrent", file=file), t("ledger_import_concurrent_hint"))
    except ValueError as exc:  # a value the parser did not foresee (e.g. camt `<Dt>2024-13-01</Dt>`): this statement
        _rejected(result, f"{file}: {source.label}: {exc}", t("ledger_import_fix_file_hint"))  # only, never a crash
    result.statement, result.account = source.label, account or source.account_hint
    return result


def _rejected(result: StatementResult, message: str, hint: str | None) -> None:
    result.status, result.error, result.hint = "rejected", message, hint
    result.inserted = result.already_present = result.from_other_statement = 0


def import_file(
    store: Store, file: Path, read: ReadStatements, account: str | None = None, connector: str = "ledger"
) -> list[StatementResult]:
    """Book every statement ``read`` finds in ``file``; a broken file part after good statements is reported as
    rejected.

    Raises `InputError` only when the file cannot be read as a statement file at all (nothing stored).
    """
    results: list[StatementResult] = []
    statements = read(file, account)
    try:
        for source in statements:
            results.append(_book(store, connector, source, account, file))
    except InputError as exc:
        if not results:
            raise
        rest = StatementResult(file=str(file), statement=t("ledger_import_rest_of_file"), account=account or "")
        _rejected(rest, exc.message, exc.hint or t("ledger_import_fix_file_hint"))
        results.append(rest)
    return results
