"""List commands say when `--limit` cut them and give everything on `--all` / `--limit 0`; text that looks like rich
markup (``[connectors.fxiaoke]``) is printed as it is (issue #14 item 12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmhub.cli import main
from crmhub.i18n import set_lang
from crmhub.store import Store
from crmhub.store.tables import DeadLetter, GoldenClient, ReviewItem

MARKUP = "[connectors.fxiaoke]"


@pytest.fixture(autouse=True)
def _default_lang() -> Iterator[None]:
    """`--lang` sets the process language; put it back so later tests see the default."""
    yield
    set_lang(None)


@pytest.fixture
def config(tmp_path: Path) -> str:
    """A store with 7 golden clients, 5 open dead letters (one of each quoting a config table), 4 review items."""
    db = tmp_path / "crmhub.db"
    cfg = tmp_path / "crmhub.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    now = datetime.now(UTC)
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.begin() as s:
            s.add_all(
                [
                    GoldenClient(name=f"{MARKUP} Co {i}" if i == 0 else f"Co {i}", created_at=now, updated_at=now)
                    for i in range(7)
                ]
            )
            s.add_all(
                [
                    DeadLetter(
                        connector="fxiaoke",
                        stream="accounts",
                        source_id=f"a{i}",
                        reason=f"bad field in {MARKUP}" if i == 4 else "bad field",
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(5)
                ]
            )
            s.add_all([ReviewItem(kind="match", dedup_key=f"k{i}", score=0.5, created_at=now) for i in range(4)])
    finally:
        store.dispose()
    return str(cfg)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--lang", "en", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_clients_list_says_it_was_cut(capsys: pytest.CaptureFixture[str], config: str) -> None:
    """--limit 3 of 7: three rows, and stderr names both numbers and the way out."""
    code, out, err = run(capsys, "clients", "list", "--json", "--limit", "3", "-c", config)
    assert code == 0
    assert len(json_lines(out)) == 3
    assert "showing 3 of 7; use --limit N or --all" in err
    code, out, err = run(capsys, "clients", "list", "--limit", "3", "-c", config)
    assert code == 0 and "showing 3 of 7" in err and "showing" not in out


@pytest.mark.parametrize("whole", [["--all"], ["--limit", "0"], ["--limit", "7"]])
def test_clients_list_in_full(capsys: pytest.CaptureFixture[str], config: str, whole: list[str]) -> None:
    """--all, --limit 0 or a limit that fits: every row and no notice."""
    code, out, err = run(capsys, "clients", "list", "--json", *whole, "-c", config)
    assert code == 0
    assert len(json_lines(out)) == 7
    assert "showing" not in err


def test_deadletter_list_says_it_was_cut(capsys: pytest.CaptureFixture[str], config: str) -> None:
    """Dead letters (no total counted): the notice says there are more; --all shows all five."""
    code, out, err = run(capsys, "deadletter", "list", "--json", "--limit", "2", "-c", config)
    assert code == 0 and len(json_lines(out)) == 2
    assert "showing the first 2; there are more" in err
    code, out, err = run(capsys, "deadletter", "list", "--json", "--all", "-c", config)
    assert code == 0 and len(json_lines(out)) == 5 and "showing" not in err


def test_review_list_says_it_was_cut(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, err = run(capsys, "review", "list", "--json", "--limit", "1", "-c", config)
    assert code == 0 and len(json_lines(out)) == 1 and "showing 1 of 4" in err
    code, out, err = run(capsys, "review", "list", "--json", "--all", "-c", config)
    assert code == 0 and len(json_lines(out)) == 4 and "showing" not in err


def test_chinese_notice(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code = main(["--lang", "zh", "clients", "list", "--json", "--limit", "3", "-c", config])
    assert code == 0
    assert "仅显示 3 条，共 7 条" in capsys.readouterr().err


def test_markup_like_text_is_printed_literally(
    capsys: pytest.CaptureFixture[str], config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names and reasons containing ``[connectors.fxiaoke]`` reach the terminal whole (rich used to eat them)."""
    monkeypatch.setenv("COLUMNS", "250")
    from crmhub.cli.common import console

    monkeypatch.setattr(console, "_width", 250)
    code, out, _ = run(capsys, "clients", "list", "-c", config)
    assert code == 0 and f"{MARKUP} Co 0" in out
    code, out, _ = run(capsys, "deadletter", "list", "-c", config)
    assert code == 0 and f"bad field in {MARKUP}" in out
    code, out, _ = run(capsys, "jobs", "list", "-c", config)
    assert code == 0 and "no jobs configured ([jobs.*])" in out


def test_config_error_with_markup_like_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A config error about ``[connectors.fxiaoke]`` in a folder named like it: every bracket is printed."""
    folder = tmp_path / MARKUP
    folder.mkdir()
    cfg = folder / "bad.toml"
    cfg.write_text('[connectors.fxiaoke]\nplugin = "fxiaoke"\napp_idd = "x"\n', encoding="utf-8")
    code, _, err = run(capsys, "config", "check", "-c", str(cfg))
    assert code == 2
    flat = "".join(err.split())  # the console may wrap a long path
    assert "".join(str(cfg).split()) in flat
    assert "connectors.fxiaoke.app_idd" in flat
