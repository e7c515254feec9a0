"""``--reveal`` / ``--reason``: unmasked personal data, only with a stated purpose, always audited.

Every command that can print personal data in clear takes the same two options; ``--reveal`` without
``--reason`` is a usage error, and the reveal is written to the audit log (`crmhub.sync.audit.record_reveal`)
with the OS user and the reason before anything is printed.
"""

from __future__ import annotations

import click
import typer

from crmhub.i18n import t

RevealOption = typer.Option(False, "--reveal", help="Print personal data unmasked (needs --reason; audited).")
ReasonOption = typer.Option(None, "--reason", help="Why the personal data is needed in clear (with --reveal).")


def check_reveal(reveal: bool, reason: str | None) -> str | None:
    """The reason to audit when revealing (None when masked); a usage error for ``--reveal`` without a reason."""
    if not reveal:
        if reason is not None:
            raise click.UsageError(t("reason_without_reveal"))
        return None
    if reason is None or not reason.strip():
        raise click.UsageError(t("reveal_needs_reason"))
    return reason.strip()
