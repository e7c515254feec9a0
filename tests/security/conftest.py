"""A store with named operators, and the CLI run as a user runs it (``crmhub.cli.main``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmhub.cli import main
from crmhub.i18n import set_lang
from crmhub.security import operators
from crmhub.store import Store
from crmhub.store.tables import Alert, ReviewItem

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """The store as the configuration below opens it: same ``var`` folder, so the fixture's audit entries and the
    CLI's are keyed with the same secret key and the chain verifies end to end."""
    s = Store.open(store_url, var_dir=tmp_path / "var")
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "crmhub.toml"
    path.write_text(f'lang = "en"\n[store]\nurl = "{store_url}"\n', encoding="utf-8")
    return str(path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from crmhub.cli.common import console, err_console

    monkeypatch.setattr(console, "width", 300)
    monkeypatch.setattr(err_console, "width", 300)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        finally:
            set_lang(None)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def people(store: Store) -> Store:
    """admin, maker (operator), checker (approver), both (operator+approver), viewer, two AML officers."""
    with store.begin() as s:
        for name, roles in (
            ("admin", ["admin"]),
            ("maker", ["operator"]),
            ("checker", ["approver"]),
            ("both", ["operator", "approver"]),
            ("viewer", ["viewer"]),
            ("aml1", ["aml_officer"]),
            ("aml2", ["aml_officer"]),
        ):
            operators.add(s, name, roles, display_name=None, actor="test")
    return store


def review_item(store: Store, key: str = "t1") -> int:
    with store.begin() as s:
        item = ReviewItem(
            kind="conflict",
            status="open",
            dedup_key=key,
            client_id=None,
            field="phone",
            details={},
            created_at=datetime.now(UTC),
        )
        s.add(item)
        s.flush()
        return item.id


def alert(store: Store) -> int:
    now = datetime.now(UTC)
    with store.begin() as s:
        row = Alert(
            uscc="91350100M000100Y43",
            kind="large_value",
            rule_version="1",
            status="new",
            dedup_key="a1",
            evidence={"summary_en": "big", "summary_zh": "大额"},
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        return row.id
