"""THE table of who may do what: every CLI command → the roles allowed to run it (one of them suffices).

The guard (`crmhub.security.guard`) consults only this table, before any command body runs; docs/security.md
shows the same table (`render_markdown`; tests/security/test_roles.py compares them, and fails for a command that
has no row here). ``FOUR_EYES`` says which actions need a second person, and which role that person needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crmhub.errors import AccessError

ROLES = ("viewer", "operator", "approver", "aml_officer", "admin")
"""viewer: read, masked · operator: run syncs, retry dead letters, propose · approver: approve others' proposals ·
aml_officer: AML alerts and dispositions · admin: operators and configuration."""

Kind = Literal["open", "read", "act"]


@dataclass(frozen=True, slots=True)
class Rule:
    """``open``: anyone (touches no store data) · ``read``: masked reading, open to anyone while
    ``[security] open_reads`` is true, else any registered operator · ``act``: a registered, enabled operator
    with one of ``roles``."""

    kind: Kind
    roles: tuple[str, ...] = ()


_ANY: tuple[str, ...] = ROLES
_OP = ("operator",)
_AML = ("aml_officer",)
_ADMIN = ("admin",)
_AUDIT = ("admin", "approver", "aml_officer")
"""Who reads the audit trail itself: it names every actor and what they touched (masked)."""

COMMANDS: dict[str, Rule] = {
    "init": Rule("open"),
    "demo": Rule("open"),
    "sandbox serve": Rule("open"),
    "plugins list": Rule("open"),
    "plugins new connector": Rule("open"),  # writes files from the template; touches no store
    "plugins new channel": Rule("open"),
    "config check": Rule("read", _ANY),
    "db upgrade": Rule("act", _ADMIN),
    "users add": Rule("act", _ADMIN),
    "users list": Rule("read", _ANY),
    "users disable": Rule("act", _ADMIN),
    "users passwd": Rule("act", _ANY),  # admin for anyone; every other operator only for themself
    "connectors check": Rule("act", (*_OP, "admin")),
    "pull": Rule("act", _OP),
    "push": Rule("act", _OP),
    "sync": Rule("act", _OP),
    "deliver": Rule("act", _OP),
    "worker": Rule("act", _OP),
    "scheduler run": Rule("act", _OP),
    "jobs run": Rule("act", _OP),
    "jobs list": Rule("read", _ANY),
    "report": Rule("read", _ANY),
    "clients list": Rule("read", _ANY),
    "clients show": Rule("read", _ANY),
    "clients explain": Rule("read", _ANY),
    "clients unmerge": Rule("act", _OP),
    "clients split": Rule("act", _OP),
    "review list": Rule("read", _ANY),
    "review accept": Rule("act", _OP),
    "review reject": Rule("act", _OP),
    "deadletter list": Rule("read", _ANY),
    "deadletter show": Rule("read", _ANY),
    "deadletter retry": Rule("act", _OP),
    "ledger import": Rule("act", _OP),
    "notify test": Rule("act", _OP),
    "notify run": Rule("act", _OP),
    "notify retry": Rule("act", _OP),
    "notify log": Rule("read", _ANY),
    "notify routes": Rule("read", _ANY),
    "interactions add": Rule("act", _OP),
    "interactions list": Rule("read", _ANY),
    "risk assess": Rule("act", _OP),
    "risk explain": Rule("read", _ANY),
    "risk scorecard": Rule("read", _ANY),
    "alerts list": Rule("act", _AML),
    "alerts show": Rule("act", _AML),
    "alerts ack": Rule("act", _AML),
    "alerts close": Rule("act", _AML),
    "approvals list": Rule("read", _ANY),
    "approvals show": Rule("read", _ANY),
    "approvals approve": Rule("act", ("approver", "aml_officer")),
    "approvals reject": Rule("act", ("approver", "aml_officer")),
    "audit verify": Rule("read", _ANY),
    "audit checkpoint": Rule("act", _ADMIN),
    "audit list": Rule("act", _AUDIT),
    "audit export": Rule("act", _AUDIT),
    # the operator console: starting it is a read (each browser user logs in with a password); its pages follow
    # the rows above, by the CLI command each page or action mirrors (crmhub.console.web.page)
    "console": Rule("read", _ANY),
}

REVEAL_ROLES: tuple[str, ...] = ("operator", "approver", "aml_officer")
"""Who may use ``--reveal`` (a viewer reads masked only); always a registered operator, whatever open_reads says."""


@dataclass(frozen=True, slots=True)
class FourEyes:
    """An action needing a second person: its ``[security.four_eyes]`` switch and the role the approver needs."""

    setting: str
    approver_roles: tuple[str, ...]
    command: str


FOUR_EYES: dict[str, FourEyes] = {
    "review.decide": FourEyes("review_decision", ("approver",), "review accept / review reject"),
    "client.unmerge": FourEyes("client_unmerge", ("approver",), "clients unmerge"),
    "client.split": FourEyes("client_split", ("approver",), "clients split"),
    "alert.close": FourEyes("alert_close", ("aml_officer",), "alerts close"),
    "reveal.bulk": FourEyes("bulk_reveal", ("approver",), "clients list --reveal, pull --reveal"),
}


def rule_for(command: str) -> Rule:
    """The rule of a command path (``"review accept"``); a command missing from the table may not run at all."""
    rule = COMMANDS.get(command)
    if rule is None:
        raise AccessError(
            f"command {command!r} has no entry in the role table",
            hint="add it to crmhub/security/roles.py COMMANDS and docs/security.md",
        )
    return rule


def render_markdown() -> str:
    """The role table as it appears in docs/security.md (between the ``roles-table`` markers)."""
    lines = ["| command | kind | roles |", "|---|---|---|"]
    for command, rule in COMMANDS.items():
        roles = "—" if rule.kind == "open" else ("any role" if rule.roles == _ANY else ", ".join(rule.roles))
        lines.append(f"| `{command}` | {rule.kind} | {roles} |")
    return "\n".join(lines)
