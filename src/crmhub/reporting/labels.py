"""Labels of report columns and statuses in both languages."""

from __future__ import annotations

from crmhub.i18n import Lang

LABELS: dict[str, dict[Lang, str]] = {
    "title": {"en": "Sync run report", "zh": "同步运行报告"},
    "run": {"en": "Run", "zh": "运行"},
    "status": {"en": "Status", "zh": "状态"},
    "trigger": {"en": "Trigger", "zh": "触发方式"},
    "started": {"en": "Started", "zh": "开始时间"},
    "duration": {"en": "Duration", "zh": "耗时"},
    "dry_run": {"en": "Dry run (nothing was written)", "zh": "演练模式（未写入任何数据）"},
    "connector": {"en": "Connector", "zh": "连接器"},
    "stream": {"en": "Stream", "zh": "数据流"},
    "read": {"en": "read", "zh": "读取"},
    "created": {"en": "created", "zh": "新增"},
    "updated": {"en": "updated", "zh": "更新"},
    "unchanged": {"en": "unchanged", "zh": "未变"},
    "deleted": {"en": "deleted", "zh": "删除"},
    "rejected": {"en": "rejected", "zh": "拒收"},
    "merged": {"en": "merged", "zh": "合并"},
    "conflicts": {"en": "conflicts", "zh": "冲突"},
    "written_back": {"en": "written back", "zh": "回写"},
    "api_calls": {"en": "API calls", "zh": "API 调用"},
    "retries": {"en": "retries", "zh": "重试"},
    "throttled": {"en": "429s", "zh": "限流"},
    "seconds": {"en": "s", "zh": "秒"},
    "cpu_seconds": {"en": "s CPU", "zh": "秒 CPU"},
    "totals": {"en": "Totals", "zh": "汇总"},
    "clients_created": {"en": "golden clients created", "zh": "新建客户主记录"},
    "clients_updated": {"en": "golden clients updated", "zh": "更新客户主记录"},
    "records_linked": {"en": "records merged into existing clients", "zh": "合并到已有客户的记录"},
    "conflicts_queued": {"en": "conflicts queued for review", "zh": "待人工复核的冲突"},
    "review_items": {"en": "new review items", "zh": "新增复核事项"},
    "dead_letters": {"en": "dead letters", "zh": "死信记录"},
    "data_quality": {"en": "records kept with data-quality findings", "zh": "存在数据质量问题但已保留的记录"},
    "planned_writes": {"en": "planned write-backs", "zh": "计划回写"},
    "write_failed": {"en": "write-backs failed", "zh": "回写失败"},
    "write_queued": {"en": "write-backs queued", "zh": "排队待回写"},
    "queued_note": {
        "en": "[{name}] {count} write-backs queued{eta}; `crmhub deliver` sends them (or a deliver job)",
        "zh": "[{name}] {count} 条回写排队中{eta}；由 `crmhub deliver`（或 deliver 作业）发送",
    },
    "queued_eta": {"en": " — about {eta} at this run's pace", "zh": "，按本次速度约需 {eta}"},
    "risk_assessed": {"en": "clients assessed", "zh": "完成风险评估的客户"},
    "rating_changes": {"en": "rating changes", "zh": "评级变动"},
    "alerts_raised": {"en": "alerts raised", "zh": "新增预警"},
    "interactions_linked": {"en": "interactions recorded", "zh": "记录的客户接触"},
    "interactions_removed": {"en": "interactions removed", "zh": "删除的客户接触"},
    "interactions_pending": {"en": "interactions waiting for their client", "zh": "等待客户主记录的客户接触"},
    "error": {"en": "Error", "zh": "错误"},
    "plan_title": {"en": "Write-back plan", "zh": "回写计划"},
    "action": {"en": "action", "zh": "操作"},
    "client": {"en": "client", "zh": "客户"},
    "field": {"en": "field", "zh": "字段"},
    "before": {"en": "before", "zh": "原值"},
    "after": {"en": "after", "zh": "新值"},
    "create": {"en": "create", "zh": "新建"},
    "update": {"en": "update", "zh": "更新"},
    "no_plan": {"en": "Nothing to write back.", "zh": "没有需要回写的内容。"},
    "phases": {"en": "Time per phase", "zh": "各阶段耗时"},
    "records_per_stream": {"en": "Records per stream", "zh": "各数据流记录数"},
    "succeeded": {"en": "succeeded", "zh": "成功"},
    "partial": {"en": "partially succeeded", "zh": "部分成功"},
    "failed": {"en": "failed", "zh": "失败"},
    "interrupted": {"en": "interrupted", "zh": "已中断"},
    "running": {"en": "running", "zh": "运行中"},
    "ok": {"en": "ok", "zh": "正常"},
    "stopped": {"en": "stopped (quota)", "zh": "已停止（配额）"},
    "skipped": {"en": "skipped", "zh": "已跳过"},
    "ingest": {"en": "ingest", "zh": "拉取入库"},
    "match": {"en": "match", "zh": "匹配"},
    "merge": {"en": "merge", "zh": "合并"},
    "link": {"en": "link interactions", "zh": "关联客户接触"},
    "risk": {"en": "risk", "zh": "风险"},
    "plan": {"en": "plan", "zh": "回写计划"},
    "deliver": {"en": "deliver", "zh": "投递"},
    "report": {"en": "store the report", "zh": "保存报告"},
    "notify": {"en": "notify", "zh": "发送通知"},
    "tasks_line": {
        "en": "Run on workers: {tasks} tasks on {workers} worker(s)",
        "zh": "由工作进程执行：{tasks} 个任务，{workers} 个工作进程",
    },
    "task_tries": {"en": "task {task}: {tries} tries, {status}", "zh": "任务 {task}：尝试 {tries} 次，{status}"},
    # notify step after the run (w5-delivery)
    "notifications": {"en": "Notifications", "zh": "通知"},
    "notify_counts": {
        "en": "planned {planned}, delivered {delivered}, retrying {retrying}, failed {failed}, "
        "unconfirmed {unconfirmed}",
        "zh": "计划 {planned}，已送达 {delivered}，重试中 {retrying}，失败 {failed}，未确认 {unconfirmed}",
    },
    "notify_uncertain": {
        "en": "#{id} {event} via {channel} to {recipients}: may be lost or doubled — the process "
        "stopped after sending began; it is not sent again automatically",
        "zh": "#{id} {event}（{channel}，发给 {recipients}）：可能丢失或重复 — 发送开始后进程中断；不会自动重发",
    },
    "notify_uncertain_hint": {
        "en": "{total} notification(s) unconfirmed in all: check with the recipients, then "
        "`crmhub notify retry ID` for any that did not arrive "
        "(`crmhub notify log --status unconfirmed`)",
        "zh": "共有 {total} 条通知未确认：请向收件人核实，未收到的用 "
        "`crmhub notify retry ID` 重发（`crmhub notify log --status unconfirmed`）",
    },
    # a run split over workers: its tasks by phase and worker (issue 20, h-ops)
    "tasks": {"en": "Tasks", "zh": "任务"},
    "tasks_progress": {
        "en": "{done} of {total} tasks done ({percent}%) — phase {phase}: {phase_done}/{phase_total}",
        "zh": "已完成 {done}/{total} 个任务（{percent}%）— 当前阶段 {phase}：{phase_done}/{phase_total}",
    },
    "tasks_none": {"en": "No task created yet.", "zh": "尚未创建任务。"},
    "tasks_hint": {
        "en": "Every task: `crmhub report {run_id} --tasks`",
        "zh": "查看每个任务：`crmhub report {run_id} --tasks`",
    },
    "phase": {"en": "Phase", "zh": "阶段"},
    "done_total": {"en": "done/total", "zh": "完成/总数"},
    "workers": {"en": "Workers", "zh": "工作进程"},
    "worker": {"en": "Worker", "zh": "工作进程"},
    "part": {"en": "Partition", "zh": "分区"},
    "tries": {"en": "Tries", "zh": "尝试次数"},
    "task_counters": {"en": "Counters", "zh": "计数"},
    "busy": {"en": "Busy", "zh": "工作时长"},
    "finish": {"en": "finish (report, notify)", "zh": "收尾（保存报告、发送通知）"},
}

STREAM_COLUMNS = ("read", "created", "updated", "unchanged", "deleted", "rejected", "merged")


def label(key: str, lang: Lang) -> str:
    """The label for ``key`` (the key itself when unknown)."""
    entry = LABELS.get(key)
    return entry[lang] if entry else key
