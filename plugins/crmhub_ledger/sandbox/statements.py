"""Synthetic MT940 statement files, for the import benchmark and the bounded-memory test.

Every statement reuses ``:20:STARTUMS`` / ``:28C:0`` like many real banks do, ties out (opening + movements =
closing, each statement opening with the previous closing), and carries German-style structured ``:86:`` text.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path


def _amount(cents: int) -> str:
    return f"{abs(cents) // 100},{abs(cents) % 100:02d}"


def _mark(cents: int) -> str:
    return "C" if cents >= 0 else "D"


def write_mt940(path: Path, *, statements: int, lines_per_statement: int, account: str = "DE44500105175407324931",
                first_day: date = date(2024, 1, 1), currency: str = "EUR") -> int:
    """Write ``statements`` daily statements of ``lines_per_statement`` lines each; returns the number of lines."""
    balance = 1_000_000
    written = 0
    with path.open("w", encoding="utf-8", newline="\r\n") as out:
        for number in range(statements):
            day = first_day + timedelta(days=number)
            stamp = day.strftime("%y%m%d")
            out.write(f":20:STARTUMS\n:25:{account}\n:28C:0\n:60F:{_mark(balance)}{stamp}{currency}"
                      f"{_amount(balance)}\n")
            for k in range(lines_per_statement):
                cents = (k * 7919 + number * 104_729) % 5_000_000 + 1
                cents = cents if k % 3 else -cents
                balance += cents
                out.write(f":61:{stamp}{stamp[2:]}{_mark(cents)}{_amount(cents)}NTRFREF{number}-{k}//B{k}\n"
                          f":86:166?00SEPA-UEBERWEISUNG?20EREF+{number}-{k}?21Rechnung {k}?32Beispiel GmbH "
                          f"{k % 97}?31DE1234567890?30COBADEFFXXX\n")
                written += 1
            out.write(f":62F:{_mark(balance)}{stamp}{currency}{_amount(balance)}\n-\n")
    return written
