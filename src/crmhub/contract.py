"""The typed contract between crmhub's core and its plugins.

A **connector** adapts one outside system of record (Zoho CRM, Fenxiang Xiaoke, the ledger …): it declares its
streams, pulls them page by page from a cursor, pushes canonical records back, and maps both ways. A
**channel** delivers notifications (email, WeCom). Plugins return their classes from the hooks in
`crmhub.hookspecs`; the core instantiates them with a validated config and a `PluginContext`.

Errors are typed by what the engine must do (see `crmhub.errors`): raise `FatalError` to stop the connector,
`RetriableError` to back off, and put bad records into `Page.rejected` (or raise `RecordError` from a per-record
step) so they are dead-lettered while the run goes on.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from crmhub.masking import mask_text
from crmhub.model import (
    BankAccount,
    Contact,
    CorporateClient,
    CreditFacility,
    Interaction,
    Transaction,
)

if TYPE_CHECKING:
    from crmhub.errors import RecordError

Cursor = dict[str, Any]
"""A stream's position, JSON-serialisable and opaque to the engine. ``None`` means "from the beginning"."""

CanonicalRecord = CorporateClient | Contact | BankAccount | Transaction | CreditFacility | Interaction


class StreamKind(StrEnum):
    """What a stream's records are, which tells the engine where they go.

    ``client`` → matched and merged into golden clients; ``contact`` → the contacts of their parent client
    (``client_source_id``); ``account`` / ``transaction`` / ``facility`` → the ledger tables the risk engine reads;
    ``interaction`` → the ``interaction`` table under the parent's (or ``client_uscc``'s) golden client, where
    follow-up reminders look; ``deletion`` → tombstones for the stream named by ``deletes_stream``.
    """

    CLIENT = "client"
    CONTACT = "contact"
    ACCOUNT = "account"
    TRANSACTION = "transaction"
    FACILITY = "facility"
    INTERACTION = "interaction"
    DELETION = "deletion"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream a connector offers: its name, what its records are (``kind``, which tells the engine where they
    go) and whether write-back may plan writes to it (``writable``; `Connector.writable_fields` narrows the fields).
    """

    name: str
    kind: StreamKind
    writable: bool = False


@dataclass(frozen=True, slots=True)
class PayloadNames:
    """Where, in this connector's native payloads, people find who a record is about — so the console can name the
    company of a dead letter that never reached a golden client, and mask a person's name in its payload
    (`crmhub.store.deadletter_query`). The core knows only generic keys (``name``, ``company_name``…).

    ``company``: keys naming the company a record belongs to (a contact's account lookup, a loan's client name, or
    a client record's own company name); ``own_name``: keys naming the record itself (a company for a client, a
    person for a contact); ``is_person``: whether a payload of a non-contact stream is about a natural person (its
    own name is then masked as a person's). A key's value may be text or a lookup object with a ``name``.
    """

    company: tuple[str, ...] = ()
    own_name: tuple[str, ...] = ()
    is_person: Callable[[Mapping[str, Any]], bool] | None = None


class SourceRecord(BaseModel):
    """One record as read from a source, mapped to the canonical model, with its native payload kept.

    ``deleted`` records (tombstones) may carry ``data=None``; for a `StreamKind.DELETION` stream,
    ``deletes_stream`` names the stream whose record was deleted.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    stream: str
    source_id: str
    data: CanonicalRecord | None = None
    deleted: bool = False
    deletes_stream: str | None = None
    modified_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class RejectedRecord(BaseModel):
    """A record the connector could not map; it goes to the dead-letter table with this reason."""

    model_config = ConfigDict(frozen=True)

    stream: str
    source_id: str | None
    reason: str
    field: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    def as_error(self) -> RecordError:
        """This rejection as the `RecordError` `Connector.remap` raises (same reason, field and record id)."""
        from crmhub.errors import RecordError

        return RecordError(self.reason, source_id=self.source_id, field=self.field, stream=self.stream)


@dataclass(slots=True)
class Page:
    """One page of a stream, and the cursor that resumes right after it.

    The engine stores ``records``, ``rejected`` and ``next_cursor`` in one transaction, so a crash loses at
    most the page in flight. ``next_cursor`` must never point past a record not in this or an earlier page.
    """

    records: list[SourceRecord]
    next_cursor: Cursor | None
    rejected: list[RejectedRecord] = field(default_factory=list)


class OutboundRecord(BaseModel):
    """A canonical record to write to a connector.

    ``key`` is the idempotency key of the write (stable across retries); ``source_id`` is the record's id in
    the target when known (update) or ``None`` (the connector upserts on its natural key, e.g. the USCC);
    ``fields`` limits the write to these canonical field names (``None`` = every mapped field).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    key: str
    source_id: str | None = None
    data: CorporateClient | Contact
    fields: tuple[str, ...] | None = None


class PushResult(BaseModel):
    """The outside system's answer for one `OutboundRecord`."""

    model_config = ConfigDict(frozen=True)

    key: str
    status: Literal["ok", "error"]
    source_id: str | None = None
    action: Literal["insert", "update", "unchanged"] | None = None
    reason: str | None = None
    field: str | None = None
    retriable: bool = False
    modified_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class CheckResult(BaseModel):
    """The verdict of `check()`: reachable and authenticated, with details for the operator."""

    ok: bool
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class PluginConfig(BaseModel):
    """Base of every connector's and channel's config table. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    plugin: str
    enabled: bool = True
    timeout: float = Field(default=30.0, gt=0, description="Seconds for one HTTP request.")


class WriteBack(BaseModel):
    """Which canonical fields the engine may write to a connector, and whether it may create records.

    The default writes only a verified USCC: the bank's internal rating and risk segment (``risk``) are
    confidential credit information and reach a SaaS CRM only where ``fields`` lists ``"risk"`` (issue 13 item 11).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    fields: list[str] = Field(
        default_factory=lambda: ["uscc"],
        description="Canonical fields written back, e.g. uscc, name, industry, phone; add risk "
        "to write the internal rating and segment (off by default).",
    )
    create: bool = False
    inline_seconds: float = Field(
        default=120.0,
        ge=0,
        description=(
            "Longest a sync's deliver phase spends sending this connector's write-backs; what is left stays queued "
            "(the run report says how many, with an ETA) for `crmhub deliver` or a `deliver` job. 0 queues them all."
        ),
    )


class ConnectorConfig(PluginConfig):
    """Config keys every connector has, beside its own."""

    write_back: WriteBack = Field(default_factory=WriteBack)
    streams: list[str] | None = Field(
        default=None, description="Streams a sync pulls from this connector (default: all)."
    )
    connect_attempts: int = Field(
        default=3,
        ge=1,
        le=50,
        description=(
            "Connection attempts (refused or timed out) before the connector is failed for the run as unreachable; "
            "429 and 5xx answers are retried under the normal retry budget instead."
        ),
    )
    fields: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Mapping overrides per stream: canonical field → source field API name.",
    )


class ChannelConfig(PluginConfig):
    """Config keys every channel has, beside its own.

    ``rm_address`` says how the channel reaches a client's relationship manager (the ``rm`` recipient of
    ``[notify]`` routes): ``"user_id"`` — the RM's user id on the service, from ``[notify.directory]`` or the CRM
    owner record (a WeCom UserID, a DingTalk userid …); ``"email"`` — the RM's email address from the CRM owner
    record. A channel's config model sets it; the core's notification routing reads it and names no channel.
    """

    rm_address: ClassVar[Literal["user_id", "email"]] = "user_id"


@dataclass(slots=True)
class ApiMetrics:
    """Counters a connector or channel keeps for the run report (the `crmhub.http` toolkit fills them)."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0
    errors: int = 0
    waited_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Counters for JSON reports."""
        return {
            "api_calls": self.calls,
            "retries": self.retries,
            "throttled": self.throttled,
            "errors": self.errors,
            "waited_seconds": round(self.waited_seconds, 3),
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenCache(Protocol):
    """Where access tokens outlive one process (encrypted at rest), so a cron-driven crmhub does not mint a new
    token per run — services throttle token endpoints (Zoho: 10 refreshes per 10 minutes per refresh token)."""

    def load(self, key: str) -> tuple[str, float, dict[str, str] | None] | None:
        """(token, expiry as epoch seconds, extra fields) or None."""

    def save(self, key: str, token: str, expires_epoch: float, extra: dict[str, str] | None) -> None:
        """Remember a newly minted token."""

    def forget(self, key: str, token: str) -> None:
        """Drop ``token`` if it is still the cached one (the service rejected it)."""


class SendLog(Protocol):
    """Calls a channel made to rate-limited targets, kept in the store so pacing survives a restart.

    A service that counts messages per rolling minute (a WeCom group robot: 20/min, 45009 above it; a WeCom member:
    30/min, the excess dropped silently) keeps counting when crmhub restarts; pacing that lives only in memory lets a
    new process send a whole window's worth again. Times are epoch seconds; ``targets`` are the channel's own pacing
    keys (e.g. ``@robot``, a member's user id); ``message_key`` is the `OutboundMessage.key` the call belongs to.
    """

    def recent(self, channel: str, within: float) -> dict[str, list[tuple[float, float | None]]]:
        """Per target: (started, ended or None when no answer was recorded) of the calls in the last ``within`` s."""

    def record(
        self, channel: str, targets: Sequence[str], message_key: str, started: float, ended: float | None = None
    ) -> None:
        """Note one call to ``targets`` before it is made (``ended`` None) and again when its answer arrived."""


class CallWindow(Protocol):
    """At most ``calls`` call starts in any ``period`` seconds under one key (Fenxiang: 100 per 20 s per path)."""

    calls: int
    period: float
    waited: float
    """Seconds spent waiting for room so far (for the run report)."""

    async def acquire(self) -> None:
        """Wait until one more start fits in the window, then record it (call right before sending)."""


class ConcurrencyCap(Protocol):
    """At most ``limit`` calls in flight at once under one key (Zoho: 5-25 per org per app by edition)."""

    limit: int

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the ``limit`` slots for the body of ``async with``."""


class RateLimits(Protocol):
    """Where a plugin gets its pacing: windows and concurrency caps by key, shared as far as the core decides.

    A plugin names its budgets by the outside service's identity — the tenant it talks to (base URL, app and a hash
    of the credential, never the secret itself) plus what the service limits separately (an API path) — so two
    tenants never share a budget and two connectors (or processes) on one tenant always do. The core hands an
    in-process implementation (`crmhub.http.LocalRateLimits`) or one kept in the store (`crmhub.store.ratelimits`)
    that every crmhub process on the same store shares (``[sync] shared_budget``, docs/scaling.md). Asking twice
    for one key gives the same budget. Keys are at most 200 characters.
    """

    def window(self, key: str, calls: int, period: float) -> CallWindow:
        """The sliding window ``key`` (``calls`` starts per ``period`` seconds)."""

    def concurrency(self, key: str, limit: int) -> ConcurrencyCap:
        """The concurrency cap ``key`` (``limit`` calls in flight)."""


@dataclass(slots=True)
class PluginContext:
    """What the core gives a connector or channel instance: its name, metrics, logger, clock, token cache, the rate
    limits its calls are paced by (``None``: the plugin paces in-process, `crmhub.http.LocalRateLimits`) and, for
    channels, the send log that keeps rate-limit pacing across restarts."""

    name: str
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("crmhub.plugin"))
    clock: Callable[[], datetime] = _utcnow
    token_cache: TokenCache | None = None
    send_log: SendLog | None = None
    rate_limits: RateLimits | None = None


ConfigT = TypeVar("ConfigT", bound=PluginConfig)


def _check_config(cls: type, model: type[PluginConfig], config: object) -> None:
    """A connector or channel gets its config already validated, once, by the core (`crmhub.config` validates each
    ``[connectors.<name>]`` / ``[channels.<name>]`` table against the plugin's ``config_model`` and reports every
    problem with its key path), so the plugin never re-validates. Anything else is a programming error."""
    if not isinstance(config, model):
        raise TypeError(
            f"{cls.__name__} needs its config as a validated {model.__name__}, not "
            f"{type(config).__name__}: build it with {model.__name__}.model_validate(table) or "
            "crmhub.config.parse_settings"
        )


class Connector(ABC, Generic[ConfigT]):
    """An adapter for one outside system of record. Subclass it, declare ``config_model`` and ``streams``.

    Use it as an async context manager (``async with connector: …``) so HTTP clients are closed.
    """

    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    streams: ClassVar[tuple[StreamSpec, ...]] = ()
    payload_names: ClassVar[PayloadNames] = PayloadNames()
    """Which payload keys name a record's company and the record itself (see `PayloadNames`)."""

    def __init__(self, config: ConfigT, context: PluginContext) -> None:
        _check_config(type(self), self.config_model, config)
        self.config = config
        self.context = context

    @property
    def name(self) -> str:
        """The connector's configured name (the key under ``[connectors]``)."""
        return self.context.name

    def stream(self, name: str) -> StreamSpec:
        """The spec of stream ``name``; raises `KeyError` listing the streams offered."""
        for spec in self.streams:
            if spec.name == name:
                return spec
        offered = ", ".join(s.name for s in self.streams)
        raise KeyError(f"connector {self.name!r} has no stream {name!r}; it offers: {offered}")

    @abstractmethod
    async def check(self) -> CheckResult:
        """Authenticate and make one cheap call; never raise for an expected failure, return ``ok=False``."""

    @abstractmethod
    def pull(self, stream: str, cursor: Cursor | None, *, since: datetime | None = None) -> AsyncIterator[Page]:
        """Yield pages of ``stream`` from ``cursor`` (``None`` = full read; ``since`` overrides the cursor)."""

    def writable_fields(self, stream: str) -> frozenset[str] | None:
        """Canonical fields this connector can really write on ``stream`` (``None`` = every mapped field).

        The write-back planner only plans these, so a field the target cannot store (e.g. an industry code when
        the CRM only has a vendor picklist) is never planned again and again. A connector must read back every
        field it writes, so the echo of its own write is recognised.
        """
        return None

    async def remap(self, stream: str, payload: dict[str, Any]) -> SourceRecord:
        """Map a stored native payload again (``crmhub deadletter retry`` after a mapping or configuration fix).

        ``payload`` is the record exactly as the source gave it (`RejectedRecord.payload`), so re-mapping it is
        the same code path as a pull. Async because a mapping may depend on what the connector learns from the
        source first (a tenant's field names, a user directory). Raise `RecordError` when it still cannot be
        mapped. Connectors that cannot re-map keep this default, and their dead letters are resolved by the next
        sync that reads the record again after it changed at the source.
        """
        from crmhub.errors import FatalError

        raise FatalError(
            f"connector {self.name!r} cannot re-map stored records",
            connector=self.name,
            stream=stream,
            hint="correct the record at the source; the next sync reads it again and resolves it",
        )

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        """Write records; one `PushResult` per input, in input order. Read-only connectors keep this default."""
        from crmhub.errors import FatalError

        raise FatalError(f"stream {stream!r} is read-only", connector=self.name, stream=stream)

    async def aclose(self) -> None:
        """Release resources (HTTP clients)."""

    async def __aenter__(self) -> Connector[ConfigT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class OutboundMessage(BaseModel):
    """A notification to deliver through a channel. ``key`` makes delivery idempotent."""

    model_config = ConfigDict(frozen=True)

    key: str
    recipients: list[str]
    subject: str
    text: str
    html: str | None = None
    markdown: str | None = None
    kind: str = Field(default="notification", description="Event kind, e.g. rating_downgrade, alert, digest.")


class DeliveryResult(BaseModel):
    """A channel's answer for one message; ``recipients`` maps each recipient to ok or the reason it failed."""

    model_config = ConfigDict(frozen=True)

    key: str
    status: Literal["delivered", "partial", "failed"]
    recipients: dict[str, str] = Field(default_factory=dict)
    answer: str = ""
    retriable: bool = False


class Channel(ABC, Generic[ConfigT]):
    """A notification channel (email, WeCom …). Subclass it and declare ``config_model``."""

    config_model: ClassVar[type[ChannelConfig]] = ChannelConfig

    def __init__(self, config: ConfigT, context: PluginContext) -> None:
        _check_config(type(self), self.config_model, config)
        self.config = config
        self.context = context

    @property
    def name(self) -> str:
        """The channel's configured name (the key under ``[channels]``)."""
        return self.context.name

    @abstractmethod
    async def check(self) -> CheckResult:
        """Authenticate / connect without sending anything."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver one message; raise `FatalError` for configuration problems, `RetriableError` for transient."""

    def compose(
        self, kind: str, lang: str, context: Mapping[str, Any], *, key: str, recipients: Sequence[str]
    ) -> OutboundMessage:
        """Render notification ``kind`` (``rating_downgrade``, ``alert``, … ``test``) in ``lang`` from ``context``.

        Must be deterministic — the same arguments give the same message — because a re-send after a crash is only
        absorbed by a server's duplicate check when the body is identical. Channels with their own templates
        override this; the default lists the context as masked plain text, so a third-party channel works without
        templates.
        """
        return plain_message(kind, lang, context, key=key, recipients=recipients)

    def duplicate_window(self, recipient: str) -> float:
        """Seconds during which the service itself drops a second identical message to ``recipient`` (0 = never).

        The notification outbox re-sends a message whose first attempt may or may not have arrived (the process
        stopped between sending and recording the answer) only within this window; otherwise it reports the
        message as unconfirmed instead of risking a second copy.
        """
        return 0.0

    async def aclose(self) -> None:
        """Release resources."""

    async def __aenter__(self) -> Channel[ConfigT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_PLAIN_TITLES: dict[str, tuple[str, str]] = {
    "rating_downgrade": ("客户评级下调", "Client rating downgraded"),
    "alert": ("风险预警", "Risk alert"),
    "sync_failed": ("同步失败", "Sync failed"),
    "dead_letters": ("死信记录", "Dead letters"),
    "digest": ("crmhub 摘要", "crmhub digest"),
    "follow_up_reminder": ("客户跟进提醒", "Client follow-up reminder"),
    "test": ("crmhub 测试消息", "crmhub test message"),
}


def _plain_lines(value: Any, indent: str = "") -> list[str]:
    if isinstance(value, Mapping):
        lines: list[str] = []
        for k, v in value.items():
            if isinstance(v, Mapping | list):
                lines += [f"{indent}{k}:", *_plain_lines(v, indent + "  ")]
            elif v not in (None, ""):
                lines.append(f"{indent}{k}: {v}")
        return lines
    if isinstance(value, list):
        return [line for item in value for line in _plain_lines(item, indent + "- ")]
    return [f"{indent}{value}"]


def plain_message(
    kind: str, lang: str, context: Mapping[str, Any], *, key: str, recipients: Sequence[str]
) -> OutboundMessage:
    """The default `Channel.compose`: a title and the context as indented ``key: value`` lines, masked."""
    zh, en = _PLAIN_TITLES.get(kind, (kind, kind))
    subject = zh if lang.lower().startswith("zh") else en
    text = mask_text("\n".join(_plain_lines({k: v for k, v in context.items() if k != "lang"})))
    return OutboundMessage(key=key, recipients=list(recipients), subject=subject, text=text or subject, kind=kind)


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """What the sandbox runner passes to a simulator factory.

    ``world`` is a `crmhub.sandbox.world.World` (or ``None`` for an empty service); ``faults`` a
    `crmhub.sandbox.faults.FaultProfile`; ``base_url`` the URL the simulator is reachable at (Zoho returns it as
    ``api_domain``); ``clock`` the simulator's notion of now (tests move it).
    """

    base_url: str
    world: Any = None
    faults: Any = None
    seed: int = 0
    clock: Callable[[], datetime] = _utcnow
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SandboxApp:
    """A simulator of one outside service, offered by the plugin that adapts it.

    ``build`` returns an ASGI application for ``protocol="http"``; for ``protocol="smtp"`` it returns an
    aiosmtpd handler. ``config`` turns the running simulator's base URL (or ``host:port`` for SMTP) into the
    ``[connectors.<config_name>]`` or ``[channels.<config_name>]`` table that points crmhub at it.

    The core allocates the ports (`crmhub.sandbox.serve.allocate_offsets`): each app gets ``--port-base`` plus its
    ``preferred_offset`` when no app before it took that offset, otherwise (or without a preference) the lowest
    free offset — so a third-party simulator never has to know the others' ports. ``extra_config`` holds other
    tables the written config needs for this simulator to be useful (e.g. the SMTP sandbox's ``[notify.groups]``
    AML mailbox); ``pacing`` maps a ``--speed`` factor to keys set alike in the simulator's settings and its
    config table (shortened rate-limit windows, matched on both sides); ``world_view`` names the world's view it
    serves.
    """

    name: str
    title: str
    build: Callable[[SandboxOptions], Any]
    config_section: Literal["connectors", "channels"]
    config_name: str
    config: Callable[[str], dict[str, Any]]
    protocol: Literal["http", "smtp"] = "http"
    preferred_offset: int | None = None
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    pacing: Callable[[float], dict[str, Any]] | None = None
    world_view: str | None = None
    """The view of the synthetic world this simulator serves (a system of `crmhub.sandbox.world.World`), so the
    world's ground truth — (view, native id, company) — is read against the records of connector ``config_name``."""


@dataclass(frozen=True, slots=True)
class RiskFactorInput:
    """What a plugin-supplied risk factor sees: the golden client and its ledger aggregates."""

    client: CorporateClient
    aggregates: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """An extra scorecard factor from a plugin: ``compute`` returns the input value the bins are applied to."""

    name: str
    compute: Callable[[RiskFactorInput], Any]
    description: str = ""
