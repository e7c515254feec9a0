"""Turning a route's recipient specs into channel addresses: ``rm``, named groups, literal addresses.

``rm`` is the client's relationship manager (客户经理). How a channel reaches one is its config model's
``rm_address`` (`crmhub.contract.ChannelConfig`), so no channel is named here: ``"email"`` — the RM's email
address; ``"user_id"`` (the default: WeCom and any other chat channel) — the RM's user id on the service, found — in
this order — in ``relationship_manager.user_id`` of the golden record, in ``[notify.directory]`` (keyed by the RM's
email or name, because CRMs usually know the RM by those), in the golden record's ``rm_user_id`` column, and
finally as the local part of the RM's email (``zhang.san@bank.example`` → ``zhang.san``), which is how many banks
provision WeCom accounts. A spec that is neither ``rm`` nor a group is taken literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmhub.notify.settings import RM, NotifySettings


@dataclass(frozen=True, slots=True)
class Resolved:
    """The addresses a spec stands for, or why it stands for none (``problem``)."""

    addresses: tuple[str, ...]
    problem: str | None = None
    group: bool = False


@dataclass(frozen=True, slots=True)
class Manager:
    """What crmhub knows of a client's relationship manager."""

    name: str | None = None
    user_id: str | None = None
    email: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None, rm_user_id: str | None = None) -> Manager:
        """From a golden record's ``data`` and its ``rm_user_id`` column."""
        raw = (data or {}).get("relationship_manager")
        rm = raw if isinstance(raw, dict) else {}

        def text(key: str) -> str | None:
            value = rm.get(key)
            return str(value).strip() or None if value is not None else None

        return cls(name=text("name"), user_id=text("user_id") or (rm_user_id or None), email=text("email"))


def wecom_user_id(manager: Manager, directory: dict[str, str]) -> str | None:
    """The RM's WeCom UserID: explicit id, directory by email or name, or the email's local part."""
    if manager.user_id:
        return manager.user_id
    lowered = {k.strip().lower(): v for k, v in directory.items()}
    for key in (manager.email, manager.name):
        if key and key.strip().lower() in lowered:
            return lowered[key.strip().lower()]
    if manager.email and "@" in manager.email:
        return manager.email.split("@", 1)[0]
    return None


def resolve(spec: str, rm_address: str, settings: NotifySettings, manager: Manager | None) -> Resolved:
    """The addresses ``spec`` stands for on a channel that reaches an RM by ``rm_address`` (its config model's
    `crmhub.contract.ChannelConfig.rm_address`: ``"email"`` or ``"user_id"``)."""
    if spec == RM:
        if manager is None:
            return Resolved((), "this event has no client, so it has no relationship manager")
        if rm_address == "email":
            if manager.email:
                return Resolved((manager.email,))
            who = f" ({manager.name})" if manager.name else ""
            return Resolved((), f"the client's relationship manager{who} has no email address")
        user = wecom_user_id(manager, settings.directory)
        if user:
            return Resolved((user,))
        if manager.name:
            return Resolved(
                (),
                f"the client's relationship manager {manager.name} has no WeCom UserID: add it to "
                "[notify.directory] or to the CRM's owner record",
            )
        return Resolved((), "the client has no relationship manager in any source")
    if spec in settings.groups:
        members = tuple(settings.groups[spec])
        return Resolved(members, None if members else f"group {spec!r} is empty", group=True)
    return Resolved((spec,))
