"""The dashboard: the state of the hub at a glance — each connector's last run, the next scheduled jobs, the work
waiting for people, open AML alerts by age (AML officers only) and trends over the last runs. A job whose sync is
split over workers and still going shows its progress (`crmhub.sync.run_tasks`).

Every number is counted in SQL (`crmhub.sync.run_query`); the job schedule is the one `crmhub jobs list` shows
(`crmhub.jobs.state.overview`). Each count links to the page that lists its records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from crmhub.console.run_charts import axis_chart, trend_charts
from crmhub.console.web import Req, page
from crmhub.display import label, local_time
from crmhub.jobs import state as job_state
from crmhub.masking import mask_text
from crmhub.reporting.labels import LABELS
from crmhub.sync import run_query, run_tasks

TREND_RUNS = 30
"""How many runs the trend charts cover."""


def _jobs(req: Req, now: datetime) -> list[dict[str, Any]]:
    """Configured jobs, next tick first (disabled ones last)."""
    rows = job_state.overview(req.state.settings, req.state.store, now, recent=0)
    return sorted(rows, key=lambda j: (j["next_run"] is None, j["next_run"] or "", j["job"]))


@page("GET", "/", command="console")
def dashboard(req: Req) -> Response:
    """Last runs, next jobs, open work and trends."""
    now = datetime.now(UTC)
    may_alerts = req.may("alerts list")
    with req.db() as s:
        connectors = run_query.last_run_per_connector(s, req.state.settings.connectors)
        work = run_query.open_work(s)
        ages = run_query.alert_ages(s, now) if may_alerts else None
        points = run_query.trend(s, TREND_RUNS)
        progress = run_tasks.progress_by_job(run_tasks.running_runs(s))
    for c in connectors:
        c.error = mask_text(c.error) if c.error else None
    charts = trend_charts(points, req.text)
    age_chart = None
    if ages is not None:
        age_chart = axis_chart(
            "bar",
            [req.text(f"{k} 天", f"{k} d") for k in ages],
            {req.text("未关闭预警", "open alerts"): list(ages.values())},
        )
    return req.render(
        "dashboard/index.html.j2",
        active="/",
        connectors=connectors,
        work=work,
        ages=ages,
        age_chart=age_chart,
        points=points,
        charts=charts,
        jobs=_jobs(req, now),
        progress=progress,
        trend_runs=TREND_RUNS,
        labels={k: v[req.lang] for k, v in LABELS.items()},
        local=local_time,
        vlabel=lambda group, value: label(group, value, req.lang),
    )
