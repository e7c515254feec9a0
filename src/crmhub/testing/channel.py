"""`ChannelContract`: the checks every notification channel passes against its own sandbox service.

What the notification outbox relies on: a `DeliveryResult` for the message it sent (same key) that answers every
recipient (``"ok"`` or the reason), a refused recipient failing alone, ``compose`` giving the same message for the
same arguments (a re-send is absorbed by the service's duplicate check only when identical), and errors typed by
what to do: `RetriableError` (or a result marked ``retriable``) pauses the channel, `FatalError` stops it.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from crmhub.contract import Channel, ChannelConfig, DeliveryResult, OutboundMessage
from crmhub.errors import FatalError, RetriableError
from crmhub.testing.base import Fault, PluginContract, assert_no_secrets, capture_logs, run, secret_values

SAMPLE_CONTEXT: dict[str, Any] = {
    "lang": "en",
    "client": "示范科技有限公司",
    "rating": "BBB",
    "previous": "A",
    "reason": "conformance check",
}
"""The context `ChannelContract.message` composes a ``test`` notification from."""


class ChannelContract(PluginContract):
    """Subclass in your channel plugin's tests; pytest runs every ``test_*`` check against your `service`.

    Provide ``plugin``, `service` (or ``sandbox_app``), ``recipients`` the service accepts and a
    ``refused_recipient`` it refuses for good.
    """

    section = "channels"

    channel_class: ClassVar[type[Channel[Any]] | None] = None
    """The channel class, when it is not registered through an entry point under ``plugin`` (tests)."""

    recipients: ClassVar[tuple[str, ...]] = ()
    """At least two recipients the healthy service delivers to (addresses, user ids … as the channel takes them)."""

    refused_recipient: ClassVar[str] = ""
    """A recipient the healthy service refuses for good (unknown user, rejected address)."""

    def message(self, key: str, recipients: tuple[str, ...] | list[str], channel: Channel[Any]) -> OutboundMessage:
        """The message the checks send: ``channel.compose("test", "en", SAMPLE_CONTEXT, …)``. Override for
        another kind."""
        return channel.compose("test", "en", SAMPLE_CONTEXT, key=key, recipients=list(recipients))

    # --- helpers ---------------------------------------------------------------------------------------------

    def _given_class(self) -> Any:
        return self.channel_class

    def channel(self, table: dict[str, Any]) -> Channel[Any]:
        """A channel built from ``table`` as the core builds it (`PluginContract.instance`)."""
        channel: Channel[Any] = self.instance(table, ChannelConfig)
        return channel

    async def send(
        self, table: dict[str, Any], key: str, recipients: tuple[str, ...] | list[str]
    ) -> tuple[OutboundMessage, DeliveryResult]:
        """Compose and send one message with a fresh channel; (message, result)."""
        async with self.channel(table) as channel:
            message = self.message(key, recipients, channel)
            return message, await channel.send(message)

    # --- checks ----------------------------------------------------------------------------------------------

    def test_declares_channel(self) -> None:
        """The plugin key gives a `Channel` with a `ChannelConfig` model, and ``check()`` passes against the healthy
        service."""
        cls = self.plugin_class()
        assert isinstance(cls, type) and issubclass(cls, Channel), f"{cls!r} is not a Channel subclass"
        assert issubclass(cls.config_model, ChannelConfig), "config_model must subclass ChannelConfig"

        async def check(table: dict[str, Any]) -> None:
            async with self.channel(table) as channel:
                result = await channel.check()
                assert result.ok, f"check() failed against the healthy service: {result.message}"

        with self.service() as table:
            run(check(table))

    def test_send_answers_every_recipient(self) -> None:
        """A message to good recipients is ``delivered`` under its own key with ``"ok"`` for each; adding the
        refused recipient makes it ``partial``, that recipient alone failing with a reason, not retriable."""
        assert len(self.recipients) >= 2, "give at least two recipients the service accepts"
        assert self.refused_recipient, "give a refused_recipient the service refuses"
        with self.service() as table:
            message, result = run(self.send(table, "contract-1", self.recipients))
            assert result.key == message.key, f"the result's key {result.key!r} is not the message's"
            assert result.recipients == dict.fromkeys(message.recipients, "ok"), (
                f"expected 'ok' for every recipient, got {result.recipients}"
            )
            assert result.status == "delivered", f"status {result.status!r} with every recipient ok"
            mixed = (*self.recipients, self.refused_recipient)
            message, result = run(self.send(table, "contract-2", mixed))
        assert result.key == message.key
        assert set(result.recipients) == set(message.recipients), (
            f"the result answers {sorted(result.recipients)} for {sorted(message.recipients)}"
        )
        assert all(result.recipients[r] == "ok" for r in self.recipients), f"good recipients: {result.recipients}"
        reason = result.recipients[self.refused_recipient]
        assert reason != "ok" and reason.strip(), f"the refused recipient got {reason!r}"
        assert result.status == "partial", f"status {result.status!r} with one recipient refused"
        assert not result.retriable, "a recipient refused for good is not retriable"

    def test_compose_is_deterministic(self) -> None:
        """The same arguments compose the same message (subject, text, html, markdown)."""
        with self.service() as table:
            channel = self.channel(table)
            try:
                first = self.message("contract-3", self.recipients, channel)
                second = self.message("contract-3", self.recipients, channel)
            finally:
                run(channel.aclose())
        assert first == second, "compose gave two different messages for the same arguments"
        assert first.subject and first.text, "compose gave an empty subject or text"

    def test_unavailable_service_is_retriable(self) -> None:
        """A service that is down or answers 5xx gives a `RetriableError` (or a result marked ``retriable``)."""
        self._expect_retriable(Fault.UNAVAILABLE)

    def test_throttling_is_retriable(self) -> None:
        """A service answering "too many requests" gives a `RetriableError` (or a result marked ``retriable``)."""
        self._expect_retriable(Fault.THROTTLED)

    def test_rejected_credentials_are_fatal(self) -> None:
        """Refused credentials raise a `FatalError` from ``send``, make ``check()`` answer ``ok=False`` without
        raising, and neither names a secret."""
        with self.service(Fault.AUTH_REJECTED) as table:
            secrets = secret_values(self.validate(table))
            try:
                run(self.send(table, "contract-4", self.recipients))
            except FatalError as exc:
                error: Exception = exc
            except Exception as exc:
                raise AssertionError(
                    f"send with rejected credentials raised {type(exc).__name__}: {exc}; expected a FatalError"
                ) from exc
            else:
                raise AssertionError("send with rejected credentials did not raise a FatalError")

            async def check() -> str:
                async with self.channel(table) as channel:
                    result = await channel.check()
                    assert not result.ok, "check() passed with rejected credentials"
                    return f"{result.message} {result.details}"

            answer = run(check())
        assert_no_secrets([("the error", f"{error} {error!r}"), ("check()", answer)], secrets)

    def test_secrets_never_in_logs(self) -> None:
        """No log record written while checking and sending (healthy, then with each fault) contains a secret."""
        secrets: dict[str, str] = {}

        async def exercise(table: dict[str, Any]) -> None:
            async with self.channel(table) as channel:
                await channel.check()
                with contextlib.suppress(FatalError, RetriableError):
                    await channel.send(self.message("contract-5", (*self.recipients, self.refused_recipient), channel))

        with capture_logs(self.log_exempt) as logs:
            for fault in (None, *Fault):
                with self.service(fault) as table:
                    secrets.update(secret_values(self.validate(table)))
                    run(exercise(table))
        assert secrets, "the config holds no SecretStr"
        assert_no_secrets(logs.lines, secrets)

    def _expect_retriable(self, fault: Fault) -> None:
        with self.service(fault) as table:
            try:
                _, result = run(self.send(table, f"contract-{fault.value}", self.recipients))
            except RetriableError:
                return
            except Exception as exc:
                raise AssertionError(
                    f"{fault.value}: send raised {type(exc).__name__}: {exc}; expected a "
                    "RetriableError or a retriable result"
                ) from exc
        assert result.status != "delivered" and result.retriable, (
            f"{fault.value}: send answered {result.status!r} (retriable={result.retriable}); expected retriable"
        )
