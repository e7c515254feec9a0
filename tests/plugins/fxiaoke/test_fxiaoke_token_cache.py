"""A token from the shared token cache is usable as it is: it comes with its corpId, so a second process (here a
second connector sharing the cache, as runs share the store's) signs with it instead of being refused and minting
its own under Fenxiang's 10-tokens-a-minute limit."""

from __future__ import annotations

from collections.abc import Callable

from crmhub.contract import PluginContext
from crmhub.sandbox.runner import ThreadedServer
from crmhub.testing.base import MemoryTokenCache
from crmhub_fxiaoke import FxiaokeConfig, FxiaokeConnector
from crmhub_fxiaoke.simulator import default_settings


async def test_a_cached_token_is_reused_with_its_corp_id(serve: Callable[..., ThreadedServer]) -> None:
    server = serve(generate=5)
    cache = MemoryTokenCache()
    config = FxiaokeConfig.model_validate({"plugin": "fxiaoke", "base_url": server.url, **default_settings()})
    counts = []
    for _ in range(2):
        async with FxiaokeConnector(config, PluginContext(name="fxiaoke", token_cache=cache)) as conn:
            assert (await conn.check()).ok
            counts.append(len([p async for p in conn.pull("accounts", None)]))
    stats = server.app.simulator.stats()
    assert counts[0] == counts[1] >= 1
    assert stats["tokens_issued"] == 1
    assert not any(code == 20016 for codes in stats["codes"].values() for code in codes)
