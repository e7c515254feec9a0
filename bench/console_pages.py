"""Benchmark: every GET page of the operator console on a 100,000-client store, against a 1,000-client baseline.

    python bench/console_pages.py                       # 100,000 clients vs 1,000, SQLite files under var/
    python bench/console_pages.py --reuse               # keep the stores built by an earlier run
    python bench/console_pages.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test --schema bench_console

Issue #16 asks that every list is paginated on the server and any page renders in under 1 s on a 100,000-client
store. This script

1. builds (or, with ``--reuse``, reuses) two stores with bench/console_data.py — ``--clients`` (default 100,000)
   and ``--baseline`` (default 1,000) golden clients with lineage, sources, risk, alerts, dead letters, review
   items, runs and an audit trail of 2 entries per client and more — by bulk inserts, and prints the build time;
2. starts the console as an operator would, ``crmhub console -c <config> --port <free port>`` (a real uvicorn
   on loopback, in its own process, so its peak memory is its own), and logs in through the login form as an
   operator holding every role;
3. discovers the pages from the route table (`crmhub.console.app.routes()`, then every GET route in
   `crmhub.console.web.SPECS`, plus the public login page), so it measures whatever pages exist when it runs;
   path parameters are filled with real ids from the store (a client with an alert, the full sync and the latest
   run, the middle row of each table);
4. requests each page: the first page; filtered pages when the page has a GET form — its search box with a name
   fragment, and separately its most telling select (``segment=high``, ``status=open`` …) — or a guessed
   filter when it has none (marked ``guessed``); page 500 when the pager has a next page (the console clamps to
   the last page, so it is the deepest OFFSET); a detail route with a real id and, when that route wants a query
   (a run's records), the links the pages show for it; the CSV export of the filtered list once where offered
   (not budgeted: it streams every matching row; given up after ``--export-limit`` s). Each page is requested
   once to warm up, then ``--repeat`` times; the table shows median and p95 wall time (client side, whole body
   read), rows on the page, bytes, and PASS/FAIL against ``--budget-ms`` (default 1,000) on p95;
5. prints the same routes on the baseline store and the ratio (100k / 1k): a page whose time grows with the
   store instead of the page shows a ratio far above 1.

Exit code 0 whatever the results (a benchmark, not a test); the last line reads ``slowest page: … ms (…)``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import tomli_w

import console_data

ROOT = Path(__file__).resolve().parents[1]
FRAGMENT = "科技"
"""Name fragment typed into a search box: in about one company name in ten."""
PREFERRED = ("high", "open", "new", "pending", "failed", "structuring", "client.update", "zoho")
GUESSED = {
    "clients": {"q": FRAGMENT, "segment": "high"},
    "alerts": {"status": "new"},
    "deadletters": {"status": "open"},
    "review": {"status": "open"},
    "approvals": {"status": "pending"},
    "audit": {"action": "client.update"},
    "runs": {"status": "partial"},
    "segments": {"segment": "high"},
}
"""Filters tried on a list page that shows no filter form (each page ignores arguments it does not know)."""
TEXT_VALUES = {
    "q": FRAGMENT,
    "search": FRAGMENT,
    "name": FRAGMENT,
    "query": FRAGMENT,
    "keyword": FRAGMENT,
    "actor": "alice",
    "action": "client.update",
    "uscc": "9111",
    "connector": "zoho",
    "kind": "match",
}


# --- stores ---------------------------------------------------------------------------------------------------
@dataclass
class Target:
    """One store to measure: its URL, its config file (whose folder holds var/ with the audit key)."""

    clients: int
    url: str
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "crmhub.toml"


def _pg_url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def prepare(clients: int, args: argparse.Namespace) -> Target:
    """The store of ``clients`` clients: reused (``--reuse``, when it holds exactly that many) or built anew."""
    from sqlalchemy import create_engine, func, select, text

    from crmhub.store import Store
    from crmhub.store.tables import GoldenClient

    if args.db:  # the config and var/ (the audit key) of a PostgreSQL store live in a folder named after its schema
        schema = f"{args.schema}_{clients}"
        home = Path(args.workdir).resolve() / f"pg-{schema}"
        url = _pg_url(args.db, schema)
    else:
        schema, home = "", Path(args.workdir).resolve() / f"c{clients}"
        url = f"sqlite:///{home / 'store.db'}"
    target = Target(clients, url, home)
    if args.reuse and (home / "var" / "secret.key").exists():
        try:
            store = Store.open(url, var_dir=home / "var")
            with store.begin() as s:
                found = s.scalar(select(func.count()).select_from(GoldenClient))
            store.dispose()
            if found == clients:
                print(f"reusing the {clients:,}-client store ({_where(target)})")
                target.config.write_text(tomli_w.dumps(console_data.config_doc(url)), encoding="utf-8")
                return target
        except Exception as exc:
            print(f"cannot reuse the {clients:,}-client store ({exc}); building it")
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    if args.db:
        admin = create_engine(args.db)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    target.config.write_text(tomli_w.dumps(console_data.config_doc(url)), encoding="utf-8")
    store = Store.open(url, var_dir=home / "var")
    print(f"building the {clients:,}-client store, {args.jobs} worker process(es) …")
    built = console_data.build(store, clients, jobs=args.jobs)
    store.dispose()
    print(
        f"built {clients:,} clients in {built.seconds:,.1f} s ({clients / built.seconds:,.0f} clients/s) "
        f"({_where(target)}); " + ", ".join(f"{k} {v:,}" for k, v in built.counts.items())
    )
    return target


def _where(target: Target) -> str:
    """Where the store is and how big (the SQLite file, or the PostgreSQL schema's tables with their indexes)."""
    db = target.home / "store.db"
    if db.exists():
        size = sum(p.stat().st_size for p in target.home.glob("store.db*"))
        return f"{db}, {size / 2**20:,.0f} MiB"
    from sqlalchemy import create_engine, text

    engine = create_engine(target.url)
    with engine.connect() as conn:
        size = (
            conn.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                    "AND c.relkind = 'r'"
                )
            ).scalar()
            or 0
        )
    engine.dispose()
    return f"{target.url.split('@')[-1]}, {int(size) / 2**20:,.0f} MiB"


# --- the server -----------------------------------------------------------------------------------------------
@dataclass
class Server:
    """`crmhub console` in a child process."""

    proc: subprocess.Popen[bytes]
    base: str

    def peak_mib(self) -> float | None:
        """The child's peak resident memory (VmHWM), MiB (Linux)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(target: Target) -> Server:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMHUB_")}
    env["PYTHONWARNINGS"] = "ignore"
    log = (target.home / "console.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmhub.cli", "console", "-c", str(target.config), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=target.home,
    )
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(
                f"crmhub console exited ({proc.returncode}): "
                f"{(target.home / 'console.log').read_text(errors='replace')[-2000:]}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Server(proc, f"http://127.0.0.1:{port}")
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("crmhub console did not start within 120 s")
        time.sleep(0.2)


def login(base: str) -> httpx.Client:
    """A client logged in through the login form as the operator with every role."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=300)
    form = client.get("/login")
    nonce = re.search(r'name="_nonce" value="([^"]+)"', form.text)
    assert nonce, form.text[:300]
    answer = client.post(
        "/login",
        data={
            "_nonce": nonce.group(1),
            "username": console_data.BENCH_USER,
            "password": console_data.PASSWORD,
            "next": "/",
        },
    )
    if answer.status_code != 303:
        raise SystemExit(f"login failed: {answer.status_code} {answer.text[:300]}")
    return client


# --- what to request --------------------------------------------------------------------------------------------
class _Page(HTMLParser):
    """The parts of a page the benchmark needs: GET forms and their fields, table rows, pager, export links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: dict[str, Any] | None = None
        self.rows = 0
        self._tbody = 0
        self.pager = False
        self.more = False
        self.exports: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "fields": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form["fields"].append(
                {"kind": a.get("type", "text").lower(), "name": a["name"], "value": a.get("value", "")}
            )
        elif tag == "select" and self._form is not None and a.get("name"):
            self._select = {"kind": "select", "name": a["name"], "options": []}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
        elif tag == "tbody":
            self._tbody += 1
        elif tag == "tr" and self._tbody:
            self.rows += 1
        elif tag == "nav" and "pager" in a.get("class", ""):
            self.pager = True
        elif tag == "a" and a.get("rel") == "next":
            self.more = True
            self.links.append(a.get("href", ""))
        elif tag == "a" and a.get("data-export") == "csv":
            self.exports.append(a.get("href", ""))
        elif tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "tbody":
            self._tbody -= 1


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def filters_of(page: _Page) -> list[dict[str, str]]:
    """Filters to try, from the first GET form with visible fields: its search box filled with a name fragment
    (or another known text field), and separately its most telling select (one filter each, as a person
    filters; hidden fields kept)."""
    for form in page.forms:
        visible = [f for f in form["fields"] if f["kind"] != "hidden"]
        if form["method"] != "get" or not visible:
            continue
        hidden = {
            f["name"]: f["value"]
            for f in form["fields"]
            if f["kind"] == "hidden" and f["value"] and f["name"] != "page"
        }
        out: list[dict[str, str]] = []
        text = next((f for f in visible if f["kind"] in ("text", "search") and f["name"] in TEXT_VALUES), None)
        if text is not None:
            out.append({**hidden, text["name"]: TEXT_VALUES[text["name"]]})
        selects = [(f["name"], [o for o in f["options"] if o]) for f in visible if f["kind"] == "select"]
        ranked = sorted(
            (
                (next((i for i, o in enumerate(PREFERRED) if o in opts), len(PREFERRED)), name, opts)
                for name, opts in selects
                if opts
            ),
            key=lambda t: t[0],
        )
        if ranked:
            _, name, opts = ranked[0]
            out.append({**hidden, name: next((o for o in PREFERRED if o in opts), opts[0])})
        return out
    return []


def _shown(query: dict[str, str]) -> str:
    return "filter " + "&".join(f"{k}={v}" for k, v in query.items())


@dataclass
class Case:
    route: str
    label: str
    url: str
    budget: bool = True


@dataclass
class Result:
    route: str
    label: str
    url: str
    status: int
    median_ms: float
    p95_ms: float
    rows: int
    bytes: int
    budget: bool
    samples: list[float] = field(default_factory=list)
    error: str | None = None


def _params(path: str) -> list[tuple[str, str]]:
    from starlette.routing import compile_path

    _, _, convertors = compile_path(path)
    return [(name, type(conv).__name__) for name, conv in convertors.items()]


def resolve_ids(target: Target) -> dict[str, list[tuple[str, str]]]:
    """Real values per kind of path parameter: (label, value)."""
    from sqlalchemy import func, select

    from crmhub.store import Store
    from crmhub.store.tables import (
        Alert,
        Approval,
        AuditLog,
        DeadLetter,
        GoldenClient,
        ReviewItem,
        RiskAssessmentRow,
        SyncRun,
    )

    store = Store.open(target.url, var_dir=target.home / "var", migrate=False)
    out: dict[str, list[tuple[str, str]]] = {}
    with store.begin() as s:

        def middle(column: Any) -> str | None:
            total = s.scalar(select(func.count(column))) or 0
            found = s.scalar(select(column).order_by(column).offset(total // 2).limit(1))
            return None if found is None else str(found)

        client = s.scalar(
            select(Alert.client_id).where(Alert.client_id >= target.clients // 2).order_by(Alert.client_id).limit(1)
        ) or middle(GoldenClient.id)
        out["client"] = [("client with an alert", str(client))]
        last_run = s.scalar(select(func.max(SyncRun.id)))
        out["run"] = [("full sync", "1"), ("latest run", str(last_run))]
        for key, column in (
            ("alert", Alert.id),
            ("review", ReviewItem.id),
            ("approval", Approval.id),
            ("deadletter", DeadLetter.id),
            ("audit", AuditLog.id),
            ("seq", AuditLog.seq),
            ("risk", RiskAssessmentRow.id),
        ):
            value = middle(column)
            out[key] = [("middle row", value)] if value is not None else []
    store.dispose()
    out.update(
        {
            "segment": [("high", "high")],
            "rating": [("BBB", "BBB")],
            "connector": [("zoho", "zoho")],
            "stream": [("accounts", "accounts")],
            "kind": [("structuring", "structuring")],
            "status": [("open", "open")],
            "operator": [("bench", console_data.BENCH_USER)],
            "format": [("csv", "csv")],
            "lang": [("en", "en")],
        }
    )
    return out


_PARAM_KIND = {
    "client_id": "client",
    "cid": "client",
    "other_id": "client",
    "run_id": "run",
    "alert_id": "alert",
    "item_id": "review",
    "review_id": "review",
    "approval_id": "approval",
    "dead_id": "deadletter",
    "deadletter_id": "deadletter",
    "dl_id": "deadletter",
    "entry_id": "audit",
    "audit_id": "audit",
    "seq": "seq",
    "assessment_id": "risk",
    "segment": "segment",
    "rating": "rating",
    "connector": "connector",
    "stream": "stream",
    "kind": "kind",
    "status": "status",
    "name": "operator",
    "user": "operator",
    "operator": "operator",
    "fmt": "format",
    "format": "format",
    "lang": "lang",
}
_AREA_KIND = {
    "clients": "client",
    "runs": "run",
    "alerts": "alert",
    "review": "review",
    "approvals": "approval",
    "deadletters": "deadletter",
    "audit": "audit",
    "segments": "segment",
    "risk": "risk",
}


def fill(path: str, ids: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]] | None:
    """(label, concrete path) for each way of filling ``path``'s parameters; None when one cannot be filled."""
    variants: list[tuple[str, str]] = [("", path)]
    area = path.strip("/").split("/")[0]
    for name, _conv in _params(path):
        kind = _PARAM_KIND.get(name) or (_AREA_KIND.get(area) if name in ("id", "pk", "key") else None)
        values = ids.get(kind or "", [])
        if not values:
            return None
        pattern = re.compile(r"\{" + re.escape(name) + r"(:[^}]*)?\}")
        variants = [
            (f"{label}, {vlabel}".strip(", "), pattern.sub(value, p))
            for label, p in variants
            for vlabel, value in values
        ]
    return variants


def discover() -> list[str]:
    """Every GET path of the console: the login page and each `page` route (importing the page modules)."""
    from crmhub.console import web
    from crmhub.console.app import routes

    routes()
    return ["/login", *sorted({spec.path for spec in web.SPECS if spec.method == "GET"})]


# --- measuring ----------------------------------------------------------------------------------------------
def measure(client: httpx.Client, case: Case, repeat: int, export_limit: float) -> Result:
    """One warm-up request, then ``repeat`` timed ones; an export is streamed once, no warm-up, and given up
    after ``export_limit`` seconds (status 0: the row count is what arrived by then)."""
    if not case.budget:
        return _measure_export(client, case, export_limit)
    client.get(case.url)
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(case.url)
        samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    rows = parse(response.text).rows if "html" in response.headers.get("content-type", "") else 0
    return Result(
        case.route,
        case.label,
        case.url,
        response.status_code,
        statistics.median(samples),
        p95,
        rows,
        len(response.content),
        case.budget,
        [round(x, 1) for x in samples],
    )


def _measure_export(client: httpx.Client, case: Case, limit: float) -> Result:
    started = time.perf_counter()
    size = lines = 0
    with client.stream("GET", case.url) as response:
        status = response.status_code
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
            if time.perf_counter() - started > limit:
                status = 0
                break
    ms = (time.perf_counter() - started) * 1000
    return Result(case.route, case.label, case.url, status, ms, ms, max(0, lines - 1), size, False, [round(ms, 1)])


class Walker:
    """Turns routes into requests, remembering every link the pages show (a drill-down that needs a query, like
    a run's records, is requested the way the page links to it)."""

    def __init__(self, client: httpx.Client, anonymous: httpx.Client, ids: dict[str, list[tuple[str, str]]]) -> None:
        self.client, self.anonymous, self.ids = client, anonymous, ids
        self.links: list[str] = []

    def _get(self, url: str) -> tuple[httpx.Response, _Page]:
        response = self.client.get(url)
        page = parse(response.text) if "html" in response.headers.get("content-type", "") else _Page()
        self.links.extend(link for link in page.links if link not in self.links)
        return response, page

    def cases(self, path: str) -> list[tuple[httpx.Client, Case]]:
        """The requests that cover one route (see the module docstring)."""
        area = path.strip("/").split("/")[0]
        if path == "/login":
            return [(self.anonymous, Case(path, "form", path))]
        if path.endswith("/export"):  # not a page: the list's export, measured once with a filter
            query = {**GUESSED.get(area, {}), "format": "csv"}
            return [(self.client, Case(path, f"export, {_shown(query)}", f"{path}?{urlencode(query)}", False))]
        if _params(path):
            return self._detail(path)
        out: list[tuple[httpx.Client, Case]] = [(self.client, Case(path, "first page", path))]
        _, page = self._get(path)
        queries = filters_of(page)
        guessed = not queries
        if guessed and area in GUESSED:
            queries = [GUESSED[area]]
        export = None
        for query in queries:
            url = f"{path}?{urlencode(query)}"
            out.append((self.client, Case(path, _shown(query) + (" (guessed)" if guessed else ""), url)))
            _, filtered = self._get(url)
            export = export or next(iter(filtered.exports), None)
        if page.more:
            out.append((self.client, Case(path, "page 500 (or last)", f"{path}?page=500")))
        if export:
            out.append((self.client, Case(path, "CSV export of the filter", export, budget=False)))
        return out

    def _detail(self, path: str) -> list[tuple[httpx.Client, Case]]:
        from starlette.routing import compile_path

        filled = fill(path, self.ids)
        if filled is None:
            print(f"  skipped {path}: no value for {', '.join(n for n, _ in _params(path))}")
            return []
        regex = compile_path(path)[0]
        out: list[tuple[httpx.Client, Case]] = []
        for label, url in filled:
            response, page = self._get(url)
            if response.status_code >= 400:  # wants a query: take the links the pages show for this id
                linked = [link for link in self.links if link.split("?")[0] == url and "?" in link][:3]
                if not linked:
                    linked = [link for link in self.links if regex.match(link.split("?")[0])][:1]
                for link in linked:
                    response, page = self._get(link)
                    shown = f"{label}, link ?{link.partition('?')[2]}"
                    out.append((self.client, Case(path, shown, link)))
                    if page.more:
                        out.append((self.client, Case(path, f"{shown}, page 500", f"{link}&page=500")))
                if linked:
                    continue
            out.append((self.client, Case(path, label, url)))
            if page.more:
                out.append((self.client, Case(path, f"{label}, page 500", f"{url}?page=500")))
        return out


def run_target(target: Target, repeat: int, export_limit: float) -> tuple[list[Result], float | None]:
    server = start_server(target)
    try:
        client, anonymous = login(server.base), httpx.Client(base_url=server.base, timeout=300)
        walker = Walker(client, anonymous, resolve_ids(target))
        results = []
        for path in sorted(discover(), key=lambda p: (bool(_params(p)), p.count("/"), p)):
            for who, case in walker.cases(path):
                try:
                    results.append(measure(who, case, repeat, export_limit))
                except httpx.HTTPError as exc:  # a crash or a timeout is a result too, not the end of the run
                    results.append(
                        Result(
                            case.route,
                            case.label,
                            case.url,
                            -1,
                            0.0,
                            0.0,
                            0,
                            0,
                            case.budget,
                            error=f"{type(exc).__name__}: {exc}"[:200],
                        )
                    )
                r = results[-1]
                print(f"  {r.median_ms:8.1f} ms  {r.status}  {r.url}", flush=True)
        peak = server.peak_mib()
    finally:
        server.stop()
    return results, peak


# --- report ---------------------------------------------------------------------------------------------------
def print_table(main: list[Result], base: dict[str, Result], budget: float, clients: int, baseline: int) -> None:
    head = (
        f"{'route':<26} {'query':<28} {'median':>8} {'p95':>8} {'rows':>5} {'bytes':>9} "
        f"{'base med':>8} {'ratio':>6}  verdict"
    )
    print(f"\n{clients:,} clients (times in ms; ratio = median at {clients:,} / median at {baseline:,})")
    print(head)
    print("-" * len(head))
    for r in main:
        b = base.get(_key(r))
        ratio = f"{r.median_ms / b.median_ms:6.1f}" if b and b.median_ms > 0 else "     —"
        if not r.budget:
            verdict = (
                "export (no budget)"
                if r.status == 200
                else "export given up (--export-limit)"
                if r.status == 0
                else f"export failed (HTTP {r.status})"
            )
        elif r.error:
            verdict = f"FAIL ({r.error})"
        elif r.status >= 400:
            verdict = f"FAIL (HTTP {r.status})"
        else:
            verdict = "PASS" if r.p95_ms < budget else "FAIL"
        query = r.label[:27] if len(r.label) <= 27 else r.label[:26] + "…"
        print(
            f"{r.route:<26} {query:<28} {r.median_ms:8.1f} {r.p95_ms:8.1f} {r.rows:>5} {r.bytes:>9,} "
            f"{(f'{b.median_ms:8.1f}' if b else '       —')} {ratio}  {verdict}"
        )


def _key(r: Result) -> str:
    return f"{r.route}|{r.label}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000, help="clients of the baseline store (0: none)")
    parser.add_argument("--reuse", action="store_true", help="reuse stores of the same size built earlier")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench-console"))
    parser.add_argument("--db", help="a PostgreSQL URL (the stores go into schemas; default: SQLite files)")
    parser.add_argument("--schema", default="bench_console", help="schema name prefix on PostgreSQL")
    parser.add_argument("--repeat", type=int, default=7, help="timed requests per page (after one warm-up)")
    parser.add_argument("--budget-ms", type=float, default=1000.0)
    parser.add_argument("--export-limit", type=float, default=120.0, help="seconds before an export is given up")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes making the rows")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # progress shows up in a log file
    sizes = [n for n in (args.baseline, args.clients) if n]
    targets = {n: prepare(n, args) for n in sizes}
    measured: dict[int, list[Result]] = {}
    peaks: dict[int, float | None] = {}
    for n, target in targets.items():
        print(f"\nmeasuring the {n:,}-client store (real uvicorn on loopback: `crmhub console`, one process)")
        measured[n], peaks[n] = run_target(target, args.repeat, args.export_limit)
    main_results = measured[args.clients]
    base = {_key(r): r for r in measured.get(args.baseline, [])} if args.baseline else {}
    print_table(main_results, base, args.budget_ms, args.clients, args.baseline or 1)
    for n in sizes:
        peak = peaks[n]
        print(
            f"console process peak RSS at {n:,} clients: {peak:,.0f} MiB"
            if peak
            else f"console process peak RSS at {n:,} clients: unknown (no /proc)"
        )
    print(f"benchmark process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    pages = [r for r in main_results if r.budget]
    failed = [r for r in pages if r.error or r.status >= 400 or r.p95_ms >= args.budget_ms]
    print(f"{len(pages) - len(failed)} of {len(pages)} page requests within {args.budget_ms:,.0f} ms (p95)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "clients": args.clients,
                    "baseline": args.baseline,
                    "results": {n: [asdict(r) for r in rs] for n, rs in measured.items()},
                    "peak_mib": peaks,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    if pages:
        worst = max(pages, key=lambda r: r.p95_ms)
        print(
            f"slowest page: {worst.p95_ms:,.0f} ms p95, {worst.median_ms:,.0f} ms median "
            f"(GET {worst.url}, {args.clients:,} clients)"
        )
    else:
        print("slowest page: none measured")


if __name__ == "__main__":
    main()
