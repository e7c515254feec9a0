"""One instance per configured channel, shared by everything that sends in this process.

Why a pool: a channel instance holds what must not be duplicated — WeCom's per-member pacing windows (WeCom drops
excess messages *silently*, so two instances pacing independently could push a member over the limit), a cached
access token, a kept SMTP connection. The pool creates each instance on first use and closes them all together;
the host (a CLI command, the scheduler) keeps one pool open for as long as it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.contract import Channel, PluginContext, SendLog, TokenCache

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.plugins import Registry


class ChannelPool:
    """Lazily created channel instances by configured name."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        token_cache: TokenCache | None = None,
        send_log: SendLog | None = None,
    ) -> None:
        """``send_log`` keeps the channels' rate-limit pacing across restarts (`crmhub.notify.sendlog`)."""
        self.settings = settings
        self.registry = registry
        self.token_cache = token_cache
        self.send_log = send_log
        self._open: dict[str, Channel[Any]] = {}

    def plugin(self, name: str) -> str | None:
        """The plugin behind channel ``name`` (None when it is not configured)."""
        cfg = self.settings.channels.get(name)
        return cfg.plugin if cfg is not None else None

    def why_unavailable(self, name: str) -> str | None:
        """Why channel ``name`` cannot send (not configured, disabled, plugin missing), or None."""
        cfg = self.settings.channels.get(name)
        if cfg is None:
            return f"channel {name!r} is not configured under [channels]"
        if not cfg.enabled:
            return f"channel {name!r} is disabled"
        if cfg.plugin not in self.registry.channels:
            return f"channel {name!r} needs plugin {cfg.plugin!r}, which is not installed"
        return None

    def get(self, name: str) -> Channel[Any] | None:
        """The instance of channel ``name``, created on first use (None when unavailable)."""
        channel = self._open.get(name)
        if channel is not None:
            return channel
        if self.why_unavailable(name) is not None:
            return None
        cfg = self.settings.channels[name]
        channel = self.registry.channels[cfg.plugin](
            cfg, PluginContext(name=name, token_cache=self.token_cache, send_log=self.send_log)
        )
        self._open[name] = channel
        return channel

    async def aclose(self) -> None:
        """Close every instance (HTTP clients, SMTP connections)."""
        channels, self._open = list(self._open.values()), {}
        for channel in channels:
            await channel.aclose()

    async def __aenter__(self) -> ChannelPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
