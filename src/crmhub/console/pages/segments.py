"""The segments page: how the book divides — clients and credit exposure by risk segment, rating, industry,
province and relationship manager (`crmhub.reporting.segments` does the counting, in SQL).

Every filter narrows every breakdown; each count links to the clients list with the same filters, so a number on
this page is always one click from the clients behind it. The same breakdown downloads as CSV or Excel.

Counting reads every client's keys (indexed columns, no JSON) and facilities, most of a second at 100,000
clients, while the book changes only when something writes to it. So each app keeps the last breakdowns (`Kept`,
per filter) with the store's `segments.stamp`, and counts again when the stamp moved or after `KEEP_SECONDS` (a
change nothing stamps).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from crmhub.console.export import FORMATS, export_response
from crmhub.console.reading import read_session
from crmhub.console.web import Req, page
from crmhub.model.industry import SECTIONS
from crmhub.reporting import segments
from crmhub.reporting.segments import DIMENSIONS, UNKNOWN, Breakdown, Bucket, Filters

TITLES = {
    "segment": ("风险分层", "Risk segment"),
    "rating": ("评级", "Rating"),
    "industry": ("行业（GB/T 4754 门类）", "Industry (GB/T 4754 section)"),
    "region": ("地区（省级）", "Region (province)"),
    "manager": ("客户经理", "Relationship manager"),
}
TABLE_ROWS = 50
"""Rows shown per breakdown (managers can be hundreds; the export has them all)."""
CHART_BARS = 15
CLIENTS_COLOUR, EXPOSURE_COLOUR = "#5470c6", "#3ba272"


def _wan(minor: Decimal) -> float:
    """CNY minor units → 万元 (ten thousand yuan), for chart axes."""
    return float(round(minor / 1_000_000, 2))


def chart(req: Req, dim: str, buckets: list[Bucket]) -> dict[str, Any]:
    """The ECharts option of one breakdown: a pie of clients by segment, else bars of clients and exposure."""
    clients, exposure = req.text("客户数", "Clients"), req.text("敞口（万元）", "Exposure (10k CNY)")
    if dim == "segment":
        return {
            "animation": False,
            "tooltip": {"trigger": "item"},
            "legend": {"bottom": 0},
            "series": [
                {
                    "name": clients,
                    "type": "pie",
                    "radius": ["35%", "65%"],
                    "data": [{"name": b.label(req.lang), "value": b.clients} for b in buckets],
                }
            ],
        }
    shown = buckets[:CHART_BARS]
    names = [b.key if dim == "industry" and b.known else b.label(req.lang) for b in shown]
    # each axis (and its name) in its series' colour, besides the legend: two scales side by side read at a glance
    axis = [
        {"type": "value", "name": name, "nameTextStyle": {"color": colour}, "axisLabel": {"color": colour}}
        for name, colour in ((clients, CLIENTS_COLOUR), (exposure, EXPOSURE_COLOUR))
    ]
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 50, "right": 60, "top": 48, "bottom": 70},
        "xAxis": {
            "type": "category",
            "data": names,
            "axisLabel": {"rotate": 30 if dim != "industry" else 0, "interval": 0},
        },
        "yAxis": axis,
        "series": [
            {
                "name": clients,
                "type": "bar",
                "itemStyle": {"color": CLIENTS_COLOUR},
                "data": [b.clients for b in shown],
            },
            {
                "name": exposure,
                "type": "bar",
                "yAxisIndex": 1,
                "itemStyle": {"color": EXPOSURE_COLOUR},
                "data": [_wan(b.exposure_minor) for b in shown],
            },
        ],
    }


CLIENT_ARGS = {"manager": "rm"}
"""The clients page's name of a filter, where it differs."""


def clients_url(filters: Filters, dim: str, key: str) -> str | None:
    """The clients list narrowed by the page's filters and one bucket, or None where that list would not be the
    count's clients: a "not known" value (the clients page cannot select it), or a region that is not a province
    (a city-only address: the clients page would match that text in every province's addresses too).

    The clients page finds a region by a fragment of the address's province or city, so a province is given by
    its short name (浙江 finds 浙江省 and 浙江); the manager is its ``rm``."""
    args = {**filters.as_args(), dim: key}
    if UNKNOWN in args.values():
        return None
    if "region" in args:
        province = segments.province_of(args["region"])
        if province is None:
            return None
        args["region"] = province.short
    return "/clients?" + urlencode({CLIENT_ARGS.get(name, name): value for name, value in args.items()})


def segments_url(filters: Filters, dim: str, key: str) -> str:
    """This page narrowed further by one bucket."""
    return "/segments?" + urlencode({**filters.as_args(), dim: key})


KEEP_SECONDS = 300.0
KEEP_ENTRIES = 32


class Kept:
    """One app's recent breakdowns by filters, each valid while the store's stamp is unchanged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[Filters, tuple[tuple[Any, ...], float, Breakdown]] = OrderedDict()

    def get(self, filters: Filters, stamp: tuple[Any, ...]) -> Breakdown | None:
        with self.lock:
            found = self.entries.get(filters)
            if found is None or found[0] != stamp or time.monotonic() - found[1] > KEEP_SECONDS:
                return None
            self.entries.move_to_end(filters)
            return found[2]

    def put(self, filters: Filters, stamp: tuple[Any, ...], value: Breakdown) -> None:
        with self.lock:
            self.entries[filters] = (stamp, time.monotonic(), value)
            self.entries.move_to_end(filters)
            while len(self.entries) > KEEP_ENTRIES:
                self.entries.popitem(last=False)


_KEPT: weakref.WeakKeyDictionary[object, Kept] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def breakdown(req: Req, filters: Filters) -> Breakdown:
    """The breakdown for ``filters``: kept from an earlier view while the book has not changed, else counted."""
    with _KEPT_LOCK:
        kept = _KEPT.get(req.state)
        if kept is None:
            kept = _KEPT[req.state] = Kept()
    with read_session(req.state.store) as s:
        stamp = segments.stamp(s)
        found = kept.get(filters, stamp)
        if found is None:
            found = segments.breakdown(s, filters, req.state.settings.risk)
            kept.put(filters, stamp, found)
    return found


def _rows(req: Req, found: Breakdown) -> Iterator[list[Any]]:
    for dim in DIMENSIONS:
        title = req.text(*TITLES[dim])
        for b in found.dims[dim]:
            share = round(b.clients * 100 / found.clients, 2) if found.clients else 0
            yield [title, b.key, b.label(req.lang), b.clients, share, b.exposure]


@page("GET", "/segments", command="clients list")
def segments_page(req: Req) -> Response:
    """Breakdowns of the active book by segment, rating, industry, province and manager, filtered."""
    filters = Filters.parse(req.request.query_params)
    fmt = req.arg("format")
    found = breakdown(req, filters)
    if fmt in FORMATS:
        headers = [
            req.text("维度", "dimension"),
            req.text("取值", "value"),
            req.text("名称", "label"),
            req.text("客户数", "clients"),
            req.text("占比 %", "share %"),
            req.text("敞口（人民币元）", "exposure CNY"),
        ]
        req.audit_export("segment")
        return export_response(fmt, headers, _rows(req, found), "segments")
    options = {
        "segment": [(s, segments.bucket_label("segment", s)) for s in segments.SEGMENT_ORDER],
        "rating": [(r, (r, r)) for r in segments.RATING_ORDER],
        "industry": [(s.letter, (f"{s.letter} {s.name_zh}", f"{s.letter} {s.name_en}")) for s in SECTIONS],
    }
    return req.render(
        "segments/index.html.j2",
        active="/segments",
        found=found,
        filters=filters,
        dims=DIMENSIONS,
        titles=TITLES,
        options=options,
        unknown=UNKNOWN,
        rows_max=TABLE_ROWS,
        chart=lambda dim: chart(req, dim, found.dims[dim]),
        clients_url=lambda dim, key: clients_url(filters, dim, key),
        segments_url=lambda dim, key: segments_url(filters, dim, key),
        provinces=[(code, name, en) for code, name, en in _provinces()],
    )


def _provinces() -> list[tuple[str, str, str]]:
    """Every province-level division (code digits, Chinese name, English name), for the region filter."""
    out = []
    for code, en in segments.PROVINCE_EN.items():
        region = segments.province_of(code)
        if region is not None:
            out.append((code, region.name, en))
    return out
