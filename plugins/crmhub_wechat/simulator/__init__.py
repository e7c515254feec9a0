"""A faithful WeCom (企业微信) simulator: access tokens, application messages, group robots, Official Account
template messages, the silent per-member drop, and an inbox that shows what a real client never sees.

``build_app(options)`` returns the ASGI app; ``app.simulator`` is the live `WecomSimulator` (its inbox, rejected
calls, silent drops and request log). Endpoints are listed in `crmhub_wechat.simulator.app`, settings in
`crmhub_wechat.simulator.settings`.
"""

from __future__ import annotations

from crmhub_wechat.simulator.app import WecomSandboxApp, build_app
from crmhub_wechat.simulator.records import Delivered, Dropped, Rejected, RequestRecord
from crmhub_wechat.simulator.settings import (
    DEFAULT_AGENT_ID,
    DEFAULT_CORP_ID,
    DEFAULT_OA_APP_ID,
    DEFAULT_OA_FOLLOWERS,
    DEFAULT_OA_SECRET,
    DEFAULT_OA_TEMPLATE,
    DEFAULT_SECRET,
    DEFAULT_WEBHOOK_KEY,
    AppSpec,
    SimSettings,
    settings_for,
    settings_from,
)
from crmhub_wechat.simulator.state import WecomSimulator

__all__ = [
    "DEFAULT_AGENT_ID",
    "DEFAULT_CORP_ID",
    "DEFAULT_OA_APP_ID",
    "DEFAULT_OA_FOLLOWERS",
    "DEFAULT_OA_SECRET",
    "DEFAULT_OA_TEMPLATE",
    "DEFAULT_SECRET",
    "DEFAULT_WEBHOOK_KEY",
    "AppSpec",
    "Delivered",
    "Dropped",
    "Rejected",
    "RequestRecord",
    "SimSettings",
    "WecomSandboxApp",
    "WecomSimulator",
    "build_app",
    "settings_for",
    "settings_from",
]
