"""``[notify]`` in crmhub.toml: who hears about what, through which channel, in which language.

Every event kind has a route with sensible defaults, so a bank that only fills in its groups gets the whole
behaviour: AML alerts go to the AML team (``aml_team``) by email only; rating downgrades go to the client's
relationship manager on WeCom and to the risk team by email; failed runs, dead-letter floods and undelivered
notifications go to operators by email; follow-up visit reminders (定期回访) go to the relationship manager on
WeCom. A route lists *sends*, each a channel (a name under
``[channels]``), recipients and optionally a template kind and a language::

    [notify.groups]
    aml_team = ["aml@bank.example"]
    risk_team = ["risk@bank.example"]
    operators = ["ops@bank.example"]

    [notify.rating_downgrade]
    send = [{ channel = "wecom", to = ["rm"] }, { channel = "email", to = ["risk_team"], lang = "en" }]

Recipients are ``rm`` (the client's relationship manager), a group name, or a literal address of the channel
(a mailbox, a WeCom UserID, ``party:2``, ``@robot`` …). This module imports nothing of crmhub but the i18n types,
because `crmhub.config` imports it.

AML confidentiality (《反洗钱法》, no tipping-off; domain.md §11): AML alerts are never sent to the relationship
manager, a WeCom group robot (a group chat anyone in it can forward), ``@all`` or an Official Account follower
(``oa:``). A configured ``[notify.alert]`` route that would is a config error naming the key path
(`NotifySettings.confidentiality_problems`), and the planner refuses such a recipient again at send time.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmhub.i18n import bilingual

Lang = Literal["zh", "en"]
TemplateKind = Literal[
    "rating_downgrade", "alert", "sync_failed", "dead_letters", "digest", "follow_up_reminder", "test"
]
EVENTS = ("rating_downgrade", "alert", "sync_failed", "dead_letters", "digest", "follow_up", "undelivered")
"""The event kinds the planner finds in the store (``undelivered``: a notification that failed or is
unconfirmed, reported to operators)."""

DEFAULT_TEMPLATE: dict[str, TemplateKind] = {
    "rating_downgrade": "rating_downgrade",
    "alert": "alert",
    "sync_failed": "sync_failed",
    "dead_letters": "dead_letters",
    "digest": "digest",
    "follow_up": "follow_up_reminder",
    "undelivered": "dead_letters",
}
RM = "rm"
AML_TEAM = "aml_team"
AML_ALERT_KINDS = ("large_value", "structuring", "pass_through", "fan_in", "fan_out", "dormant_reactivation")
"""The alert kinds of the AML rules (domain.md §7-8). Every alert crmhub raises today is one of them, and the
``alert`` event treats any alert as AML-confidential (fail closed: a new kind is never disclosed by accident)."""
SEGMENTS = ("high", "medium", "low")


class NotifyStrict(BaseModel):
    """Notification settings reject unknown keys, like the rest of the configuration."""

    model_config = ConfigDict(extra="forbid")


class Send(NotifyStrict):
    """One delivery of a route: a channel and its recipients (``rm``, a group name or literal addresses)."""

    channel: str = Field(min_length=1, description="A channel name under [channels], e.g. wecom or email.")
    to: list[str] = Field(min_length=1, description="rm, a group of [notify.groups], or literal addresses.")
    template: TemplateKind | None = Field(default=None, description="Template kind (default: the event's).")
    lang: Lang | None = Field(default=None, description="Language of this send (default: the route's).")

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v for v in cleaned):
            raise ValueError("recipients must not be empty strings")
        return list(dict.fromkeys(cleaned))


def _sends(*pairs: tuple[str, str]) -> list[Send]:
    return [Send(channel=channel, to=[to]) for channel, to in pairs]


DEFAULT_SENDS: dict[str, list[tuple[str, str]]] = {
    "rating_downgrade": [("wecom", RM), ("email", "risk_team")],
    "alert": [("email", AML_TEAM)],
    "sync_failed": [("email", "operators")],
    "dead_letters": [("email", "operators")],
    "digest": [("email", "operators")],
    "follow_up": [("wecom", RM)],
    "undelivered": [("email", "operators")],
}


class Route(NotifyStrict):
    """``[notify.<event>]``: whether the event is notified, and how (``send``; unset = the defaults)."""

    enabled: bool = True
    send: list[Send] | None = Field(default=None, description="Deliveries; leave out for the defaults.")
    lang: Lang | None = Field(default=None, description="Language of every send (default: [notify].lang).")


class DigestRoute(Route):
    """``[notify.digest]``: a summary after each scheduled run — off unless switched on."""

    enabled: bool = False


class FollowUpRoute(Route):
    """``[notify.follow_up]``: periodic visit reminders (定期回访) per risk segment.

    A client is due ``intervals[segment]`` days after its last recorded interaction (or its creation in crmhub);
    each elapsed period reminds once, and recording an interaction starts the clock again.
    """

    intervals: dict[str, int] = Field(
        default_factory=lambda: {"high": 30, "medium": 91, "low": 182},
        description="Days between visits per segment: high monthly, medium quarterly, low half-yearly.",
    )
    unsegmented_days: int | None = Field(
        default=None, ge=1, description="Interval for clients without a segment (unset: none)."
    )
    lead_days: int = Field(default=0, ge=0, description="Remind this many days before the due date.")
    with_sync: bool = Field(
        default=False,
        description="Also plan reminders after every sync (default: only "
        "`crmhub notify run`, e.g. scheduled each morning).",
    )
    max_per_run: int = Field(default=1000, ge=1, description="Most reminders planned by one pass.")

    @field_validator("intervals")
    @classmethod
    def _segments(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(SEGMENTS))
        if unknown:
            raise ValueError(f"unknown segment(s) {', '.join(unknown)}; use high, medium and low")
        if any(days < 1 for days in value.values()):
            raise ValueError("intervals are whole days ≥ 1")
        return {"high": 30, "medium": 91, "low": 182, **value}


def aml_refusal(recipient: str) -> str | None:
    """Why ``recipient`` may never receive an AML alert (in the current language), or None when it may."""
    value = recipient.strip().lower()
    if value == RM:
        return bilingual(
            "反洗钱预警不得告知客户经理（禁止泄露）",
            "the relationship manager is never told of an AML alert (no tipping-off)",
        )
    if value == "@robot":
        return bilingual(
            "企业微信群机器人发到群聊，群内任何人都可转发",
            "a WeCom group robot posts into a group chat anyone in it can forward",
        )
    if value == "@all":
        return bilingual("'@all' 会发给企业微信全体成员", "'@all' reaches every member of the WeCom corp")
    if value.startswith("oa:"):
        return bilingual("公众号关注者在银行之外", "an Official Account follower is outside the bank")
    return None


class NotifySettings(NotifyStrict):
    """``[notify]``: routing, recipients, follow-up intervals and delivery behaviour."""

    enabled: bool = Field(default=True, description="Plan and send notifications after syncs and on `notify run`.")
    lang: Lang | None = Field(
        default=None, description="Default language of notifications (default: the top-level lang, else zh)."
    )
    timezone: str = Field(default="Asia/Shanghai", description="Dates in messages and follow-up due days.")
    lookback_hours: int = Field(
        default=72,
        ge=1,
        description="Facts older than this are never notified (so switching notify on does not replay history).",
    )
    alert_max_age_days: int = Field(
        default=7,
        ge=0,
        description="Alerts about activity older than this many "
        "days stay in `crmhub alerts` but are not pushed "
        "(a first import raises many historical ones).",
    )
    client_url: str | None = Field(
        default=None, description="Link to a client, e.g. https://crm/clients/{id} ({id} and {uscc} are replaced)."
    )
    run_url: str | None = Field(default=None, description="Link to a run report, e.g. https://crmhub/runs/{id}.")
    alert_url: str | None = Field(
        default=None,
        description="Link to an alert in the bank's AML console, e.g. "
        "https://aml.bank.example/alerts/{id} ({id} replaced).",
    )
    aml_report_working_days: int = Field(
        default=5,
        ge=1,
        description="Large-value reports are due this many "
        "working days after the transaction (PBOC Order 〔2016〕第3号, as amended).",
    )
    holidays: list[date] = Field(
        default_factory=list, description="Public holidays (not working days) for AML report deadlines."
    )
    make_up_workdays: list[date] = Field(
        default_factory=list, description="Weekend days that are working days (调休) for AML report deadlines."
    )
    groups: dict[str, list[str]] = Field(default_factory=dict, description="Named recipient lists.")
    directory: dict[str, str] = Field(default_factory=dict, description="RM email or name → WeCom UserID.")
    rating_downgrade: Route = Field(default_factory=Route)
    alert: Route = Field(default_factory=Route)
    sync_failed: Route = Field(default_factory=Route)
    dead_letters: Route = Field(default_factory=Route)
    digest: DigestRoute = Field(default_factory=DigestRoute)
    follow_up: FollowUpRoute = Field(default_factory=FollowUpRoute)
    undelivered: Route = Field(default_factory=Route)
    max_attempts: int = Field(default=5, ge=1, le=20, description="Attempts before a notification fails.")
    retry_delay_seconds: float = Field(default=60.0, ge=0, description="First retry delay; doubles each attempt.")
    resend_margin_seconds: float = Field(
        default=120.0, ge=0, description="Safety margin inside a channel's de-duplication window."
    )
    concurrency: int = Field(default=4, ge=1, le=32, description="Messages in flight per channel.")
    lock_stale_seconds: float = Field(
        default=300.0, ge=10, description="A delivery lock older than this belongs to a dead process."
    )

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if RM in value:
            raise ValueError("'rm' is reserved for the client's relationship manager; rename the group")
        for name, members in value.items():
            if "@" in name or ":" in name:
                raise ValueError(f"group name {name!r} looks like an address; use a plain name like risk_team")
            if any(not m.strip() for m in members):
                raise ValueError(f"group {name!r} has an empty recipient")
        return {k: list(dict.fromkeys(m.strip() for m in v)) for k, v in value.items()}

    @model_validator(mode="after")
    def _defaults(self) -> NotifySettings:
        self.groups = {"risk_team": [], "operators": [], AML_TEAM: [], **self.groups}
        return self

    def confidentiality_problems(self) -> list[tuple[str, str]]:
        """``(key path, message)`` for every ``[notify.alert]`` recipient that would disclose an AML alert: the
        RM, a group robot, ``@all`` or an OA follower, literally or as a member of a group."""
        problems: list[tuple[str, str]] = []
        for i, send in enumerate(self.alert.send or []):
            where = f"notify.alert.send.{i}.to"
            for spec in send.to:
                why = aml_refusal(spec)
                if why:
                    problems.append(
                        (
                            where,
                            bilingual(
                                f"反洗钱预警不得发送给 {spec!r}：{why}；请发送给 {AML_TEAM} 组",
                                f"AML alerts may not go to {spec!r}: {why}; send them to the {AML_TEAM} group",
                            ),
                        )
                    )
                for member in self.groups.get(spec, []) if spec != RM else []:
                    why = aml_refusal(member)
                    if why:
                        problems.append(
                            (
                                where,
                                bilingual(
                                    f"反洗钱预警不得发送给组 {spec!r}：其成员 {member!r} — {why}；"
                                    f"请发送给 {AML_TEAM} 组",
                                    f"AML alerts may not go to group {spec!r}: its member {member!r} — {why}; "
                                    "send them "
                                    f"to the {AML_TEAM} group",
                                ),
                            )
                        )
        return problems

    def route(self, event: str) -> Route:
        """The route of ``event`` (one of `EVENTS`)."""
        route: Route = getattr(self, event)
        return route

    def language(self, fallback: Lang | None = None) -> Lang:
        """The default language: ``[notify].lang``, else ``fallback`` (the top-level ``lang``), else zh."""
        return self.lang or fallback or "zh"

    def sends(self, event: str, fallback: Lang | None = None) -> list[Send]:
        """The sends of ``event``: configured or default, with template and language filled in."""
        route = self.route(event)
        sends = route.send if route.send is not None else _sends(*DEFAULT_SENDS[event])
        lang = route.lang or self.language(fallback)
        return [
            s.model_copy(update={"template": s.template or DEFAULT_TEMPLATE[event], "lang": s.lang or lang})
            for s in sends
        ]

    def interval(self, segment: str | None) -> int | None:
        """Days between follow-ups for ``segment`` (None: no reminders)."""
        if segment is None:
            return self.follow_up.unsegmented_days
        return self.follow_up.intervals.get(segment, self.follow_up.unsegmented_days)
