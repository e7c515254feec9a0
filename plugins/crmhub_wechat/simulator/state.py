"""`WecomSimulator`: the state behind the WeCom simulator — tokens, directory, rate windows, and the inbox.

The inbox is the point of a notification simulator: tests and operators see every accepted message (channel,
recipients, body, time, token used), every rejected one with its errcode, and every message WeCom would have
**silently dropped** (past 30/min or 1,000/h per member, or a duplicate) — the failure a real client cannot see.

Thread-safe: the server runs in its own thread while tests read the inbox from theirs. Time is the simulator's
clock (``SandboxOptions.clock`` plus whatever ``advance`` added), so tests can expire tokens without sleeping.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from crmhub_wechat import errcodes as ec
from crmhub_wechat.simulator.records import Delivered, Dropped, Rejected, RequestRecord, jsonable
from crmhub_wechat.simulator.settings import SimSettings
from crmhub_wechat.simulator.validate import (
    Invalid,
    validate_app_message,
    validate_robot_message,
    validate_template_message,
)

Answer = dict[str, Any]
_SECRET_PARAMS = ("corpsecret", "secret", "key")


@dataclass(slots=True)
class _Token:
    value: str
    kind: str
    agent_id: int | None
    expires: float
    revoked: int | None = None


class WecomSimulator:
    """The simulated corp. Every public method is one WeCom API call and returns the JSON answer."""

    def __init__(self, settings: SimSettings, *, clock: Callable[[], datetime], seed: int = 0) -> None:
        self.settings = settings
        self._clock = clock
        self._offset = 0.0
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._seq = 0
        self._tokens: dict[str, _Token] = {}
        self._current: dict[str, str] = {}
        self._forced_token_error: int | None = None
        self._api_calls: deque[float] = deque()
        self._user_sends: dict[str, deque[float]] = {}
        self._robot_sends: dict[str, deque[float]] = {}
        self._duplicates: dict[str, tuple[float, Answer]] = {}
        self._inbox: list[Delivered] = []
        self._rejected: list[Rejected] = []
        self._dropped: list[Dropped] = []
        self._requests: list[RequestRecord] = []
        self._users = {uid.lower(): uid for uid in settings.users}
        self._unlicensed = {u.lower() for u in settings.unlicensed_users}

    # --- clock & ids ---------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's time."""
        return self._clock() + timedelta(seconds=self._offset)

    def _t(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        """Move the simulator's clock forward (tokens expire, rate windows slide)."""
        with self._lock:
            self._offset += float(seconds)
            return self.now()

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _random(self, nbytes: int) -> str:
        return base64.urlsafe_b64encode(self._rng.randbytes(nbytes)).decode().rstrip("=")

    def _error(self, code: int, detail: str = "", *, ip: str | None = None, head: str | None = None) -> Answer:
        head = head or ec.ERRMSG.get(code, "error")
        hint = f"hint: [{int(self._t())}_{self._random(6)}]"
        where = f", from ip: {ip}" if ip else ""
        text = (
            f"{head}{', ' + detail if detail else ''}, {hint}{where}, "
            f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
        )
        return {"errcode": code, "errmsg": text}

    def _reject(self, channel: str, path: str, answer: Answer, body: Any, token: str | None) -> Answer:
        self._rejected.append(
            Rejected(
                self._next(), channel, path, int(answer["errcode"]), str(answer["errmsg"]), body, self.now(), token
            )
        )
        return answer

    # --- shared checks -------------------------------------------------------------------------------------

    def _gate(self, ip: str | None) -> Answer | None:
        """IP allow-list (60020), injected concurrency faults (45033) and the API-wide rate (45009)."""
        s = self.settings
        if s.ip_allowlist is not None and ip not in s.ip_allowlist:
            return self._error(ec.IP_NOT_ALLOWED, ip=ip or "unknown")
        if s.concurrency_fault_rate and self._rng.random() < s.concurrency_fault_rate:
            return self._error(ec.API_CONCURRENCY_OUT_OF_LIMIT)
        now = self._t()
        while self._api_calls and now - self._api_calls[0] >= s.rate_window_seconds:
            self._api_calls.popleft()
        if len(self._api_calls) >= s.api_calls_per_minute:
            return self._error(ec.API_FREQ_OUT_OF_LIMIT)
        self._api_calls.append(now)
        return None

    def _token_check(self, value: str | None, kind: str) -> tuple[_Token | None, Answer | None]:
        if not value:
            return None, self._error(ec.TOKEN_MISSING)
        if self._forced_token_error is not None:
            return None, self._error(self._forced_token_error)
        token = self._tokens.get(value)
        if token is None or token.kind != kind:
            return None, self._error(ec.INVALID_TOKEN)
        if token.revoked is not None:
            return None, self._error(token.revoked)
        if self._t() >= token.expires:
            return None, self._error(ec.TOKEN_EXPIRED)
        return token, None

    @staticmethod
    def _window(sends: dict[str, deque[float]], key: str, now: float, period: float) -> deque[float]:
        starts = sends.setdefault(key, deque())
        while starts and now - starts[0] >= period:
            starts.popleft()
        return starts

    # --- WeCom app -----------------------------------------------------------------------------------------

    def gettoken(self, corpid: str | None, corpsecret: str | None, ip: str | None) -> Answer:
        """``GET /cgi-bin/gettoken``: the same token while valid, a new one after expiry or invalidation."""
        with self._lock:
            s = self.settings
            if not corpid:
                return self._reject("app", "gettoken", self._error(ec.CORPID_MISSING), None, None)
            if corpid != s.corp_id:
                return self._reject("app", "gettoken", self._error(ec.INVALID_CORPID), None, None)
            if not corpsecret:
                return self._reject("app", "gettoken", self._error(ec.SECRET_MISSING), None, None)
            app = s.app_by_secret(corpsecret)
            if app is None:
                return self._reject("app", "gettoken", self._error(ec.INVALID_SECRET), None, None)
            gate = self._gate(ip)
            if gate is not None:
                return self._reject("app", "gettoken", gate, None, None)
            now = self._t()
            current = self._tokens.get(self._current.get(f"app:{app.agent_id}", ""))
            if current is None or current.revoked is not None or now >= current.expires:
                ttl = s.token_ttl if s.token_ttl is not None else s.token_lifetime
                current = _Token(self._random(96), "app", app.agent_id, now + min(ttl, s.token_lifetime))
                self._tokens[current.value] = current
                self._current[f"app:{app.agent_id}"] = current.value
            remaining = s.token_lifetime if s.token_ttl is not None else current.expires - now
            return {"errcode": 0, "errmsg": "ok", "access_token": current.value, "expires_in": max(1, int(remaining))}

    def agent_get(self, token_value: str | None, agentid: str | None, ip: str | None) -> Answer:
        """``GET /cgi-bin/agent/get``: the app's details (used by ``check()`` to prove agent id and IP)."""
        with self._lock:
            token, error = self._token_check(token_value, "app")
            error = error or self._gate(ip)
            if error is not None or token is None:
                return self._reject("app", "agent/get", error or self._error(ec.INVALID_TOKEN), None, token_value)
            try:
                app = self.settings.app(int(agentid or ""))
            except ValueError:
                app = None
            if app is None or app.agent_id != token.agent_id:
                return self._reject("app", "agent/get", self._error(ec.INVALID_AGENTID), None, token_value)
            users = [{"userid": uid} for uid in self.settings.users]
            return {
                "errcode": 0,
                "errmsg": "ok",
                "agentid": app.agent_id,
                "name": app.name,
                "square_logo_url": "",
                "description": "crmhub sandbox app",
                "allow_userinfos": {"user": users},
                "allow_partys": {"partyid": [int(p) for p in self.settings.parties]},
                "allow_tags": {"tagid": [int(t) for t in self.settings.tags]},
                "close": 0,
                "redirect_domain": "",
                "report_location_flag": 0,
                "isreportenter": 0,
                "home_url": "",
            }

    def _members(self, kind: str, ident: str) -> list[str] | None:
        if kind == "party":
            if ident not in self.settings.parties:
                return None
            if ident == "1":
                return list(self.settings.users)
            return list(self.settings.parties[ident][1])
        if ident not in self.settings.tags:
            return None
        return list(self.settings.tags[ident][1])

    def send_app_message(self, token_value: str | None, body: Any, ip: str | None) -> Answer:
        """``POST /cgi-bin/message/send``: validate, resolve recipients, apply duplicate check and per-member drops."""
        with self._lock:
            token, error = self._token_check(token_value, "app")
            error = error or self._gate(ip)
            if error is not None or token is None:
                return self._reject("app", "message/send", error or self._error(ec.INVALID_TOKEN), body, token_value)
            if not isinstance(body, dict):
                return self._reject("app", "message/send", self._error(ec.DATA_FORMAT_ERROR), body, token_value)
            try:
                msg = validate_app_message(body, self.settings)
                if msg.agentid != token.agent_id:
                    raise Invalid(ec.INVALID_AGENTID)
            except Invalid as exc:
                return self._reject("app", "message/send", self._error(exc.errcode, exc.detail), body, token_value)
            now = self._t()
            dup_key = json.dumps(body, sort_keys=True, ensure_ascii=False)
            if msg.duplicate_check:
                seen = self._duplicates.get(dup_key)
                if seen is not None and now - seen[0] < msg.duplicate_interval:
                    answer = dict(seen[1])
                    self._dropped.append(
                        Dropped(
                            self._next(),
                            "app",
                            str(answer.get("msgid", "")),
                            "*",
                            "duplicate (enable_duplicate_check)",
                            self.now(),
                        )
                    )
                    return answer
            invalid_users = [u.lower() for u in msg.users if u != "@all" and u.lower() not in self._users]
            unlicensed = [u.lower() for u in msg.users if u.lower() in self._unlicensed]
            invalid_parties = [p for p in msg.parties if self._members("party", p) is None]
            invalid_tags = [t for t in msg.tags if self._members("tag", t) is None]
            targets: dict[str, None] = {}
            for u in msg.users:
                if u == "@all":
                    targets.update(dict.fromkeys(self.settings.users))
                elif u.lower() in self._users:
                    targets[self._users[u.lower()]] = None
            for kind, idents in (("party", msg.parties), ("tag", msg.tags)):
                for ident in idents:
                    targets.update(dict.fromkeys(self._members(kind, ident) or []))
            reached = [u for u in targets if u.lower() not in self._unlicensed]
            valid_groups = len(msg.parties) - len(invalid_parties) + len(msg.tags) - len(invalid_tags)
            lists = {
                "invaliduser": "|".join(invalid_users),
                "invalidparty": "|".join(invalid_parties),
                "invalidtag": "|".join(invalid_tags),
                "unlicenseduser": "|".join(unlicensed),
            }
            if not reached and valid_groups == 0:
                answer = {**self._error(ec.ALL_RECIPIENTS_INVALID), **lists}
                return self._reject("app", "message/send", answer, body, token_value)
            msgid = self._random(24)
            seq = self._next()
            delivered, dropped = self._apply_member_limits(reached, msgid, now)
            self._inbox.append(
                Delivered(
                    seq,
                    "app",
                    msgid,
                    msg.msgtype,
                    delivered,
                    body,
                    msg.content,
                    self.now(),
                    token_value,
                    agentid=msg.agentid,
                    dropped=dropped,
                    truncated=msg.truncated,
                    invalid={k: v.split("|") for k, v in lists.items() if v},
                )
            )
            answer = {"errcode": 0, "errmsg": "ok", **lists, "msgid": msgid}
            if msg.duplicate_check:
                self._duplicates[dup_key] = (now, answer)
            return answer

    def _apply_member_limits(self, users: list[str], msgid: str, now: float) -> tuple[list[str], list[str]]:
        """WeCom's silent per-member limits: past N/min or M/h the copy is dropped and nobody is told."""
        s = self.settings
        delivered: list[str] = []
        dropped: list[str] = []
        for user in users:
            starts = self._window(self._user_sends, user.lower(), now, s.rate_window_seconds * 60)
            last_minute = sum(1 for t in starts if now - t < s.rate_window_seconds)
            if last_minute >= s.per_user_per_minute or len(starts) >= s.per_user_per_hour:
                reason = (
                    f"over {s.per_user_per_minute} messages/min per member"
                    if last_minute >= s.per_user_per_minute
                    else f"over {s.per_user_per_hour} messages/h per member"
                )
                self._dropped.append(Dropped(self._next(), "app", msgid, user, reason, self.now()))
                dropped.append(user)
                continue
            starts.append(now)
            delivered.append(user)
        return delivered, dropped

    # --- group robot ---------------------------------------------------------------------------------------

    def send_robot_message(self, key: str | None, body: Any) -> Answer:
        """``POST /cgi-bin/webhook/send?key=``: 93000 for an unknown key, 45009 past 20 per rolling minute."""
        with self._lock:
            s = self.settings
            label = f"robot:{s.webhook_keys.index(key) + 1}" if key in s.webhook_keys else None
            if not key or label is None:
                return self._reject("robot", "webhook/send", self._error(ec.INVALID_WEBHOOK_KEY), body, None)
            now = self._t()
            starts = self._window(self._robot_sends, key, now, s.rate_window_seconds)
            if len(starts) >= s.robot_per_minute:
                return self._reject("robot", "webhook/send", self._error(ec.API_FREQ_OUT_OF_LIMIT), body, label)
            if not isinstance(body, dict):
                return self._reject("robot", "webhook/send", self._error(ec.DATA_FORMAT_ERROR), body, label)
            try:
                msg = validate_robot_message(body, s)
            except Invalid as exc:
                return self._reject("robot", "webhook/send", self._error(exc.errcode, exc.detail), body, label)
            starts.append(now)
            msgid = self._random(18)
            self._inbox.append(
                Delivered(self._next(), "robot", msgid, msg.msgtype, [label], body, msg.content, self.now(), label)
            )
            return {"errcode": 0, "errmsg": "ok"}

    # --- Official Account ----------------------------------------------------------------------------------

    def oa_token(self, grant_type: str | None, appid: str | None, secret: str | None) -> Answer:
        """``GET /cgi-bin/token``: a new token every call; the previous one keeps working for a grace period."""
        with self._lock:
            s = self.settings
            if grant_type != "client_credential":
                return self._reject("oa", "token", self._error(ec.INVALID_GRANT_TYPE), None, None)
            if appid != s.oa_app_id:
                return self._reject("oa", "token", self._error(ec.INVALID_CORPID, head="invalid appid"), None, None)
            if secret != s.oa_secret:
                return self._reject("oa", "token", self._error(ec.INVALID_SECRET), None, None)
            now = self._t()
            previous = self._tokens.get(self._current.get("oa", ""))
            if previous is not None:
                previous.expires = min(previous.expires, now + s.oa_old_token_grace)
            ttl = s.token_ttl if s.token_ttl is not None else s.token_lifetime
            token = _Token(self._random(96), "oa", None, now + min(ttl, s.token_lifetime))
            self._tokens[token.value] = token
            self._current["oa"] = token.value
            return {"access_token": token.value, "expires_in": int(s.token_lifetime)}

    def send_template_message(self, token_value: str | None, body: Any) -> Answer:
        """``POST /cgi-bin/message/template/send``: 40003 / 43004 / 40037 / 47003; ``client_msg_id`` de-dup."""
        with self._lock:
            token, error = self._token_check(token_value, "oa")
            if error is not None or token is None:
                return self._reject(
                    "oa", "message/template/send", error or self._error(ec.INVALID_TOKEN), body, token_value
                )
            if not isinstance(body, dict):
                return self._reject("oa", "message/template/send", self._error(ec.DATA_FORMAT_ERROR), body, token_value)
            try:
                openid, template_id, cmid = validate_template_message(body, self.settings)
            except Invalid as exc:
                return self._reject(
                    "oa", "message/template/send", self._error(exc.errcode, exc.detail), body, token_value
                )
            now = self._t()
            dup_key = f"oa:{openid}:{cmid}"
            if cmid:
                seen = self._duplicates.get(dup_key)
                if seen is not None and now - seen[0] < self.settings.oa_dedup_seconds:
                    self._dropped.append(
                        Dropped(
                            self._next(), "oa", str(seen[1]["msgid"]), openid, "duplicate client_msg_id", self.now()
                        )
                    )
                    return dict(seen[1])
            msgid = self._rng.randrange(10**9, 10**10)
            content = "\n".join(f"{k}: {v.get('value')}" for k, v in body["data"].items() if isinstance(v, dict))
            self._inbox.append(
                Delivered(
                    self._next(),
                    "oa",
                    str(msgid),
                    f"template:{template_id}",
                    [openid],
                    body,
                    content,
                    self.now(),
                    token_value,
                )
            )
            answer: Answer = {"errcode": 0, "errmsg": "ok", "msgid": msgid}
            if cmid:
                self._duplicates[dup_key] = (now, answer)
            return answer

    # --- operator / test controls --------------------------------------------------------------------------

    def invalidate_tokens(
        self, errcode: int = ec.TOKEN_EXPIRED, *, persistent: bool = False, kind: str | None = None
    ) -> int:
        """End the current tokens early: they answer ``errcode`` (42001 expired or 40014 invalid) from now on.

        ``persistent`` makes *every* token, even fresh ones, answer ``errcode`` until `clear_token_fault`.
        Returns how many tokens were invalidated.
        """
        if errcode not in (ec.TOKEN_EXPIRED, ec.INVALID_TOKEN):
            raise ValueError("errcode must be 42001 (expired) or 40014 (invalid)")
        with self._lock:
            if persistent:
                self._forced_token_error = errcode
            count = 0
            for key, value in self._current.items():
                if kind is None or key.startswith(kind):
                    token = self._tokens[value]
                    if token.revoked is None:
                        token.revoked = errcode
                        count += 1
            return count

    def clear_token_fault(self) -> None:
        """Stop answering every token with a forced error (after ``invalidate_tokens(persistent=True)``)."""
        with self._lock:
            self._forced_token_error = None

    def record_request(self, method: str, path: str, params: dict[str, str], errcode: int | None) -> None:
        """Log one HTTP call (the app layer calls this for every request, injected faults included)."""
        safe = {k: ("***" if k in _SECRET_PARAMS else v) for k, v in params.items()}
        with self._lock:
            self._requests.append(RequestRecord(self._next(), self.now(), method, path, safe, errcode))

    def reset(self) -> None:
        """Forget messages, rejections, drops, requests and rate windows (tokens stay valid)."""
        with self._lock:
            for log in (self._inbox, self._rejected, self._dropped, self._requests):
                log.clear()
            self._api_calls.clear()
            self._user_sends.clear()
            self._robot_sends.clear()
            self._duplicates.clear()

    # --- inbox ---------------------------------------------------------------------------------------------

    @property
    def inbox(self) -> list[Delivered]:
        """Every accepted message, oldest first (a copy)."""
        with self._lock:
            return list(self._inbox)

    @property
    def rejected(self) -> list[Rejected]:
        """Every refused call with its errcode (a copy)."""
        with self._lock:
            return list(self._rejected)

    @property
    def dropped(self) -> list[Dropped]:
        """Every silently dropped copy (a copy)."""
        with self._lock:
            return list(self._dropped)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every HTTP call seen (a copy)."""
        with self._lock:
            return list(self._requests)

    def messages_for(self, recipient: str) -> list[Delivered]:
        """Accepted messages that reached ``recipient`` (a UserID, case-insensitive; ``robot:1``; an openid)."""
        wanted = recipient.lower()
        return [m for m in self.inbox if wanted in (r.lower() for r in m.recipients)]

    def count(self, path: str) -> int:
        """How many HTTP calls hit ``path`` (e.g. ``/cgi-bin/gettoken``)."""
        return sum(1 for r in self.requests if r.path == path)

    def snapshot(self) -> dict[str, Any]:
        """The inbox as JSON: ``messages``, ``rejected``, ``dropped`` and the clock."""
        with self._lock:
            return {
                "now": self.now().isoformat(),
                "messages": [jsonable(asdict(m)) for m in self._inbox],
                "rejected": [jsonable(asdict(r)) for r in self._rejected],
                "dropped": [jsonable(asdict(d)) for d in self._dropped],
            }

    def requests_snapshot(self) -> list[dict[str, Any]]:
        """The request log as JSON."""
        with self._lock:
            return [jsonable(asdict(r)) for r in self._requests]

    def directory(self) -> dict[str, Any]:
        """Members, departments and tags, as JSON."""
        s = self.settings
        return {
            "corp_id": s.corp_id,
            "agents": [a.agent_id for a in s.apps],
            "users": [
                {"userid": k, "name": v, "licensed": k.lower() not in self._unlicensed} for k, v in s.users.items()
            ],
            "parties": [{"id": k, "name": v[0], "members": list(v[1])} for k, v in s.parties.items()],
            "tags": [{"id": k, "name": v[0], "members": list(v[1])} for k, v in s.tags.items()],
        }
