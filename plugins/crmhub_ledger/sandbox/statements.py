"""Synthetic MT940 and camt.053 statement files, for the import benchmark and the bounded-memory tests.

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


def write_mt940(
    path: Path,
    *,
    statements: int,
    lines_per_statement: int,
    account: str = "DE44500105175407324931",
    first_day: date = date(2024, 1, 1),
    currency: str = "EUR",
) -> int:
    """Write ``statements`` daily statements of ``lines_per_statement`` lines each; returns the number of lines."""
    balance = 1_000_000
    written = 0
    with path.open("w", encoding="utf-8", newline="\r\n") as out:
        for number in range(statements):
            day = first_day + timedelta(days=number)
            stamp = day.strftime("%y%m%d")
            out.write(
                f":20:STARTUMS\n:25:{account}\n:28C:0\n:60F:{_mark(balance)}{stamp}{currency}{_amount(balance)}\n"
            )
            for k in range(lines_per_statement):
                cents = (k * 7919 + number * 104_729) % 5_000_000 + 1
                cents = cents if k % 3 else -cents
                balance += cents
                out.write(
                    f":61:{stamp}{stamp[2:]}{_mark(cents)}{_amount(cents)}NTRFREF{number}-{k}//B{k}\n"
                    f":86:166?00SEPA-UEBERWEISUNG?20EREF+{number}-{k}?21Rechnung {k}?32Beispiel GmbH "
                    f"{k % 97}?31DE1234567890?30COBADEFFXXX\n"
                )
                written += 1
            out.write(f":62F:{_mark(balance)}{stamp}{currency}{_amount(balance)}\n-\n")
    return written


_CAMT_ENTRY = """<Ntry><NtryRef>E{i}</NtryRef><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>
<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
<NtryDtls><TxDtls><RltdPties><{side}><Nm>Beispiel GmbH {k}</Nm></{side}></RltdPties>
<RmtInf><Ustrd>Rechnung {i}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
"""


def write_camt053(
    path: Path,
    *,
    entries: int,
    account: str = "DE44500105175407324931",
    day: date = date(2024, 1, 2),
    currency: str = "EUR",
) -> int:
    """Write one camt.053.001.02 statement with ``entries`` booked entries that ties out; returns ``entries``."""
    opening = 1_000_000
    amounts = [(k * 7919) % 500_000 + 1 for k in range(entries)]
    signed = [a if k % 3 else -a for k, a in enumerate(amounts)]
    closing = opening + sum(signed)

    def money(cents: int) -> str:
        return f"{abs(cents) // 100}.{abs(cents) % 100:02d}"

    def balance(code: str, cents: int) -> str:
        return (
            f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{money(cents)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if cents >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>\n"
        )

    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
            'camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2024-01-02T18:00:00'
            f"</CreDtTm></GrpHdr>\n<Stmt><Id>STMT</Id><Acct><Id><IBAN>{account}</IBAN></Id><Ccy>{currency}"
            "</Ccy></Acct>\n" + balance("OPBD", opening) + balance("CLBD", closing)
        )
        for i, cents in enumerate(signed):
            out.write(
                _CAMT_ENTRY.format(
                    i=i,
                    ccy=currency,
                    amount=money(cents),
                    ind="CRDT" if cents > 0 else "DBIT",
                    day=day,
                    side="Dbtr" if cents > 0 else "Cdtr",
                    k=i % 97,
                )
            )
        out.write("</Stmt></BkToCstmrStmt></Document>\n")
    return entries
