"""Hook implementations of the ``wechat_work`` plugin: the WeCom channel and the WeCom simulator."""

from __future__ import annotations

from typing import Any

from crmhub.contract import Channel, SandboxApp
from crmhub.hookspecs import hookimpl


@hookimpl
def crmhub_register_channels() -> dict[str, type[Channel[Any]]]:
    """``[channels.x] plugin = "wechat_work"`` selects `WecomChannel`."""
    from crmhub_wechat.channel import WecomChannel

    return {"wechat_work": WecomChannel}


@hookimpl
def crmhub_sandbox_apps() -> list[SandboxApp]:
    """The WeCom simulator (preferably on ``--port-base + 3``); its config points a ``[channels.wecom]`` table at it."""
    from crmhub_wechat.simulator import build_app
    from crmhub_wechat.simulator import settings as s

    return [
        SandboxApp(
            name="wechat_work",
            title="WeCom (企业微信) API",
            preferred_offset=3,
            build=build_app,
            config_section="channels",
            config_name="wecom",
            config=lambda base_url: {
                "plugin": "wechat_work",
                "base_url": base_url,
                "corp_id": s.DEFAULT_CORP_ID,
                "corp_secret": s.DEFAULT_SECRET,
                "agent_id": s.DEFAULT_AGENT_ID,
                "webhook_key": s.DEFAULT_WEBHOOK_KEY,
                "oa_base_url": base_url,
                "oa_app_id": s.DEFAULT_OA_APP_ID,
                "oa_app_secret": s.DEFAULT_OA_SECRET,
                "oa_template_id": s.DEFAULT_OA_TEMPLATE,
            },
        )
    ]
