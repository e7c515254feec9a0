"""ECharts options for the run pages and the dashboard (drawn by static/console.js from ``data-chart``).

Options are plain dicts (JSON in an attribute: no inline script, as the CSP wants). Every chart of runs puts the
run ids on the category axis (``#12``), so a point on a trend reads as the run it came from.
"""

from __future__ import annotations

from typing import Any

_GRID = {"left": 48, "right": 16, "top": 36, "bottom": 28, "containLabel": True}


def axis_chart(
    kind: str, categories: list[str], series: dict[str, list[float | int]], *, y_name: str = ""
) -> dict[str, Any]:
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 4, "data": list(series)},
        "grid": _GRID,
        "xAxis": {"type": "category", "data": categories},
        "yAxis": {"type": "value", "name": y_name, "minInterval": 1 if y_name == "" else 0},
        "series": [
            {"name": name, "type": kind, "data": values, "smooth": False, "symbolSize": 6}
            if kind == "line"
            else {"name": name, "type": kind, "data": values, "barMaxWidth": 28}
            for name, values in series.items()
        ],
    }


def trend_charts(points: list[dict[str, Any]], text: Any) -> dict[str, dict[str, Any]]:
    """The dashboard's trend charts over ``points`` (`crmhub.sync.run_query.trend`, oldest first).

    ``text(zh, en)`` picks the user's language for the series names.
    """
    runs = [f"#{p['id']}" for p in points]

    def col(key: str) -> list[float | int]:
        return [p[key] for p in points]

    return {
        "read": axis_chart("bar", runs, {text("读取记录", "records read"): col("read")}),
        "clients": axis_chart(
            "line",
            runs,
            {
                text("新建客户", "golden clients created"): col("created"),
                text("更新客户", "golden clients updated"): col("updated"),
                text("变更合计", "changes"): col("changes"),
            },
        ),
        "problems": axis_chart(
            "bar",
            runs,
            {
                text("死信", "dead letters"): col("dead_letters"),
                text("新增预警", "alerts raised"): col("alerts_raised"),
            },
        ),
        "duration": axis_chart(
            "line", runs, {text("耗时（秒）", "duration (s)"): col("duration_s")}, y_name=text("秒", "s")
        ),
    }


def bar_chart(items: list[tuple[str, float]], name: str, *, horizontal: bool = True, unit: str = "") -> dict[str, Any]:
    """A one-series bar chart of (label, value) pairs (horizontal: labels down the side, like the HTML report)."""
    labels = [k for k, _ in items]
    values = [v for _, v in items]
    category = {"type": "category", "data": labels[::-1] if horizontal else labels}
    value = {"type": "value", "name": unit}
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "grid": {**_GRID, "top": 16},
        "xAxis": value if horizontal else category,
        "yAxis": category if horizontal else value,
        "series": [
            {
                "name": name,
                "type": "bar",
                "data": values[::-1] if horizontal else values,
                "barMaxWidth": 24,
                "label": {"show": True, "position": "right" if horizontal else "top"},
            }
        ],
    }
