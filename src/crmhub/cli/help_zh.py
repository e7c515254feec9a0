"""Chinese help texts of every command, argument and option, keyed by their English text.

Typer reads help strings from docstrings and ``help=`` at import time; `crmhub.cli.help_i18n` swaps them for
these when a help page is rendered in zh, so the command modules keep one (English) source of truth, and a
missing translation is caught by a test (tests/screens/test_help.py) instead of being shown in English.
"""

from __future__ import annotations

HELP_ZH: dict[str, str] = {
    'Show this message and exit.':
        '显示此帮助信息并退出。',
    'crmhub — one golden record per corporate client across CRMs, the ledger and channels.':
        'crmhub —— 在各 CRM、核心账务和通知渠道之间，为每个对公客户维护一条主记录。',
    'Print the version.':
        '显示版本号。',
    'Language of messages: zh or en (any position).':
        '消息语言：zh 或 en（可放在命令行任意位置）。',
    'Write a starter configuration (points at the built-in sandboxes until you change it).':
        '生成初始配置文件（在修改之前指向内置模拟器）。',
    'Where to write the starter config.':
        '初始配置文件的写入位置。',
    'Overwrite an existing file.':
        '覆盖已存在的文件。',
    ("Print a stream's canonical records as JSON Lines (one per line), straight from the connector.\n\nPersonal data"
     ' (names, phones, e-mails, ID numbers) is masked; ``--reveal --reason TEXT`` prints it in clear\nand writes who'
     ' and why to the audit log first.'):
        ('以 JSON Lines（每行一条）直接输出连接器某个数据流的标准化记录。\n\n个人信息（姓名、电话、电子邮箱、证件号'
         '码）已脱敏；``--reveal --reason 文本`` 显示明文，并先将操作人和原因写入审计日志。'),
    'Connector name from the config (e.g. zoho).':
        '配置中的连接器名称（例如 zoho）。',
    'Stream (e.g. accounts, contacts, deleted, transactions).':
        '数据流（例如 accounts、contacts、deleted、transactions）。',
    'Config file (default: $CRMHUB_CONFIG or config/crmhub.toml).':
        '配置文件（默认：$CRMHUB_CONFIG 或 config/crmhub.toml）。',
    'Only records modified after this ISO 8601 time (e.g. the newest modified_at a pull printed).':
        '只输出在此 ISO 8601 时间之后修改的记录（例如上次拉取输出的最新 modified_at）。',
    'Stop after N records.':
        '输出 N 条记录后停止。',
    'Print personal data unmasked (needs --reason; audited).':
        '显示未脱敏的个人信息（须同时给出 --reason；记入审计日志）。',
    'Why the personal data is needed in clear (with --reveal).':
        '需要查看明文个人信息的原因（与 --reveal 一起使用）。',
    'Also print rejected records as JSON lines.':
        '同时以 JSON 行输出被拒收的记录。',
    ('Upsert canonical records into a connector and print one JSON result per record.\n\nEach line writes the canoni'
     'cal fields it carries (or those its ``"fields"`` list names); a line with a\n``source_id`` updates that record'
     ", one without is matched by the connector's duplicate check or created."):
        ('将标准化记录写入（新增或更新）连接器，每条记录输出一行 JSON 结果。\n\n每行写入其包含的标准字段（或其 ``"fi'
         'elds"`` 列表指定的字段）；带 ``source_id`` 的行更新该记录，不带的行按连接器的查重规则匹配或新建。'),
    'Connector name from the config.':
        '配置中的连接器名称。',
    'Writable stream (e.g. accounts).':
        '可写的数据流（例如 accounts）。',
    'JSON Lines of canonical records (as printed by crmhub pull).':
        '标准化记录的 JSON Lines 文件（格式同 crmhub pull 的输出）。',
    'Validate and show what would be written; send nothing.':
        '校验并显示将要写入的内容；不实际发送。',
    'Pull every configured connector, merge into golden records, write back, and report the run.':
        '拉取所有已配置的连接器，合并为客户主记录，回写，并输出运行报告。',
    'Only this connector (repeatable).':
        '只同步此连接器（可重复）。',
    'Pull, match and plan, print the plan; write nothing.':
        '拉取、匹配并生成回写计划，打印计划；不写入任何数据。',
    'Print the run report as one JSON object.':
        '以一个 JSON 对象输出运行报告。',
    'Seconds to wait for a running sync of the same connector.':
        '等待同一连接器正在进行的同步的秒数。',
    'Also write the HTML report to this file.':
        '同时将 HTML 报告写入此文件。',
    'Split the run into tasks for `crmhub worker` (PostgreSQL; [sync] executor).':
        '把本次运行拆成任务交给 `crmhub worker` 执行（需 PostgreSQL；见 [sync] executor）。',
    'With --on-workers: print the run id and return at once.':
        '与 --on-workers 同用：打印运行 id 后立即返回。',
    'Cancel a sync running on workers.':
        '取消正在工作进程上执行的同步。',
    "Send the write-backs syncs left queued, at each CRM's rate limit, with progress and an ETA.":
        '按各 CRM 的限流速度发送同步留在队列中的回写，显示进度和预计剩余时间。',
    'Keep running: send new write-backs as syncs queue them (stop with Ctrl-C; nothing is lost).':
        '持续运行：同步排入新的回写时随即发送（按 Ctrl-C 停止，不会丢失任何数据）。',
    'With --follow: seconds between looks at the queue.':
        '配合 --follow：两次检查队列之间的秒数。',
    'Seconds to wait for another deliverer of the same connector (default: skip that connector).':
        '等待同一连接器的另一个投递进程的秒数（默认：跳过该连接器）。',
    "Only this connector's write-backs (repeatable).":
        '只发送此连接器的回写（可重复）。',
    'Print one JSON object per connector.':
        '每个连接器输出一个 JSON 对象。',
    "Show a past run's report as a table, JSON or a self-contained HTML page.":
        '以表格、JSON 或独立的 HTML 页面显示以往某次运行的报告。',
    'Run id (default: the last run).':
        '运行编号（默认：最近一次运行）。',
    'table, json or html.':
        'table、json 或 html。',
    'Write to this file instead of stdout.':
        '写入此文件而不是标准输出。',
    'List every task of a run split over workers.':
        '列出拆分到工作进程执行的运行的每个任务。',
    'Start the simulators, run a full sync, change records, run an incremental sync, print both reports.':
        '启动模拟器，执行一次全量同步，修改记录，再执行一次增量同步，并打印两份报告。',
    'Companies in the synthetic world.':
        '模拟世界中的企业数量。',
    'World seed.':
        '模拟世界的随机种子。',
    'Where the demo keeps its store and reports.':
        '演示使用的存储和报告目录。',
    'Share of records changed in the simulators before the second sync.':
        '第二次同步前在模拟器中修改的记录比例。',
    'Run jobs from the PostgreSQL queue (and queue the scheduled ticks); start as many as you like, anywhere.':
        '从 PostgreSQL 队列执行作业（并将定时任务排入队列）；可在任意机器上启动任意多个。',
    'Worker processes on this machine.':
        '本机的工作进程数。',
    "Seconds a stopping worker waits for the running job's safe point.":
        '停止中的工作进程等待当前作业到达安全点的秒数。',
    'Seconds without heartbeats after which a worker counts as dead.':
        '超过此秒数没有心跳的工作进程视为已失效。',
    'Check the configuration.':
        '检查配置。',
    'Validate the config file: every problem is listed with its key path.':
        '校验配置文件：列出每个问题及其配置键路径。',
    'Inspect installed plugins.':
        '查看已安装的插件。',
    'List plugins: name, version, and what each provides.':
        '列出插件：名称、版本及其提供的功能。',
    "Create a plugin package from crmhub's template; its tests pass the conformance kit.":
        '用 crmhub 的模板创建插件包；其自带测试可通过一致性测试套件。',
    'Create a connector package (a CSV connector with resumable cursors and write-back) with its tests.':
        '创建连接器包（可断点续读、可回写的 CSV 连接器）及其测试。',
    'Create a channel package (DingTalk work notices, with a simulator) with its tests.':
        '创建通知渠道包（钉钉工作通知，附模拟器）及其测试。',
    'Plugin name: lower-case letters, digits and underscores (e.g. csv_files); the key users put in config.':
        '插件名称：小写字母、数字和下划线（例如 csv_files）；即用户在配置中填写的 plugin 值。',
    'Folder to create the package in (default: the current folder).':
        '创建插件包的目录（默认：当前目录）。',
    'Manage the store.':
        '管理存储。',
    "Create or migrate the store's schema to the newest revision.":
        '创建存储的数据库结构，或迁移到最新版本。',
    'Check the configured connectors and channels.':
        '检查已配置的连接器和通知渠道。',
    'Authenticate against every configured connector and channel and give a verdict for each.':
        '对每个已配置的连接器和通知渠道进行认证，并给出结论。',
    'Seconds to wait for each check.':
        '每项检查的等待秒数。',
    'Print the verdicts as JSON.':
        '以 JSON 输出检查结论。',
    'Golden client records.':
        '客户主记录。',
    'List golden clients (personal data masked unless --reveal; a bulk reveal needs an approved proposal).':
        '列出客户主记录（个人信息已脱敏，除非使用 --reveal）。',
    'One JSON object per line.':
        '每行一个 JSON 对象。',
    'Name or USCC fragment.':
        '名称或统一社会信用代码片段。',
    'Show one golden client (personal data masked unless --reveal).':
        '显示一条客户主记录（个人信息已脱敏，除非使用 --reveal）。',
    'Hub id or USCC.':
        '客户主记录编号或统一社会信用代码。',
    'Per field: the chosen value, where it came from, the rule that chose it, and the competing values.':
        '逐字段显示：选中的取值、来源、选中它的规则，以及其他来源的取值。',
    "Undo a merge: the absorbed client and its records come back (applied on the next sync's merge).":
        '撤销合并：被合并的客户及其记录恢复（在下次同步的合并阶段生效）。',
    'Id of the client that was merged away.':
        '被合并掉的客户编号。',
    'Detach one source record from a client into a client of its own.':
        '将一条来源记录从客户中拆出，成为单独的客户。',
    'connector:source_id':
        '连接器:源记录编号',
    'The review queue: matches and conflicts a human must decide.':
        '复核队列：需要人工决定的匹配和字段冲突。',
    'List review items.':
        '列出复核事项。',
    'open, accepted, rejected or all.':
        'open（待复核）、accepted（已接受）、rejected（已驳回）或 all（全部）。',
    'Accept: merge the pair (a match) or let the rule apply (a conflict).':
        '接受：合并这对记录（匹配）或按规则取值（冲突）。',
    'Reject: keep the records apart.':
        '驳回：保持记录分开。',
    'Records that could not be processed, with the reason.':
        '无法处理的记录及其原因（死信）。',
    'List dead letters with connector, stream, source id, latest and original reason.':
        '列出死信记录：连接器、数据流、源记录编号、最近原因和最初原因。',
    'One dead letter: where it came from, the original and latest reason, and every attempt since.':
        '查看一条死信：来源、最初原因和最近原因，以及此后每次处理的记录。',
    'open, resolved, retried or all.':
        'open（待处理）、resolved（已解决）、retried（已重试）或 all（全部）。',
    'Retry dead letters: inbound records re-mapped with the current configuration, refused write-backs requeued.':
        '重试死信：入站记录按当前配置重新映射，被拒绝的回写重新排队。',
    'Dead letter id.':
        '死信编号。',
    'Retry every open dead letter.':
        '重试所有待处理的死信。',
    'Core-ledger tools.':
        '核心账务工具。',
    ('Import a bank statement file, one statement at a time, each all or nothing (re-importing adds nothing).\n\n'
     'Exit 0 when every statement was imported (or had been already), 1 when all were rejected, 4 when some were\n'
     'rejected and others imported, 2 when the file cannot be read as a statement file.'):
        ('逐份导入银行对账单文件，每份对账单要么全部入账、要么全部不入账（重复导入不会新增）。\n\n'
         '退出码：全部对账单已导入（或此前已导入）为 0，全部被拒为 1，部分被拒、部分导入为 4，'
         '文件无法作为对账单读取为 2。'),
    'An MT940 (.sta/.txt/.mt940) or camt.053 (.xml) statement.':
        'MT940（.sta/.txt/.mt940）或 camt.053（.xml）对账单。',
    'Ledger account the lines belong to.':
        '对账单所属的账户。',
    'Ledger connector name the account belongs to.':
        '账户所属的账务连接器名称。',
    'Notifications: test a channel, send what is due, read the delivery log.':
        '通知：测试渠道、发送到期的通知、查看发送记录。',
    "Send a test message through CHANNEL via the outbox and show the channel's answer.":
        '通过发件箱向 CHANNEL 发送一条测试消息，并显示渠道的应答。',
    'A channel name under [channels], e.g. email or wecom.':
        '[channels] 下的渠道名称，例如 email 或 wecom。',
    'Recipient (repeatable); default: the operators group.':
        '收件人（可重复）；默认：operators 组。',
    'Print the log entry as JSON.':
        '以 JSON 输出发送记录。',
    'Plan every notification that is due (alerts, downgrades, runs, follow-ups) and send it.':
        '生成所有到期的通知（预警、评级下调、运行结果、跟进提醒）并发送。',
    'Print the outcome as one JSON object.':
        '以一个 JSON 对象输出结果。',
    'Show what would be planned; send nothing.':
        '显示将要生成的通知；不发送。',
    'Include follow-up reminders.':
        '包括跟进提醒。',
    "The delivery log: every notification with its status, attempts and the channel's answer per recipient.":
        '发送记录：每条通知的状态、尝试次数以及渠道对每个收件人的应答。',
    'delivered, failed, unconfirmed, retrying, planned, partial, sending or skipped.':
        ('delivered（已送达）、failed（发送失败）、unconfirmed（送达未知）、retrying（待重试）、planned（待发送）、p'
         'artial（部分送达）、sending（发送中）或 skipped（已跳过）。'),
    'One of rating_downgrade, alert, sync_failed, dead_letters, digest, follow_up, undelivered, test.':
        'rating_downgrade、alert、sync_failed、dead_letters、digest、follow_up、undelivered、test 之一。',
    'Only this channel.':
        '只看此渠道。',
    ('Send failed, partial, unconfirmed or skipped notifications again (delivered recipients are left out).\n\nFor a'
     'n unconfirmed one, first make sure the message did not arrive: a retry may otherwise duplicate it.'):
        ('重新发送失败、部分送达、送达未知或已跳过的通知（已送达的收件人除外）。\n\n对于送达未知的通知，请先确认消息'
         '确实未送达：否则重发可能造成重复。'),
    'Notification ids from `crmhub notify log`.':
        '`crmhub notify log` 中的通知编号。',
    'The effective routes: per event, which channel sends to whom, in which language, and whether it can.':
        '生效的通知路由：每个事件由哪个渠道、以何种语言发给谁，以及能否发送。',
    'Visits, calls and messages with clients (they reset follow-up reminders).':
        '与客户的拜访、电话和消息（会重置跟进提醒）。',
    'Record a visit, call, message, email or meeting with a client; it resets the follow-up reminder.':
        '记录一次与客户的拜访、电话、消息、邮件或会议；会重置跟进提醒。',
    'Hub id or USCC of the client.':
        '客户主记录编号或统一社会信用代码。',
    'visit, call, message, email or meeting.':
        'visit（拜访）、call（电话）、message（消息）、email（邮件）或 meeting（会议）。',
    'When (ISO 8601 with time zone; default: now).':
        '时间（带时区的 ISO 8601；默认：现在）。',
    'Who was in touch (the relationship manager).':
        '联系人员（客户经理）。',
    'What was discussed.':
        '沟通内容。',
    "A client's interactions, newest first, and when the next follow-up is due.":
        '客户的联系记录（最新在前）及下次跟进的到期日。',
    'Credit risk: scorecard, rating, segment, policy.':
        '信用风险：评分卡、评级、风险分层、授信政策。',
    'Score clients, update their rating and segment, raise alerts (reruns with unchanged inputs store nothing).':
        '为客户评分，更新评级和分层，生成预警（输入未变的重复评估不会写入任何数据）。',
    'USCCs to assess (default: clients whose inputs changed).':
        '要评估的统一社会信用代码（默认：输入有变化的客户）。',
    'Assess every active client.':
        '评估所有有效客户。',
    'Assess as of this day (YYYY-MM-DD).':
        '以此日期为评估日（YYYY-MM-DD）。',
    'Seconds to wait for a running sync to finish its merge.':
        '等待正在进行的同步完成合并的秒数。',
    "Why a client has its rating: score, each factor's input, bin, points and reason, overrides, policy.":
        '客户评级的依据：评分、各因子的输入、分档、得分和原因、调整规则、授信政策。',
    'USCC or hub id.':
        '统一社会信用代码或客户主记录编号。',
    'Print the scorecard in force: every factor, bin and point, grades, segments, overrides, policy.':
        '打印现行评分卡：所有因子、分档和分值、评级切分、分层、调整规则、授信政策。',
    'AML and risk alerts: large-value reports and suspicious patterns.':
        '反洗钱和风险预警：大额交易报告和可疑交易模式。',
    'List alerts, newest first.':
        '列出预警，最新在前。',
    'new, acknowledged, closed, open (= new + acknowledged) or all.':
        'new（待处理）、acknowledged（已受理）、closed（已关闭）、open（= 待处理 + 已受理）或 all（全部）。',
    'large_value, structuring, pass_through, fan_in, fan_out, dormant_reactivation.':
        ('large_value（大额交易）、structuring（拆分交易）、pass_through（快进快出）、fan_in（分散转入）、fan_out（'
         '分散转出）、dormant_reactivation（休眠账户激活）。'),
    'Only this client (USCC or hub id).':
        '只看此客户（统一社会信用代码或客户主记录编号）。',
    'One alert with all its evidence.':
        '显示一条预警及其全部证据。',
    'Print the alert as one JSON object.':
        '以一个 JSON 对象输出预警。',
    'Acknowledge an alert (someone is looking at it).':
        '受理预警（已有人在处理）。',
    'Close an alert with a disposition and its reasons (four eyes: another AML officer approves).':
        '关闭预警（已上报，或在 --note 中注明排除原因）。',
    'Simulators of every outside system, for trying crmhub offline.':
        '模拟所有外部系统，用于离线试用 crmhub。',
    "Serve every plugin's simulator on 127.0.0.1 until Ctrl-C or SIGTERM.":
        '在 127.0.0.1 上运行所有插件的模拟器，直到按 Ctrl-C 或收到 SIGTERM。',
    'World seed (same seed, same world).':
        '模拟世界的随机种子（相同种子，相同世界）。',
    'Number of companies in the world.':
        '模拟世界中的企业数量。',
    ('Fault profile: none, slow, flaky, expiring, dirty, hostile, or key=value,… (e.g. latency_ms=50,throttle_rate=0'
     '.05).'):
        ('故障配置：none、slow、flaky、expiring、dirty、hostile，或 key=value,…（例如 latency_ms=50,throttle_rate=0.'
         '05）。'),
    'First port; each simulator gets its own from here on (the banner lists them).':
        '起始端口；每个模拟器从这里起各得一个端口（启动信息会列出）。',
    ('A simulator setting SIMULATOR.KEY=VALUE (repeatable; VALUE read as TOML, else as text), e.g. '
     'core_ledger.detail=false.'):
        '模拟器设置 模拟器.键=值（可重复；值按 TOML 解析，否则作为文本），例如 core_ledger.detail=false。',
    'Write a crmhub config pointing here.':
        '写入指向这些模拟器的 crmhub 配置。',
    ("Shrink the services' rate-limit windows by this factor (and the written config's pacing with them), for quick "
     'demos.'):
        '按此倍数缩短各服务的限流窗口（写入配置的节奏同步缩短），用于快速演示。',
    'The embedded scheduler: run the configured jobs on one machine.':
        '内置调度器：在单台机器上运行配置的作业。',
    'Run the configured job schedules on this machine until SIGTERM or SIGINT (logs: JSON lines on stdout).':
        '在本机按配置的计划运行作业，直到收到 SIGTERM 或 SIGINT（日志：标准输出上的 JSON 行）。',
    "Seconds a stopping scheduler waits for the running job's safe point.":
        '停止中的调度器等待当前作业到达安全点的秒数。',
    'Scheduled jobs: their schedule and last results; run one now.':
        '计划作业：计划、最近结果；立即运行某个作业。',
    "Each job's schedule, next run (in its time zone) and last result.":
        '每个作业的计划、下次运行时间（按其时区）和上次结果。',
    'One JSON object per job and line.':
        '每个作业一行 JSON 对象。',
    'How many recent results to include with --json.':
        '使用 --json 时包含的最近结果条数。',
    'Run one job now, through the same code as its scheduled runs (or queue it for the workers).':
        '立即运行一个作业，与定时运行走相同的代码（或排队交给工作进程）。',
    'A job name under [jobs].':
        '[jobs] 下的作业名称。',
    'Seconds to wait for busy connector locks.':
        '等待被占用的连接器锁的秒数。',
    'Queue it for the workers instead (PostgreSQL store).':
        '改为排队交给工作进程（PostgreSQL 存储）。',
    'Print JSON (raw ids, for machines).':
        '输出 JSON（原始编码，供程序读取）。',
    'Why (kept in the audit log).':
        '原因（记入审计日志）。',
    # list commands' --limit / --all (w4-cli)
    'At most N rows (0 = all); a cut listing says so on stderr.':
        '最多显示 N 条（0 表示全部）；结果被截断时会在标准错误输出中说明。',
    'Every row, however many (same as --limit 0).':
        '显示全部记录，不限条数（等同于 --limit 0）。',
    # --- operators, roles and four-eyes (issue 15, w10-users) ---
    'Act as this registered operator (any position; default: $CRMHUB_USER, else the OS login).':
        '以此已注册操作员的身份执行（可放在任意位置；默认：$CRMHUB_USER，否则为操作系统登录名）。',
    'The approved proposal of this bulk --reveal (four eyes).':
        '此次批量 --reveal 已获批准的审批单（双人复核）。',
    'Why you decide so (kept with the decision and in the audit log).':
        '作出该决定的理由（随决定保存并记入审计日志）。',
    'reported, not_suspicious, escalated or duplicate.':
        'reported（已上报）、not_suspicious（不可疑）、escalated（已升级）或 duplicate（重复）。',
    'The reasons for the disposition (required).':
        '处置理由（必填）。',
    'Operators: who may use crmhub, with which roles.':
        '操作员：谁可以使用 crmhub，具有哪些角色。',
    'Register an operator (the first one on an empty store is always an admin).':
        '注册操作员（空存储上的第一位操作员总是管理员）。',
    'Operator name (what --as and CRMHUB_USER take).':
        '操作员名称（即 --as 和 CRMHUB_USER 所用的名称）。',
    'viewer, operator, approver, aml_officer or admin (repeatable).':
        'viewer（查看）、operator（操作）、approver（审批）、aml_officer（反洗钱）或 admin（管理员）（可重复）。',
    "The person's full name.":
        '此人的全名。',
    'List operators with their roles and whether they are enabled.':
        '列出操作员及其角色和启用状态。',
    'Disable an operator: they can no longer act (kept for the audit trail).':
        '停用操作员：其不能再执行操作（记录保留，供审计追溯）。',
    'Operator name.':
        '操作员名称。',
    "Set an operator's password (for the console): admins for anyone, everyone else for themself.":
        '设置操作员密码（用于操作台）：管理员可为任何人设置，其他人只能为自己设置。',
    'Read the password from one line of stdin (scripts).':
        '从标准输入读取一行作为密码（供脚本使用）。',
    'Four-eyes approvals: actions proposed by one operator, decided by another.':
        '双人复核审批：由一位操作员提议、另一位操作员决定的操作。',
    "List proposals waiting for (or past) a second operator's decision.":
        '列出等待（或已经过）第二位操作员决定的审批单。',
    'pending, approved, rejected, applied, failed or all.':
        ('pending（待审批）、approved（已批准）、rejected（已拒绝）、applied（已执行）、failed（执行失败）'
         '或 all（全部）。'),
    'One proposal with its payload and decision.':
        '显示一张审批单及其内容和决定。',
    'Approval id.':
        '审批单编号。',
    "Approve another operator's proposal: it is applied now (never one's own).":
        '批准另一位操作员的提议并立即执行（不能批准自己的提议）。',
    'Why (kept with the decision and in the audit log).':
        '原因（随决定保存并记入审计日志）。',
    "Reject another operator's proposal with a reason; nothing is applied.":
        '说明理由并拒绝另一位操作员的提议；不执行任何操作。',
    'Why it is rejected (required).':
        '拒绝理由（必填）。',
    # --- end operators ---
    # --- audit trail (crmhub audit …) ---
    'The audit trail: verify the keyed chain, keep checkpoints, list and export entries.':
        '审计轨迹：验证带密钥的哈希链、保存检查点、列出和导出条目。',
    'Only entries at or after this date or time (e.g. 2026-12-01).':
        '只包含此日期或时间及之后的条目（例如 2026-12-01）。',
    'Only entries by this actor (e.g. os:alice, sync).':
        '只包含此操作人的条目（例如 os:alice、sync）。',
    'Only entries about this object: TYPE or TYPE:ID (e.g. client:42).':
        '只包含关于此对象的条目：类型 或 类型:编号（例如 client:42）。',
    'Also compare with this checkpoint file (finds a deleted tail).':
        '同时与此检查点文件比对（可发现被删除的尾部条目）。',
    'Check every entry of the keyed audit chain; exit 1 naming the first bad entry.':
        '检查带密钥审计链的每个条目；发现问题时以退出码 1 退出并指出第一个有问题的条目。',
    'Where to write the checkpoint (JSON).':
        '检查点（JSON）的写入位置。',
    'Verify the chain, add a checkpoint entry and write the chain head to a file to keep outside the database.':
        '验证审计链，追加一个检查点条目，并将链头写入文件，以便保存在数据库之外。',
    'List audit entries, newest first: who did what to which object, when, in which run.':
        '列出审计条目（最新的在前）：谁在何时、在哪次运行中对哪个对象做了什么。',
    'The file to write.':
        '要写入的文件。',
    'jsonl or csv.':
        'jsonl 或 csv。',
    'Export audit entries, oldest first, as JSON Lines or CSV (personal data masked; the export is audited).':
        '按时间顺序将审计条目导出为 JSON Lines 或 CSV（个人信息已脱敏；导出操作本身记入审计日志）。',
    # crmhub console
    'Serve the operator console in the browser: runs, review, dead letters, clients, alerts, audit.':
        '在浏览器中提供操作台：运行记录、复核、死信、客户、预警、审计。',
    'Serve the operator console in the browser: runs, review, dead letters, clients, alerts, audit.\n\n'
    'Operators log in with the password an admin set with `crmhub users passwd NAME`; every page and action\n'
    'follows the same roles and four-eyes rules as the CLI. Stop it with Ctrl+C.':
        '在浏览器中提供操作台：运行记录、复核、死信、客户、预警、审计。\n\n'
        '操作员使用管理员通过 `crmhub users passwd 用户名` 设置的密码登录；每个页面和操作都遵循与命令行相同的'
        '角色和双人复核规则。按 Ctrl+C 停止。',
    'Address to listen on (default: [console] host, 127.0.0.1).':
        '监听地址（默认：[console] host，即 127.0.0.1）。',
    'Port to listen on (default: [console] port, 8780).':
        '监听端口（默认：[console] port，即 8780）。',
}
