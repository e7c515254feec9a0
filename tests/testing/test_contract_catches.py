"""The kit catches broken plugins: each toy below breaks one rule of the contract, and the check for that rule
fails (AssertionError) — while the well-behaved toys pass every check (the two ``Test*Contract`` classes, which
pytest runs like any plugin's conformance tests)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import ConfigDict
from toy import (
    USERS,
    ToyChannel,
    ToyChatConfig,
    ToyConfig,
    ToyConnector,
    build,
    channel_table,
    connector_table,
    raise_for,
)

from crmhub.contract import Channel, Cursor, DeliveryResult, OutboundMessage, OutboundRecord, PushResult, SourceRecord
from crmhub.errors import RetriableError
from crmhub.model import CorporateClient
from crmhub.testing import ChannelContract, ConnectorContract, Fault, simulator_service


class TestToyConnectorContract(ConnectorContract):
    """The well-behaved toy connector passes every check."""

    plugin = "toy"
    connector_class: ClassVar[Any] = ToyConnector

    def service(self, fault: Fault | None = None) -> contextlib.AbstractContextManager[dict[str, Any]]:
        return simulator_service(
            build,
            connector_table,
            fault,
            overrides=self.config_overrides(),
            config_model=self.plugin_class().config_model,
        )

    def config_overrides(self) -> dict[str, Any]:
        return {"write_back": {"fields": ["name", "phone"]}}

    def outbound_records(self, stream: str, pulled: Sequence[SourceRecord]) -> list[OutboundRecord]:
        return [
            OutboundRecord(
                key=f"k{rec.source_id}",
                source_id=rec.source_id,
                data=CorporateClient(name=f"改名{rec.source_id}有限公司", phone="021-5555 0101"),
                fields=("name", "phone"),
            )
            for rec in pulled[:3]
        ]


class TestToyChannelContract(ChannelContract):
    """The well-behaved toy channel passes every check."""

    plugin = "toy_chat"
    channel_class: ClassVar[Any] = ToyChannel
    recipients = USERS
    refused_recipient = "mallory"

    def service(self, fault: Fault | None = None) -> contextlib.AbstractContextManager[dict[str, Any]]:
        return simulator_service(build, channel_table, fault, config_model=self.plugin_class().config_model)


# --- broken connectors: one rule each ---------------------------------------------------------------------------


class RepeatsOnResume(ToyConnector):
    """Its cursor points one record back, so a resumed run reads that record again."""

    def next_cursor(self, rows: list[dict[str, Any]]) -> Cursor | None:
        return {"after": rows[-1]["id"] - 1}


class SkipsOnResume(ToyConnector):
    """Its cursor points one record ahead: a run resumed there never reads the next record."""

    def next_cursor(self, rows: list[dict[str, Any]]) -> Cursor | None:
        return {"after": rows[-1]["id"] + 1}


class CursorlessPages(ToyConnector):
    """Pages carry no cursor, so a run stopped mid-stream starts over (and the store has nothing to resume from)."""

    def next_cursor(self, rows: list[dict[str, Any]]) -> Cursor | None:
        return None


class LeaksInRepr(ToyConnector):
    """Shows its token in ``repr``."""

    def __repr__(self) -> str:
        return f"LeaksInRepr(token={self.config.token.get_secret_value()})"


class LogsSecret(ToyConnector):
    """Writes its token to a debug log line."""

    async def get(self, after: int) -> list[dict[str, Any]]:
        logging.getLogger("crmhub.plugins.toy").debug("GET with %s", self.config.token.get_secret_value())
        return await super().get(after)


class ReversedPushResults(ToyConnector):
    """Answers a push in reverse order."""

    async def push(self, stream: str, records: Sequence[OutboundRecord]) -> list[PushResult]:
        return list(reversed(await super().push(stream, records)))


class DropsPhone(ToyConnector):
    """Says ok but never writes the phone."""

    def payload(self, rec: OutboundRecord) -> dict[str, Any]:
        return {**super().payload(rec), "phone": None}


class UntypedErrors(ToyConnector):
    """Lets a 5xx or 429 escape as httpx's own error instead of a `RetriableError`."""

    async def get(self, after: int) -> list[dict[str, Any]]:
        response = await self.http.get("/clients", params={"after": after, "limit": self.config.page_size})
        if response.status_code != 401:
            response.raise_for_status()
        raise_for(response, self.name)
        rows: list[dict[str, Any]] = response.json()["data"]
        return rows


class AuthRetriable(ToyConnector):
    """Calls a refused token transient, so the engine would retry it forever."""

    async def get(self, after: int) -> list[dict[str, Any]]:
        response = await self.http.get("/clients", params={"after": after, "limit": self.config.page_size})
        if response.status_code == 401:
            raise RetriableError("refused", connector=self.name)
        return await super().get(after)


class LooseConfig(ToyConfig):
    """Accepts unknown keys, so a typo is silently ignored."""

    model_config = ConfigDict(extra="allow")


class AcceptsAnyKey(ToyConnector):
    config_model = LooseConfig


CONNECTOR_CASES = [
    (RepeatsOnResume, "test_pull_resumes_from_every_cursor", "repeated"),
    (SkipsOnResume, "test_pull_resumes_from_every_cursor", "missing"),
    (CursorlessPages, "test_pull_resumes_from_every_cursor", "repeated"),
    (CursorlessPages, "test_pages_commit_with_their_cursor", "the run resumed from the stored cursor: repeated"),
    (LeaksInRepr, "test_secrets_never_in_reprs", "token appears in repr(instance)"),
    (LogsSecret, "test_secrets_never_in_logs", "token appears in log record"),
    (ReversedPushResults, "test_push_answers_each_record_in_order", "push answered keys"),
    (DropsPhone, "test_push_answers_each_record_in_order", "reads back different ['phone']"),
    (UntypedErrors, "test_unavailable_service_is_retriable", "HTTPStatusError"),
    (UntypedErrors, "test_throttling_is_retriable", "HTTPStatusError"),
    (AuthRetriable, "test_rejected_credentials_are_fatal", "expected a FatalError"),
    (AcceptsAnyKey, "test_config_errors_name_the_key_path", "the core accepted an invalid config table"),
]


# --- broken channels ----------------------------------------------------------------------------------------------


class ForgetsRecipients(ToyChannel):
    """Answers only the recipients that succeeded."""

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        result = await super().send(message)
        return result.model_copy(update={"recipients": {r: a for r, a in result.recipients.items() if a == "ok"}})


class AlwaysDelivered(ToyChannel):
    """Reports ``delivered`` whatever happened to the recipients."""

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return (await super().send(message)).model_copy(update={"status": "delivered"})


class StampedCompose(ToyChannel):
    """Puts a counter in every message, so a re-send is never recognised as the same message."""

    sent = 0

    def compose(self, kind: str, lang: str, context: Any, *, key: str, recipients: Sequence[str]) -> OutboundMessage:
        StampedCompose.sent += 1
        message = super().compose(kind, lang, context, key=key, recipients=recipients)
        return message.model_copy(update={"text": f"{message.text} #{StampedCompose.sent}"})


class SecretInError(ToyChannel):
    """Quotes its token in the error a refused login raises."""

    async def post(self, message: OutboundMessage) -> dict[str, str]:
        try:
            return await super().post(message)
        except Exception as exc:
            raise type(exc)(f"{exc} (sent {self.config.token.get_secret_value()})") from None


class PlainSecretConfig(ToyChatConfig):
    """Keeps the token as plain text."""

    token: str  # type: ignore[assignment]


class PlainSecret(ToyChannel):
    config_model = PlainSecretConfig

    def __init__(self, config: Any, context: Any) -> None:
        Channel.__init__(self, config, context)
        self.http = httpx.AsyncClient(base_url=config.base_url, headers={"authorization": f"Bearer {config.token}"})


CHANNEL_CASES = [
    (ForgetsRecipients, "test_send_answers_every_recipient", "answers"),
    (AlwaysDelivered, "test_send_answers_every_recipient", "status 'delivered' with one recipient refused"),
    (StampedCompose, "test_compose_is_deterministic", "two different messages"),
    (SecretInError, "test_rejected_credentials_are_fatal", "token appears in the error"),
    (PlainSecret, "test_secrets_never_in_reprs", "no SecretStr"),
]

CASES = [(TestToyConnectorContract, *case) for case in CONNECTOR_CASES] + [
    (TestToyChannelContract, *case) for case in CHANNEL_CASES
]


@pytest.mark.parametrize(
    ("good", "broken", "check", "says"), CASES, ids=[f"{c.__name__}-{m.removeprefix('test_')}" for _, c, m, _ in CASES]
)
def test_a_broken_plugin_fails_its_check(good: type[Any], broken: type[Any], check: str, says: str) -> None:
    """The contract that passes the good toy, run on the broken one: that check fails, saying why."""
    given = "connector_class" if issubclass(good, ConnectorContract) else "channel_class"
    contract = type(f"Contract{broken.__name__}", (good,), {given: broken})()
    with pytest.raises(AssertionError) as failed:
        getattr(contract, check)()
    assert says in str(failed.value)
    assert "toy-service-bearer-token" not in str(failed.value)  # a failing check never prints the secret


def test_a_contract_without_a_service_says_what_to_provide() -> None:
    class NoService(ConnectorContract):
        plugin = "toy"
        connector_class: ClassVar[Any] = ToyConnector

    with pytest.raises(NotImplementedError, match="set `sandbox_app` or implement `service"):
        NoService().service()


def test_an_unregistered_plugin_is_named() -> None:
    class Unknown(ConnectorContract):
        plugin = "no_such_plugin"

    with pytest.raises(AssertionError, match="no connector plugin 'no_such_plugin' is registered"):
        Unknown().test_declares_streams()
