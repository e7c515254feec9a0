"""`WecomChannel`: delivers crmhub notifications as WeCom application messages, group-robot messages and
(optionally) Official Account template messages.

What "delivered" means here: **accepted by WeCom**. WeCom answers ``errcode 0`` even for members it will silently
drop (past 30 messages/min), so the channel paces every recipient (and the group robot, 20/min) below the limit —
across restarts too, from the calls the store's send log kept (`PersistentPacing`); it reports ``invaliduser`` /
``unlicenseduser`` per recipient, fails the message on record-level errcodes (81013 …), raises `FatalError` /
`AuthError` for configuration problems and `RetriableError` for transient ones when nothing was delivered.

Idempotency: WeCom's ``enable_duplicate_check`` drops an identical retry within ``duplicate_check_interval``, and
the channel remembers, per notification key, which recipients already have the message, so a retry of a
partial delivery only goes to the recipients that are still missing it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from crmhub.contract import Channel, CheckResult, DeliveryResult, OutboundMessage, PluginContext
from crmhub.errors import FatalError, IntegrationError, RecordError, RetriableError
from crmhub.http import RetryPolicy
from crmhub_wechat import errcodes as ec
from crmhub_wechat.api import Answer, Sleep, WecomApi, errcode_of
from crmhub_wechat.compose import AT_ALL, Targets, app_bodies, oa_body, parse_recipients, robot_bodies
from crmhub_wechat.config import WecomConfig
from crmhub_wechat.pacing import Limit, PersistentPacing, RecipientPacer
from crmhub_wechat.rendering import render_wecom_parts

log = logging.getLogger("crmhub.plugins.wechat_work")

OK = "ok"
ROBOT = "@robot"
"""The pacing and send-log key of the channel's group robot (one robot per channel)."""
_REMEMBERED_KEYS = 4096
OA_DUPLICATE_WINDOW = 600.0
"""Official Account template messages: ``client_msg_id`` is de-duplicated per openid for 10 minutes."""
_RECORD_REASONS = {
    ec.ALL_RECIPIENTS_INVALID: "no valid recipient: every user/department/tag is invalid or outside the app's "
    "visible range (81013)",
    ec.ALL_MEMBERS_INVALID: "every member/department/tag is invalid (82001)",
    ec.NO_PERMISSION: "the app may not message these members/departments/tags (60011)",
    ec.REQUIRE_SUBSCRIBE: "not a follower of the Official Account (43004)",
    ec.INVALID_USERID: "invalid user or openid (40003)",
    ec.EMPTY_CONTENT: "empty content (44004)",
    ec.CONTENT_TOO_LONG: "content too long for WeCom (45002)",
    ec.INVALID_TEMPLATE_ARGUMENT: "the template data was rejected (47003): check oa_fields",
}


class _Outcome:
    """Per-recipient outcome of one `send`, plus what the engine needs to decide what to do next."""

    def __init__(self, targets: Targets) -> None:
        self.recipients: dict[str, str] = dict.fromkeys(
            [*targets.users, *targets.parties, *targets.tags, *targets.robot, *targets.oa], OK
        )
        self.recipients.update(targets.invalid)
        self.answers: list[str] = []
        self.errors: list[IntegrationError] = []

    def fail(self, originals: list[str], reason: str) -> None:
        for original in originals:
            if self.recipients.get(original, OK) == OK:
                self.recipients[original] = reason

    def exception(self, originals: list[str], exc: IntegrationError) -> None:
        self.errors.append(exc)
        prefix = "retriable: " if isinstance(exc, RetriableError) else "fatal: "
        self.fail(originals, prefix + str(exc))


class WecomChannel(Channel[WecomConfig]):
    """WeCom (企业微信) notifications; see the module docstring for recipient syntax and delivery semantics."""

    config_model = WecomConfig

    def __init__(
        self,
        config: WecomConfig,
        context: PluginContext,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``transport``, ``sleep`` and ``clock`` are for tests; production uses the defaults."""
        super().__init__(config, context)
        self.api = WecomApi(config, context, transport=transport, sleep=sleep, clock=clock)
        window = config.rate_window_seconds
        self.user_pacer = RecipientPacer(
            [Limit(config.per_user_per_minute, window), Limit(config.per_user_per_hour, window * 60)], clock=clock
        )
        self.robot_pacer = RecipientPacer([Limit(config.robot_per_minute, window)], clock=clock)
        self.persisted = PersistentPacing(
            context.send_log, context.name, clock=clock, timeout=config.timeout, horizon=window + config.timeout
        )
        self._delivered: OrderedDict[str, set[str]] = OrderedDict()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.api.aclose()

    # --- check ---------------------------------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Fetch a token and read the app (``agent/get``): proves corp id, secret, agent id and trusted IP."""
        cfg = self.config
        details: dict[str, Any] = {
            "base_url": cfg.base_url,
            "corp_id": cfg.corp_id,
            "agent_id": cfg.agent_id,
            "msgtype": cfg.msgtype,
        }
        try:
            answer = await self.api.app_call(
                "GET",
                "/cgi-bin/agent/get",
                params={"agentid": cfg.agent_id},
                policy=RetryPolicy(max_attempts=2, base_delay=0.5, max_total_wait=2.0),
            )
        except IntegrationError as exc:
            return CheckResult(ok=False, message=str(exc), details=details)
        code = errcode_of(answer)
        if code != 0:
            return CheckResult(
                ok=False,
                details=details,
                message=(f"WeCom agent/get answered errcode {code} ({ec.short_errmsg(str(answer.get('errmsg', '')))})"),
            )
        users = (answer.get("allow_userinfos") or {}).get("user") or []
        details.update(
            app_name=answer.get("name"),
            visible_users=len(users),
            visible_departments=len((answer.get("allow_partys") or {}).get("partyid") or []),
        )
        details["robot"] = (
            "configured (not verified: WeCom has no way to test a robot key without posting)"
            if cfg.webhook_key is not None
            else "not configured"
        )
        details["official_account"] = (
            "configured (not verified: fetching an OA token retires the one in use)"
            if cfg.oa_enabled
            else "not configured"
        )
        if answer.get("close") == 1:
            return CheckResult(ok=False, details=details, message=f"WeCom app {cfg.agent_id} is disabled (停用)")
        return CheckResult(
            ok=True,
            details=details,
            message=(
                f"WeCom app {cfg.agent_id} ({answer.get('name') or '?'}) reachable: corp id, secret and trusted IP ok"
            ),
        )

    # --- compose -------------------------------------------------------------------------------------------

    def compose(
        self, kind: str, lang: str, context: Mapping[str, Any], *, key: str, recipients: Sequence[str]
    ) -> OutboundMessage:
        """The notification rendered by this plugin's zh/en markdown templates (`render_wecom_parts`), masked.

        Deterministic for the same arguments, so a re-send carries the very body WeCom's duplicate check knows.
        """
        parts = render_wecom_parts(kind, lang, context)
        return OutboundMessage(
            key=key,
            recipients=list(recipients),
            subject=parts.title,
            text=parts.text,
            markdown=parts.markdown,
            kind=kind,
        )

    def duplicate_window(self, recipient: str) -> float:
        """WeCom drops an identical app message within ``duplicate_check_interval`` (when ``duplicate_check`` is on)
        and an OA template message with the same ``client_msg_id`` within 10 minutes; group robots never do."""
        targets = parse_recipients([recipient], allow_at_all=self.config.allow_at_all)
        if targets.app:
            return float(self.config.duplicate_check_interval) if self.config.duplicate_check else 0.0
        if targets.oa:
            return OA_DUPLICATE_WINDOW
        return 0.0

    # --- send ----------------------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver ``message`` to every recipient; see the module docstring for the outcome rules."""
        targets = parse_recipients(message.recipients, allow_at_all=self.config.allow_at_all)
        already = self._delivered.get(message.key, set())
        outcome = _Outcome(targets)
        _drop(targets, already)
        if targets.app:
            await self._guard(outcome, self._targets_app(targets), self._send_app(message, targets, outcome))
        if targets.robot:
            await self._guard(outcome, targets.robot, self._send_robot(message, targets.robot, outcome))
        for original, openid in targets.oa.items():
            await self._guard(outcome, [original], self._send_oa(message, original, openid, outcome))
        return self._result(message, outcome)

    @staticmethod
    def _targets_app(targets: Targets) -> list[str]:
        return [*targets.users, *targets.parties, *targets.tags]

    async def _guard(self, outcome: _Outcome, originals: list[str], work: Awaitable[None]) -> None:
        """Run one target's delivery; its errors become per-recipient reasons (raised later if nothing arrived)."""
        try:
            await work
        except RecordError as exc:
            outcome.fail(originals, str(exc))
        except IntegrationError as exc:
            outcome.exception(originals, exc)

    def _result(self, message: OutboundMessage, outcome: _Outcome) -> DeliveryResult:
        ok = [r for r, reason in outcome.recipients.items() if reason == OK]
        if ok:
            remembered = self._delivered.setdefault(message.key, set())
            remembered.update(ok)
            self._delivered.move_to_end(message.key)
            while len(self._delivered) > _REMEMBERED_KEYS:
                self._delivered.popitem(last=False)
        elif outcome.errors:
            fatal = [e for e in outcome.errors if isinstance(e, FatalError)]
            raise (fatal or outcome.errors)[0]
        ordered = {r: outcome.recipients[r] for r in message.recipients if r in outcome.recipients}
        status = "delivered" if len(ok) == len(ordered) and ok else "partial" if ok else "failed"
        retriable = any(isinstance(e, RetriableError) for e in outcome.errors)
        log.info(
            "channel %s: message %s %s (%d/%d recipients)",
            self.name,
            message.key,
            status,
            len(ok),
            len(outcome.recipients),
        )
        return DeliveryResult(
            key=message.key, status=status, recipients=ordered, answer="; ".join(outcome.answers), retriable=retriable
        )

    async def _send_app(self, message: OutboundMessage, targets: Targets, outcome: _Outcome) -> None:
        cfg = self.config
        users = dict(targets.users)
        parties = dict(targets.parties)
        tags = dict(targets.tags)
        bodies = app_bodies(message, cfg)
        for index, body in enumerate(bodies, start=1):
            if not (users or parties or tags):
                return
            request: dict[str, Any] = {
                "touser": "|".join(dict.fromkeys(users.values())),
                "toparty": "|".join(dict.fromkeys(parties.values())),
                "totag": "|".join(dict.fromkeys(tags.values())),
                "agentid": cfg.agent_id,
                **body,
            }
            if cfg.duplicate_check:
                request.update(enable_duplicate_check=1, duplicate_check_interval=cfg.duplicate_check_interval)
            keys = (
                [u.lower() for u in users.values()]
                + [f"party:{p}" for p in parties.values()]
                + [f"tag:{t}" for t in tags.values()]
            )
            self.persisted.seed(self.user_pacer, keys)
            async with self.user_pacer.slot(keys):
                started = self.persisted.started(keys, message.key)
                try:
                    answer = await self.api.app_call("POST", "/cgi-bin/message/send", json_body=request)
                finally:
                    self.persisted.ended(keys, message.key, started)
            code = errcode_of(answer)
            part = f" (part {index}/{len(bodies)})" if len(bodies) > 1 else ""
            if code != 0:
                reason = (
                    _RECORD_REASONS.get(code)
                    or f"WeCom answered errcode {code} ({ec.short_errmsg(str(answer.get('errmsg', '')))})"
                )
                outcome.fail([*users, *parties, *tags], reason + part)
                outcome.answers.append(f"errcode={code}{part}")
                return
            outcome.answers.append(f"msgid={answer.get('msgid', '?')}{part}")
            self._apply_invalid(answer, users, parties, tags, outcome, part)

    @staticmethod
    def _apply_invalid(
        answer: Answer,
        users: dict[str, str],
        parties: dict[str, str],
        tags: dict[str, str],
        outcome: _Outcome,
        part: str,
    ) -> None:
        """Mark recipients WeCom listed as invalid/unlicensed (ids lower-cased by WeCom) and stop sending to them."""

        def listed(field: str) -> set[str]:
            return {v.strip().lower() for v in str(answer.get(field) or "").split("|") if v.strip()}

        invalid_users, unlicensed = listed("invaliduser"), listed("unlicenseduser")
        invalid_parties, invalid_tags = listed("invalidparty"), listed("invalidtag")
        for original, uid in list(users.items()):
            if uid == AT_ALL:
                continue
            if uid.lower() in invalid_users:
                outcome.fail(
                    [original],
                    "invalid user: not in the WeCom directory or outside the app's visible range (invaliduser)" + part,
                )
                del users[original]
            elif uid.lower() in unlicensed:
                outcome.fail([original], "user has no WeCom licence (unlicenseduser)" + part)
                del users[original]
        for original, pid in list(parties.items()):
            if pid.lower() in invalid_parties:
                outcome.fail([original], "invalid department (invalidparty)" + part)
                del parties[original]
        for original, tid in list(tags.items()):
            if tid.lower() in invalid_tags:
                outcome.fail([original], "invalid tag (invalidtag)" + part)
                del tags[original]

    async def _send_robot(self, message: OutboundMessage, originals: list[str], outcome: _Outcome) -> None:
        bodies = robot_bodies(message, self.config)
        for index, body in enumerate(bodies, start=1):
            self.persisted.seed(self.robot_pacer, [ROBOT])
            async with self.robot_pacer.slot([ROBOT]):
                started = self.persisted.started([ROBOT], message.key)
                try:
                    answer = await self.api.robot_send(body)
                finally:
                    self.persisted.ended([ROBOT], message.key, started)
            code = errcode_of(answer)
            part = f" (part {index}/{len(bodies)})" if len(bodies) > 1 else ""
            if code != 0:
                outcome.fail(
                    originals,
                    f"group robot answered errcode {code} ({ec.short_errmsg(str(answer.get('errmsg', '')))}){part}",
                )
                outcome.answers.append(f"robot errcode={code}{part}")
                return
            outcome.answers.append(f"robot ok{part}")

    async def _send_oa(self, message: OutboundMessage, original: str, openid: str, outcome: _Outcome) -> None:
        body = oa_body(message, self.config, openid, self.context.clock())
        answer = await self.api.oa_call("/cgi-bin/message/template/send", body)
        code = errcode_of(answer)
        if code != 0:
            reason = (
                _RECORD_REASONS.get(code)
                or f"Official Account answered errcode {code} ({ec.short_errmsg(str(answer.get('errmsg', '')))})"
            )
            outcome.fail([original], reason)
            return
        outcome.answers.append(f"oa msgid={answer.get('msgid', '?')}")


def _drop(targets: Targets, delivered: set[str]) -> None:
    """Forget recipients that already have this notification (a retry goes only to the missing ones)."""
    for bucket in (targets.users, targets.parties, targets.tags, targets.oa):
        for original in [o for o in bucket if o in delivered]:
            del bucket[original]
    targets.robot[:] = [r for r in targets.robot if r not in delivered]
