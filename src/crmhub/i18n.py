"""User-facing text in Simplified Chinese and English.

Messages live in one catalogue keyed by a stable id; `t(id, **params)` renders in the current language, set once
per process by the CLI (``--lang zh|en``, ``CRMHUB_LANG``, the config's ``lang``; default zh). Reports and
notifications take an explicit ``lang`` instead, because one run may produce both.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

_current: ContextVar[Lang | None] = ContextVar("crmhub_lang", default=None)

MESSAGES: dict[str, dict[Lang, str]] = {
    # generic
    "error": {"en": "Error", "zh": "错误"},
    "hint": {"en": "What to do", "zh": "处理建议"},
    "internal_error": {
        "en": "Internal error ({kind}). The details were written to {path}; please report it.",
        "zh": "内部错误（{kind}）。详细信息已写入 {path}，请反馈给开发团队。",
    },
    "interrupted": {"en": "Interrupted.", "zh": "已中断。"},
    "ok": {"en": "ok", "zh": "正常"},
    "failed": {"en": "failed", "zh": "失败"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    # config
    "config_ok": {
        "en": "{file}: valid — {connectors} connector(s), {channels} channel(s), store {store}",
        "zh": "{file}：配置有效 — {connectors} 个连接器，{channels} 个通知渠道，存储 {store}",
    },
    "config_written": {"en": "Wrote a starter configuration to {file}", "zh": "已生成初始配置文件 {file}"},
    "config_exists": {
        "en": "{file} already exists; use --force to overwrite it",
        "zh": "{file} 已存在；如需覆盖请加 --force",
    },
    "config_problems": {"en": "Configuration problems", "zh": "配置问题"},
    # plugins
    "plugins_title": {"en": "Installed plugins", "zh": "已安装插件"},
    "col_plugin": {"en": "plugin", "zh": "插件"},
    "col_version": {"en": "version", "zh": "版本"},
    "col_provides": {"en": "provides", "zh": "提供"},
    "col_module": {"en": "module", "zh": "模块"},
    "plugin_failed": {"en": "not loaded: {cause}", "zh": "未加载：{cause}"},
    "provides_connectors": {"en": "connectors", "zh": "连接器"},
    "provides_channels": {"en": "channels", "zh": "通知渠道"},
    "provides_sandboxes": {"en": "simulators", "zh": "模拟器"},
    "provides_factors": {"en": "risk factors", "zh": "风险因子"},
    # db
    "db_upgraded": {"en": "Store {url} is at revision {rev}", "zh": "存储 {url} 已升级到版本 {rev}"},
    # connectors check
    "check_title": {"en": "Connectivity check", "zh": "连通性检查"},
    "col_name": {"en": "name", "zh": "名称"},
    "col_kind": {"en": "kind", "zh": "类型"},
    "col_verdict": {"en": "verdict", "zh": "结论"},
    "col_detail": {"en": "detail", "zh": "详情"},
    "kind_connector": {"en": "connector", "zh": "连接器"},
    "kind_channel": {"en": "channel", "zh": "通知渠道"},
    "verdict_ok": {"en": "reachable, authenticated", "zh": "可达，认证通过"},
    "verdict_fail": {"en": "FAILED", "zh": "失败"},
    "verdict_disabled": {"en": "disabled", "zh": "已停用"},
    "check_summary": {
        "en": "{ok} of {total} reachable and authenticated",
        "zh": "{total} 项中 {ok} 项可达且认证通过",
    },
    "nothing_configured": {
        "en": "No connectors or channels are configured in {file}",
        "zh": "{file} 中没有配置任何连接器或通知渠道",
    },
    # pull / push
    "unknown_connector": {
        "en": "no connector named {name!r} in {file}; configured: {names}",
        "zh": "{file} 中没有名为 {name!r} 的连接器；已配置：{names}",
    },
    "pull_done": {
        "en": "{records} record(s), {rejected} rejected, {pages} page(s) from {connector}/{stream}",
        "zh": "从 {connector}/{stream} 读取 {records} 条记录，拒收 {rejected} 条，共 {pages} 页",
    },
    "push_done": {
        "en": "{ok} ok, {errors} error(s) ({connector}/{stream})",
        "zh": "成功 {ok} 条，失败 {errors} 条（{connector}/{stream}）",
    },
    "push_dry_run": {
        "en": "dry run: {count} record(s) would be written to {connector}/{stream}; nothing was sent",
        "zh": "演练模式：将向 {connector}/{stream} 写入 {count} 条记录；未实际发送",
    },
    "bad_input_line": {"en": "{file}, line {line}: {reason}", "zh": "{file} 第 {line} 行：{reason}"},
    # sandbox
    "sandbox_started": {"en": "Simulators running (Ctrl-C to stop):", "zh": "模拟器已启动（按 Ctrl-C 停止）："},
    "sandbox_config": {"en": "Wrote a config pointing at them to {file}", "zh": "已写入指向模拟器的配置 {file}"},
    "sandbox_stopped": {"en": "Simulators stopped.", "zh": "模拟器已停止。"},
    # personal data: --reveal / --reason (w7-masking)
    "reveal_needs_reason": {
        "en": "--reveal needs --reason TEXT: say why you need the personal data in clear "
              "(the reason and your user name are written to the audit log)",
        "zh": "--reveal 必须同时给出 --reason 文本：说明为何需要查看未脱敏的个人信息（原因和您的用户名将写入审计日志）",
    },
    "reason_without_reveal": {
        "en": "--reason is only used with --reveal (output is masked without it)",
        "zh": "--reason 仅与 --reveal 一起使用（不加 --reveal 时输出已脱敏）",
    },
    "revealed_note": {
        "en": "Personal data shown unmasked; recorded in the audit log as entry #{entry} ({who}).",
        "zh": "已显示未脱敏的个人信息；已记入审计日志第 {entry} 条（{who}）。",
    },
}


def current_lang() -> Lang:
    """The process language: explicit choice, else ``CRMHUB_LANG``, else zh."""
    chosen = _current.get()
    if chosen is not None:
        return chosen
    env = os.environ.get("CRMHUB_LANG", "").lower()
    return env if env in LANGS else "zh"  # type: ignore[return-value,unused-ignore]


def set_lang(lang: Lang | None) -> None:
    """Set the process language (``None`` = back to the default)."""
    _current.set(lang)


def t(key: str, lang: Lang | None = None, /, **params: object) -> str:
    """Render message ``key`` in ``lang`` (default: the current language)."""
    entry = MESSAGES[key]
    text = entry[lang or current_lang()]
    return text.format(**params) if params else text


def bilingual(zh: str, en: str, lang: Lang | None = None) -> str:
    """Pick one of two inline strings (for texts that are not worth a catalogue entry)."""
    return zh if (lang or current_lang()) == "zh" else en
