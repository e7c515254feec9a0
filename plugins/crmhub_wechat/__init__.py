"""crmhub's WeCom (企业微信) plugin: the ``wechat_work`` notification channel and a faithful WeCom simulator.

The channel sends application messages (text, markdown, textcard) through ``/cgi-bin/message/send``, group-robot
messages through ``/cgi-bin/webhook/send`` and, optionally, WeChat Official Account template messages. WeCom
drops messages past 30 a minute per member *silently*, so the channel paces every recipient itself.

Public API: `WecomChannel`, `WecomConfig`, `render_wecom`, `render_wecom_parts`, and
`crmhub_wechat.simulator.build_app` / `WecomSimulator` for tests and ``crmhub sandbox serve``.
"""

from __future__ import annotations

from crmhub_wechat.channel import WecomChannel
from crmhub_wechat.config import WecomConfig
from crmhub_wechat.rendering import WecomRendered, render_wecom, render_wecom_parts

__all__ = ["WecomChannel", "WecomConfig", "WecomRendered", "render_wecom", "render_wecom_parts"]
