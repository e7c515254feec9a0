"""Search criteria and COQL for the simulator: parsers and evaluators for the basic, documented forms.

Search: ``((Field:operator:value)and(Field:operator:value))`` with backslash escapes, where ``equals`` on text is
a *word match* (``ABC`` also finds ``ABC Inc``, fact sheet §5). COQL: ``select … from M [where …] [order by …]
[limit [offset,] n | limit n offset m]`` with comparisons, ``like``, ``in``, ``between``, ``is [not] null`` and
``COUNT(…)``; more than two conditions must be grouped in pairs (Kaizen #171), ``limit`` ≤ 2,000, ≤ 50 fields.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from crmhub_zoho.simulator.fields import FieldDef, ModuleDef

Predicate = Callable[[dict[str, Any]], bool]


@lru_cache(maxsize=1 << 18)
def dt_epoch(text: str) -> float:
    """Epoch seconds of a Zoho datetime text; cached, since every scan compares the same stored strings."""
    return datetime.fromisoformat(text).timestamp()


class QueryError(ValueError):
    """A criteria or COQL error; ``code`` and ``details`` become the Zoho error envelope."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}


# --- value comparison ------------------------------------------------------------------------------------------


def _scalar(rec: dict[str, Any], name: str) -> Any:
    base, _, sub = name.partition(".")
    value = rec.get(base)
    if isinstance(value, dict):
        return value.get(sub or "id")
    return value


def _coerce(fd: FieldDef | None, raw: Any) -> Any:
    """A literal in the type of the field it is compared with (datetimes → epoch, numbers → float)."""
    if raw is None:
        return None
    if fd is not None and fd.data_type == "datetime":
        try:
            return datetime.fromisoformat(str(raw)).timestamp()
        except ValueError:
            raise QueryError(
                "INVALID_QUERY", f"value {raw!r} is not a datetime with offset", {"api_name": fd.api_name}
            ) from None
    if fd is not None and fd.data_type in ("integer", "double", "currency", "bigint"):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise QueryError("INVALID_QUERY", f"value {raw!r} is not a number", {"api_name": fd.api_name}) from None
    if fd is not None and fd.data_type == "boolean":
        return str(raw).lower() == "true"
    if fd is not None and fd.data_type in ("lookup", "ownerlookup"):
        return str(raw)
    return str(raw).casefold()


_WORD_SPLIT = re.compile(r"[\s,.;:()（）\-_/]+")


def word_match(haystack: str, needle: str) -> bool:
    """Zoho search ``equals`` on text: whole value, or the needle's words as a run of the value's words, or a
    prefix of an unspaced (CJK) value."""
    h, n = haystack.casefold().strip(), needle.casefold().strip()
    if not n:
        return False
    if h == n or h.startswith(n):
        return True
    hw, nw = [w for w in _WORD_SPLIT.split(h) if w], [w for w in _WORD_SPLIT.split(n) if w]
    return any(hw[i : i + len(nw)] == nw for i in range(len(hw) - len(nw) + 1)) if nw else False


def _compare(fd: FieldDef | None, name: str, op: str, literal: Any, *, word: bool) -> Predicate:
    is_dt = fd is not None and fd.data_type == "datetime"
    is_num = fd is not None and fd.data_type in ("integer", "double", "currency", "bigint")

    def value_of(rec: dict[str, Any]) -> Any:
        v = _scalar(rec, name)
        if v is None:
            return None
        if is_dt:
            return dt_epoch(v)
        if is_num:
            return float(v)
        if isinstance(v, bool):
            return v
        return str(v).casefold() if not isinstance(v, (int, float)) else str(v)

    if op in ("equals", "="):
        if word and not (is_dt or is_num):
            return lambda r: (v := _scalar(r, name)) is not None and word_match(str(v), str(literal))
        return lambda r: value_of(r) == literal
    if op in ("not_equal", "!=", "<>"):
        return lambda r: value_of(r) != literal
    if op == "starts_with":
        return lambda r: (v := value_of(r)) is not None and str(v).startswith(str(literal))
    if op == "like":
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in str(literal).split("%")) + "$", re.S)
        return lambda r: (v := value_of(r)) is not None and bool(pattern.match(str(v)))
    ordering = {"greater_than": ">", "greater_equal": ">=", "less_than": "<", "less_equal": "<="}.get(op, op)
    if ordering in (">", ">=", "<", "<="):
        cmp: Callable[[Any, Any], bool] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}[
            ordering
        ]
        return lambda r: (v := value_of(r)) is not None and cmp(v, literal)
    raise QueryError("INVALID_QUERY", f"operator {op!r} is not supported", {"operator": op})


# --- search criteria -------------------------------------------------------------------------------------------

_SEARCH_OPS = (
    "equals",
    "not_equal",
    "starts_with",
    "in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
)


def parse_criteria(text: str, module: ModuleDef) -> Predicate:
    """Parse ``((A:op:v)and(B:op:v))`` into a predicate; at most 10 conditions."""
    pos = 0
    count = 0

    def fail(msg: str) -> QueryError:
        return QueryError("INVALID_QUERY", f"invalid criteria: {msg}", {"reason": msg, "position": pos})

    def expr() -> Predicate:
        nonlocal pos, count
        if pos >= len(text) or text[pos] != "(":
            raise fail("expected '('")
        if pos + 1 < len(text) and text[pos + 1] == "(":
            pos += 1
            parts = [expr()]
            joins: list[str] = []
            while True:
                if text.startswith("and", pos) or text.startswith("or", pos):
                    join = "and" if text.startswith("and", pos) else "or"
                    pos += len(join)
                    joins.append(join)
                    parts.append(expr())
                elif pos < len(text) and text[pos] == ")":
                    pos += 1
                    break
                else:
                    raise fail("expected 'and', 'or' or ')'")
            pred = parts[0]
            for join, nxt in zip(joins, parts[1:], strict=True):
                pred = _and(pred, nxt) if join == "and" else _or(pred, nxt)
            return pred
        pos += 1
        buf: list[str] = []
        while pos < len(text) and text[pos] != ")":
            if text[pos] == "\\" and pos + 1 < len(text):
                buf.append("\\" + text[pos + 1])
                pos += 2
                continue
            buf.append(text[pos])
            pos += 1
        if pos >= len(text):
            raise fail("missing ')'")
        pos += 1
        count += 1
        return _condition("".join(buf))

    def _condition(body: str) -> Predicate:
        name, sep1, rest = body.partition(":")
        op, sep2, raw = rest.partition(":")
        if not sep1 or not sep2:
            raise fail(f"condition {body!r} is not Field:operator:value")
        if op not in _SEARCH_OPS:
            raise QueryError(
                "INVALID_QUERY",
                f"operator {op!r} is not supported in search",
                {"operator": op, "supported": list(_SEARCH_OPS)},
            )
        fd = module.by_name.get(name.partition(".")[0])
        if fd is None and name != "id":
            raise QueryError("INVALID_QUERY", f"field {name!r} is not in {module.api_name}", {"api_name": name})
        values = [_unescape(v) for v in _split_unescaped(raw)]
        if op == "in":
            wanted = {_coerce(fd, v) for v in values}
            return lambda r: _norm(fd, _scalar(r, name)) in wanted
        if op == "between":
            if len(values) != 2:
                raise fail("between needs two values")
            lo, hi = _coerce(fd, values[0]), _coerce(fd, values[1])
            ge, le = _compare(fd, name, ">=", lo, word=False), _compare(fd, name, "<=", hi, word=False)
            return lambda r: ge(r) and le(r)
        return _compare(fd, name, op, _coerce(fd, _unescape(raw)), word=True)

    pred = expr()
    if pos != len(text):
        raise fail("unexpected text after the criteria")
    if count > 10:
        raise QueryError("LIMIT_EXCEEDED", "a search takes at most 10 criteria", {"limit": 10})
    return pred


def _norm(fd: FieldDef | None, v: Any) -> Any:
    try:
        return _coerce(fd, v)
    except QueryError:
        return None


def _split_unescaped(raw: str) -> list[str]:
    parts, buf, i = [], [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            buf.append(raw[i : i + 2])
            i += 2
            continue
        if raw[i] == ",":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(raw[i])
        i += 1
    parts.append("".join(buf))
    return parts


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw)


def _and(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) and b(r)


def _or(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) or b(r)


# --- COQL ------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|!=|<>|=|>|<)
                     |(?P<punct>[(),*])|(?P<word>[A-Za-z_$][\w$.]*))""",
    re.X,
)
_AGGREGATES = ("count", "max", "min", "sum", "avg")


@dataclass(slots=True)
class Coql:
    """A parsed COQL query."""

    module: ModuleDef
    fields: list[str]
    aggregates: list[tuple[str, str]] = field(default_factory=list)
    where: Predicate | None = None
    modified_floor: float | None = None
    floor_only: bool = False
    order: list[tuple[str, bool]] = field(default_factory=list)
    offset: int = 0
    limit: int = 200


def parse_coql(text: str, modules: dict[str, ModuleDef]) -> Coql:
    """Parse a select query; raise `QueryError` with Zoho's codes (SYNTAX_ERROR, INVALID_QUERY, LIMIT_EXCEEDED)."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise QueryError(
                "SYNTAX_ERROR",
                "error at or near the given position",
                {"line": 1, "column": pos + 1, "near": text[pos : pos + 10]},
            )
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    i = 0

    def peek(word: str | None = None) -> str | None:
        if i >= len(tokens):
            return None
        value = tokens[i][1]
        if word is None:
            return value
        return value if value.lower() == word else None

    def take(word: str | None = None) -> str:
        nonlocal i
        if i >= len(tokens) or (word is not None and tokens[i][1].lower() != word):
            near = tokens[i][1] if i < len(tokens) else "end of query"
            column = tokens[i][2] + 1 if i < len(tokens) else len(text)
            raise QueryError(
                "SYNTAX_ERROR",
                "error at or near the given position",
                {"line": 1, "column": column, "near": near, "expected": word},
            )
        i += 1
        return tokens[i - 1][1]

    take("select")
    items: list[str] = []
    aggregates: list[tuple[str, str]] = []
    while True:
        word = take()
        if word.lower() in _AGGREGATES and peek() == "(":
            take("(")
            inner = take()
            take(")")
            aggregates.append((word.upper(), inner))
        else:
            items.append(word)
        if peek() != ",":
            break
        take(",")
    take("from")
    module_name = take()
    module = modules.get(module_name) or next((m for n, m in modules.items() if n.lower() == module_name.lower()), None)
    if module is None:
        raise QueryError("INVALID_QUERY", "invalid module given", {"module": module_name})
    if len(items) > 50:
        raise QueryError("LIMIT_EXCEEDED", "at most 50 fields can be selected", {"limit": 50, "by": "select"})
    for name in items + [a[1] for a in aggregates]:
        if name not in {"id", "*"} and name.partition(".")[0] not in module.by_name:
            raise QueryError(
                "INVALID_QUERY", "column given seems to be invalid", {"column_name": name, "clause": "select"}
            )
    query = Coql(module, items, aggregates)

    def value() -> Any:
        word = take()
        if word.startswith("'"):
            return word[1:-1].replace("''", "'").replace("\\'", "'")
        if word.lower() == "null":
            return None
        return word

    Cond = tuple[Predicate, float | None]

    def comparison() -> Cond:
        name = take()
        fd = module.by_name.get(name.partition(".")[0])
        if fd is None and name != "id":
            raise QueryError(
                "INVALID_QUERY", "column given seems to be invalid", {"column_name": name, "clause": "where"}
            )
        negate = False
        if peek("not"):
            take("not")
            negate = True
        word = (peek() or "").lower()
        floor: float | None = None
        if word == "is":
            take()
            is_not = bool(peek("not")) and take("not") == "not"
            take("null")
            if is_not:
                return (lambda r: _scalar(r, name) is not None), None
            return (lambda r: _scalar(r, name) is None), None
        if word == "in":
            take()
            take("(")
            wanted = [value()]
            while peek() == ",":
                take(",")
                wanted.append(value())
            take(")")
            norm = {_coerce(fd, v) for v in wanted}
            pred: Predicate = lambda r: _norm(fd, _scalar(r, name)) in norm  # noqa: E731
        elif word == "between":
            take()
            lo = _coerce(fd, value())
            take("and")
            hi = _coerce(fd, value())
            ge, le = _compare(fd, name, ">=", lo, word=False), _compare(fd, name, "<=", hi, word=False)
            pred = lambda r: ge(r) and le(r)  # noqa: E731
            if name == "Modified_Time":
                floor = float(lo)
        elif word == "like":
            take()
            pred = _compare(fd, name, "like", str(value()).casefold(), word=False)
        else:
            op = take()
            if op not in ("=", "!=", "<>", ">", ">=", "<", "<="):
                raise QueryError(
                    "SYNTAX_ERROR",
                    "error at or near the given position",
                    {"line": 1, "column": tokens[i - 1][2] + 1, "near": op},
                )
            literal = _coerce(fd, value())
            if name == "Modified_Time" and op in (">", ">=", "="):
                floor = float(literal)
            pred = _compare(fd, name, op, literal, word=False)
        if negate:
            return (lambda r: not pred(r)), None
        return pred, floor

    def condition() -> Cond:
        parts = [factor()]
        joins: list[str] = []
        while (peek() or "").lower() in ("and", "or"):
            joins.append(take().lower())
            parts.append(factor())
        if len(parts) > 2:
            raise QueryError(
                "SYNTAX_ERROR",
                "more than two conditions must be grouped in pairs with parentheses",
                {"clause": "where", "line": 1, "column": tokens[i - 1][2] + 1},
            )
        pred, floor = parts[0]
        for join, (nxt, nxt_floor) in zip(joins, parts[1:], strict=True):
            if join == "and":
                pred = _and(pred, nxt)
                floor = max((f for f in (floor, nxt_floor) if f is not None), default=None)
            else:
                pred = _or(pred, nxt)
                floor = min(floor, nxt_floor) if floor is not None and nxt_floor is not None else None
        return pred, floor

    def factor() -> Cond:
        if peek() == "(":
            take("(")
            inner = condition()
            take(")")
            return inner
        return comparison()

    if peek("where"):
        take("where")
        before = i
        query.where, query.modified_floor = condition()
        query.floor_only = i - before == 3 and tokens[before][1] == "Modified_Time" and tokens[before + 1][1] == ">="
    if peek("order"):
        take("order")
        take("by")
        while True:
            name = take()
            if name != "id" and name not in module.by_name:
                raise QueryError(
                    "INVALID_QUERY", "column given seems to be invalid", {"column_name": name, "clause": "order by"}
                )
            descending = False
            if (peek() or "").lower() in ("asc", "desc"):
                descending = take().lower() == "desc"
            query.order.append((name, descending))
            if peek() != ",":
                break
            take(",")
    if peek("limit"):
        take("limit")
        first = int(take())
        if peek() == ",":
            take(",")
            query.offset, query.limit = first, int(take())
        else:
            query.limit = first
            if peek("offset"):
                take("offset")
                query.offset = int(take())
    if i != len(tokens):
        raise QueryError(
            "SYNTAX_ERROR",
            "error at or near the given position",
            {"line": 1, "column": tokens[i][2] + 1, "near": tokens[i][1]},
        )
    if query.limit > 2000:
        raise QueryError("LIMIT_EXCEEDED", "limit exceeded", {"by": "limit", "limit": 2000})
    return query
