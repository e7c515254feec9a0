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
    # CLI usage errors (w4-cli): shown under click's English usage message when the language is zh
    "usage_error": {
        "en": "Usage error: see the message above, or add --help to the command.",
        "zh": "用法错误：命令、选项或参数有误，见上方提示；在命令后加 --help 可查看用法。",
    },
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
    "provides_importers": {"en": "statement importers", "zh": "对账单导入"},
    # plugins new (the plugin template, crmhub.cli.plugin_new)
    "plugin_name_invalid": {
        "en": "plugin name {name!r} is not valid",
        "zh": "插件名称 {name!r} 无效",
    },
    "plugin_name_hint": {
        "en": "use 2–40 lower-case letters, digits and single underscores, starting with a letter and not a Python "
        "keyword or an installed crmhub_<name> package (e.g. csv_files, dingtalk)",
        "zh": "请使用 2–40 个小写字母、数字和单个下划线，以字母开头，且不能是 Python 关键字或已安装的 crmhub_<名称> 包"
        "（例如 csv_files、dingtalk）",
    },
    "plugin_name_taken": {
        "en": "plugin name {name!r} is taken: a package {package} is already installed",
        "zh": "插件名称 {name!r} 已被占用：已安装名为 {package} 的包",
    },
    "plugin_name_registered": {
        "en": "plugin name {name!r} is taken: an installed plugin is registered under it (crmhub plugins list)",
        "zh": "插件名称 {name!r} 已被占用：已有已安装的插件以此名称注册（见 crmhub plugins list）",
    },
    "plugin_dir_exists": {
        "en": "{path} already exists; nothing was written",
        "zh": "{path} 已存在；未写入任何文件",
    },
    "plugin_dir_hint": {
        "en": "choose another name or --dir, or remove that folder first",
        "zh": "请换一个名称或 --dir 目录，或先删除该目录",
    },
    "plugin_created_connector": {
        "en": 'Created connector package {path} (plugin = "{name}").\nNext: cd {path} && pip install -e . && '
        "python -m pytest — the tests run the conformance kit (docs/plugins.md).",
        "zh": '已创建连接器包 {path}（plugin = "{name}"）。\n下一步：cd {path} && pip install -e . && '
        "python -m pytest —— 测试会运行一致性测试套件（见 docs/plugins.md）。",
    },
    "plugin_created_channel": {
        "en": 'Created channel package {path} (plugin = "{name}").\nNext: cd {path} && pip install -e . && '
        "python -m pytest — the tests run the conformance kit (docs/plugins.md).",
        "zh": '已创建通知渠道包 {path}（plugin = "{name}"）。\n下一步：cd {path} && pip install -e . && python -m '
        "pytest —— 测试会运行一致性测试套件（见 docs/plugins.md）。",
    },
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
    # ledger statement import (crmhub ledger import; crmhub.sync.statement_booking, crmhub.statements)
    "ledger_import_bad_account": {
        "en": "{where}: account id {value!r} is empty or longer than 200 characters — nothing of this statement "
        "was stored",
        "zh": "{where}：账号 {value!r} 为空或超过 200 个字符 — 本对账单未入账任何内容",
    },
    "ledger_import_bad_account_hint": {
        "en": "check the statement's account (:25: / Acct/Id) or give the ledger account with --account",
        "zh": "请检查对账单的账号（:25: / Acct/Id），或用 --account 指定账本账户",
    },
    "ledger_import_bad_amount": {
        "en": "{where}: {problem} — nothing of this statement was stored",
        "zh": "{where}：{problem} — 本对账单未入账任何内容",
    },
    "ledger_import_bad_amount_hint": {
        "en": "ask the bank for a corrected statement; crmhub never rounds or shortens an amount",
        "zh": "请向银行索取更正后的对账单；crmhub 从不四舍五入或截断金额",
    },
    "ledger_import_no_tie_out": {
        "en": "statement {statement} of {day} does not tie out: opening balance {opening} + movements {net} = "
        "{computed} {currency}, but the closing balance is {closing} {currency} (difference {diff}) — "
        "nothing of this statement was stored",
        "zh": "对账单 {statement}（{day}）余额不平：期初余额 {opening} + 发生额 {net} = {computed} {currency}，"
        "但期末余额为 {closing} {currency}（差额 {diff}）— 本对账单未入账任何内容",
    },
    "ledger_import_no_tie_out_hint": {
        "en": "ask the bank to resend this statement complete (a line may be missing or altered); the other "
        "statements of the file were imported, so importing the corrected file again adds only this one",
        "zh": "请银行重新发送完整的这份对账单（可能缺少或改动了交易行）；文件中其他对账单已导入，"
        "更正后再次导入只会补入这一份",
    },
    "ledger_import_fix_file_hint": {
        "en": "fix or re-export this part of the file and import it again; statements already imported are kept "
        "and not booked twice",
        "zh": "请修正或重新导出文件的这一部分后再次导入；已导入的对账单会保留，不会重复入账",
    },
    "ledger_import_concurrent": {
        "en": "{file}: another import booked lines of this statement at the same time; nothing of it was stored "
        "by this run",
        "zh": "{file}：另一个导入同时入账了本对账单的交易行；本次未入账其任何内容",
    },
    "ledger_import_concurrent_hint": {
        "en": "run the import again when the other one has finished: lines already booked are recognised, none "
        "is booked twice",
        "zh": "待另一个导入结束后再次导入：已入账的交易行会被识别，不会重复入账",
    },
    "ledger_import_rest_of_file": {"en": "rest of the file", "zh": "文件其余部分"},
    "ledger_import_line": {
        "en": "{file} ({format}) {statement}: {entries} entries, {inserted} new, {present} already present; "
        "account {account}",
        "zh": "{file}（{format}）{statement}：{entries} 笔，新增 {inserted} 笔，已存在 {present} 笔；账户 {account}",
    },
    "ledger_import_already": {
        "en": "{file} ({format}) {statement}: already imported ({entries} entries, 0 new); account {account}",
        "zh": "{file}（{format}）{statement}：已导入过（{entries} 笔，新增 0 笔）；账户 {account}",
    },
    "ledger_import_unlinked": {
        "en": " (not a known ledger account: not linked)",
        "zh": "（账本中未找到此账户，交易未关联客户）",
    },
    "ledger_import_other_statement": {
        "en": "  {count} of these lines were already booked by another statement ({hint})",
        "zh": "  其中 {count} 笔已由另一份对账单入账（{hint}）",
    },
    "ledger_import_other_statement_hint": {
        "en": "same account, date, amount, direction, reference and sequence: counted once",
        "zh": "账户、日期、金额、方向、参考号和序号均相同：只计一次",
    },
    "ledger_import_rejected": {
        "en": "statement {statement} rejected: {error}",
        "zh": "对账单 {statement} 被拒绝：{error}",
    },
    "ledger_import_notes": {
        "en": "  {count} field(s) cleaned or cut (NUL/control characters, over-long text):",
        "zh": "  {count} 个字段已清理或截断（NUL/控制字符、超长文本）：",
    },
    "ledger_import_some_failed": {
        "en": "{failed} of {total} statement(s) in {file} were rejected and not stored; the others were imported",
        "zh": "{file} 中 {total} 份对账单有 {failed} 份被拒绝、未入账；其余已导入",
    },
    "ledger_import_all_failed": {
        "en": "every statement in {file} ({total}) was rejected; nothing was stored",
        "zh": "{file} 中的 {total} 份对账单全部被拒绝，未入账任何内容",
    },
    "ledger_import_no_entries": {
        "en": "{file}: the statement has no booked entries",
        "zh": "{file}：对账单中没有已记账的交易",
    },
    # dead letters (deadletter list / show / retry) — w5-delivery
    "dl_title": {"en": "Dead letters", "zh": "死信记录"},
    "dl_col_dir": {"en": "dir", "zh": "方向"},
    "dl_col_connector": {"en": "connector", "zh": "连接器"},
    "dl_col_stream": {"en": "stream", "zh": "数据流"},
    "dl_col_source": {"en": "source id", "zh": "源记录"},
    "dl_col_reason": {"en": "reason", "zh": "原因"},
    "dl_col_first": {"en": "original reason", "zh": "最初原因"},
    "dl_col_attempts": {"en": "attempts", "zh": "次数"},
    "dl_col_status": {"en": "status", "zh": "状态"},
    "dl_col_at": {"en": "time", "zh": "时间"},
    "dl_col_event": {"en": "event", "zh": "事件"},
    "dl_history": {"en": "History", "zh": "处理历史"},
    "dl_repeated": {"en": " ×{times}, last {last}", "zh": " ×{times}，最近一次 {last}"},
    "dl_show_head": {
        "en": "Dead letter #{id}: {connector}/{stream} record {source} — {status}, {attempts} attempt(s)",
        "zh": "死信 #{id}：{connector}/{stream} 记录 {source} — 状态 {status}，共 {attempts} 次",
    },
    "dl_show_first": {"en": "Original reason: {reason}", "zh": "最初原因：{reason}"},
    "dl_show_latest": {"en": "Latest reason: {reason}", "zh": "最近原因：{reason}"},
    "dl_event_rejected": {"en": "rejected by a sync", "zh": "同步时被拒"},
    "dl_event_retry_ok": {"en": "retry succeeded", "zh": "重试成功"},
    "dl_event_retry_failed": {"en": "retry failed", "zh": "重试失败"},
    "dl_event_resolved": {"en": "resolved by a sync", "zh": "同步时已解决"},
    "dl_retry_summary": {"en": "{ok} retried, {failed} still failing", "zh": "重试成功 {ok} 条，仍失败 {failed} 条"},
    "dl_retry_next": {
        "en": "Re-mapped records join golden clients at the next `crmhub sync`.",
        "zh": "重新映射的记录将在下次 `crmhub sync` 时并入客户主记录。",
    },
}


# --- values shown to people: statuses, kinds, rules, triggers (w7-masking) ------------------------------------------
# Ids stay raw in --json; screens show these words. Alert and review words are chosen so an AML officer cannot
# misread them: "acknowledged" is 已受理 (taken in hand), never 已确认 (which reads as "confirmed suspicious"); a
# possible duplicate client is 可能为同一客户, not 疑似… (疑似 is the word of suspicious-transaction reporting).
VALUE_LABELS: dict[str, dict[str, dict[Lang, str]]] = {
    "run_status": {
        "running": {"en": "running", "zh": "运行中"},
        "succeeded": {"en": "succeeded", "zh": "成功"},
        "partial": {"en": "partially succeeded", "zh": "部分成功"},
        "failed": {"en": "failed", "zh": "失败"},
        "interrupted": {"en": "interrupted", "zh": "已中断"},
        "locked": {"en": "locked", "zh": "被占用"},
    },
    "connector_status": {
        "ok": {"en": "ok", "zh": "正常"},
        "failed": {"en": "failed", "zh": "失败"},
        "stopped": {"en": "stopped (quota)", "zh": "已停止（配额）"},
        "skipped": {"en": "skipped", "zh": "已跳过"},
    },
    "outbox_status": {
        "planned": {"en": "planned", "zh": "待发送"},
        "sending": {"en": "sending", "zh": "发送中"},
        "delivered": {"en": "delivered", "zh": "已送达"},
        "failed": {"en": "failed", "zh": "发送失败"},
        "unconfirmed": {"en": "unconfirmed", "zh": "送达未知"},
        "retrying": {"en": "retrying", "zh": "待重试"},
        "partial": {"en": "partly delivered", "zh": "部分送达"},
        "skipped": {"en": "skipped", "zh": "已跳过"},
    },
    "alert_status": {
        "new": {"en": "new", "zh": "待处理"},
        "acknowledged": {"en": "acknowledged", "zh": "已受理"},
        "closed": {"en": "closed", "zh": "已关闭"},
    },
    # --- operators, roles and four-eyes (issue 15, w10-users) ---
    "alert_disposition": {
        "reported": {"en": "reported", "zh": "已上报"},
        "not_suspicious": {"en": "not suspicious", "zh": "不可疑"},
        "escalated": {"en": "escalated", "zh": "已升级"},
        "duplicate": {"en": "duplicate", "zh": "重复预警"},
    },
    "approval_status": {
        "pending": {"en": "pending", "zh": "待审批"},
        "approved": {"en": "approved", "zh": "已批准"},
        "rejected": {"en": "rejected", "zh": "已拒绝"},
        "applied": {"en": "applied", "zh": "已执行"},
        "failed": {"en": "failed", "zh": "执行失败"},
    },
    # --- end operators ---
    "client_status": {
        "active": {"en": "active", "zh": "有效"},
        "merged": {"en": "merged", "zh": "已合并"},
        "deleted": {"en": "deleted", "zh": "已删除"},
    },
    "review_status": {
        "open": {"en": "open", "zh": "待复核"},
        "accepted": {"en": "accepted", "zh": "已接受"},
        "rejected": {"en": "rejected", "zh": "已驳回"},
    },
    "review_kind": {
        "match": {"en": "possible duplicate", "zh": "可能为同一客户"},
        "conflict": {"en": "conflicting values", "zh": "字段取值冲突"},
        "uscc_conflict": {"en": "conflicting USCCs", "zh": "统一社会信用代码冲突"},
    },
    "dead_letter_status": {
        "open": {"en": "open", "zh": "待处理"},
        "resolved": {"en": "resolved", "zh": "已解决"},
        "retried": {"en": "retried", "zh": "已重试"},
    },
    "tx_direction": {"credit": {"en": "credit", "zh": "转入"}, "debit": {"en": "debit", "zh": "转出"}},
    "direction": {"in": {"en": "in", "zh": "入站"}, "out": {"en": "out (write-back)", "zh": "回写"}},
    "notify_event": {
        "rating_downgrade": {"en": "rating downgrade", "zh": "评级下调"},
        "alert": {"en": "alert", "zh": "风险预警"},
        "sync_failed": {"en": "sync failed", "zh": "同步失败"},
        "dead_letters": {"en": "dead letters", "zh": "死信记录"},
        "digest": {"en": "digest", "zh": "运行摘要"},
        "follow_up": {"en": "follow-up", "zh": "跟进提醒"},
        "follow_up_reminder": {"en": "follow-up", "zh": "跟进提醒"},
        "undelivered": {"en": "undelivered", "zh": "通知未送达"},
        "test": {"en": "test", "zh": "测试消息"},
    },
    "task_status": {  # a task of a run split over workers (sync_task.status)
        "queued": {"en": "queued", "zh": "排队中"},
        "running": {"en": "running", "zh": "运行中"},
        "done": {"en": "done", "zh": "已完成"},
        "failed": {"en": "failed", "zh": "失败"},
        "cancelled": {"en": "cancelled", "zh": "已取消"},
    },
    "trigger": {
        "manual": {"en": "manual", "zh": "手动"},
        "scheduler": {"en": "scheduler", "zh": "定时调度"},
        "worker": {"en": "worker", "zh": "队列作业"},
        "catch_up": {"en": "catch-up", "zh": "补跑"},
        "retry": {"en": "retry", "zh": "重试"},
    },
    "survivorship_rule": {
        "source_priority": {"en": "source priority", "zh": "按来源优先级"},
        "prefer_unless_blank": {"en": "preferred source unless blank", "zh": "优先来源（为空时取其他来源）"},
        "most_recent": {"en": "most recent", "zh": "取最新值"},
        "most_complete": {"en": "most complete", "zh": "取最完整值"},
        "manual": {"en": "manual decision", "zh": "人工决定"},
    },
    "interaction_kind": {
        "visit": {"en": "visit", "zh": "拜访"},
        "call": {"en": "call", "zh": "电话"},
        "message": {"en": "message", "zh": "消息"},
        "email": {"en": "email", "zh": "邮件"},
        "meeting": {"en": "meeting", "zh": "会议"},
    },
    "field": {
        "uscc": {"en": "USCC", "zh": "统一社会信用代码"},
        "name": {"en": "name", "zh": "名称"},
        "english_name": {"en": "English name", "zh": "英文名称"},
        "registered_address": {"en": "registered address", "zh": "注册地址"},
        "business_address": {"en": "business address", "zh": "经营地址"},
        "industry": {"en": "industry", "zh": "行业"},
        "company_type": {"en": "company type", "zh": "企业类型"},
        "enterprise_size": {"en": "enterprise size", "zh": "企业规模"},
        "legal_representative": {"en": "legal representative", "zh": "法定代表人"},
        "registered_capital": {"en": "registered capital", "zh": "注册资本"},
        "annual_revenue": {"en": "annual revenue", "zh": "年营业收入"},
        "established_on": {"en": "established on", "zh": "成立日期"},
        "employees": {"en": "employees", "zh": "员工人数"},
        "phone": {"en": "phone", "zh": "电话"},
        "email": {"en": "email", "zh": "电子邮箱"},
        "website": {"en": "website", "zh": "网站"},
        "contacts": {"en": "contacts", "zh": "联系人"},
        "shareholders": {"en": "shareholders", "zh": "股东"},
        "relationship_manager": {"en": "relationship manager", "zh": "客户经理"},
        "branch": {"en": "branch", "zh": "所属机构"},
        "preferences": {"en": "preferences", "zh": "需求偏好"},
        "risk": {"en": "risk", "zh": "风险评级"},
        "aliases": {"en": "aliases", "zh": "曾用名/别名"},
        "normalized_name": {"en": "normalised name", "zh": "规范化名称"},
        "external_ids": {"en": "source records", "zh": "来源系统记录"},
        "review_flags": {"en": "to be checked", "zh": "待核实事项"},
        # sync/matching (issue 13 item 9): a USCC failing validation is kept as a finding, not as the USCC
        "uscc_unverified": {"en": "unverified USCC", "zh": "未通过校验的统一社会信用代码"},
        "data_quality": {"en": "data-quality findings", "zh": "数据质量问题"},
    },
    # sync/matching (issue 13 item 9): kinds of data-quality finding on a kept record
    "data_quality_kind": {
        "uscc_check": {"en": "USCC check character wrong", "zh": "统一社会信用代码校验位错误"},
        "uscc_format": {"en": "USCC has characters a USCC never has", "zh": "统一社会信用代码含非法字符"},
        "uscc_length": {"en": "USCC has the wrong length", "zh": "统一社会信用代码长度错误"},
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
