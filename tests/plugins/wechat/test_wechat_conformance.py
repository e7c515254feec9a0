"""The WeCom channel against `crmhub.testing.ChannelContract`, over real loopback HTTP to the WeCom simulator."""

from __future__ import annotations

from typing import Any

from crmhub.testing import ChannelContract


class TestWecomContract(ChannelContract):
    plugin = "wechat_work"
    sandbox_app = "wechat_work"
    recipients = ("zhangsan", "lisi")
    refused_recipient = "no_such_member"

    def config_overrides(self) -> dict[str, Any]:
        return {"retry_attempts": 2, "retry_base_delay": 0.01, "retry_max_wait": 0.5}
