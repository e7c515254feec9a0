"""No secret or personal data leaks: masked database passwords, private files, literal ``$${``, empty secrets.

Original breaks: ``config check`` printed ``postgresql://crmhub:<password>@…``; the store, the secret key and the
crash logs were created 0644 (readable by every account, with plaintext personal data in the store); ``${`` could
not be written literally; ``client_secret = ""`` passed ``config check`` and failed later as an auth error.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from tests.runs.helpers import crmhub, registry

from crmhub.config import parse_settings
from crmhub.errors import ConfigError
from crmhub.jobs.joblog import JsonLineFormatter
from crmhub.masking import mask_text, mask_url
from crmhub.store import Store
from crmhub.store.secrets import StoreTokenCache

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

PASSWORD = "S3cr3t-pa55"
PG_URL = f"postgresql+psycopg://crmhub:{PASSWORD}@127.0.0.1:1/crmhub"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_check_and_db_upgrade_mask_the_database_password(tmp_path: Path) -> None:
    config = tmp_path / "crmhub.toml"
    config.write_text(f'[store]\nurl = "{PG_URL}"\n', encoding="utf-8")
    checked = crmhub("config", "check", "-c", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert PASSWORD not in checked.stdout + checked.stderr
    assert "crmhub:***@127.0.0.1" in checked.stdout
    upgraded = crmhub("db", "upgrade", "-c", str(config), cwd=tmp_path)  # nothing listens on port 1
    assert upgraded.returncode != 0 and "Traceback" not in upgraded.stderr
    assert PASSWORD not in upgraded.stdout + upgraded.stderr


def test_masking_helpers_cover_urls_in_text_and_logs() -> None:
    text = f"cannot open {PG_URL} (and redis://:{PASSWORD}@cache:6379/0)"
    assert PASSWORD not in mask_url(text) and PASSWORD not in mask_text(text)
    assert mask_url("https://example.com/a:b@c") == "https://example.com/a:b@c"  # no userinfo: untouched
    record = logging.LogRecord("crmhub.jobs", logging.WARNING, __file__, 1, "store %s down", (PG_URL,), None)
    assert PASSWORD not in JsonLineFormatter().format(record)


def test_store_key_and_logs_are_private(tmp_path: Path) -> None:
    """Created 0600 in 0700 folders whatever the umask; a 0644 file from an older version is tightened."""
    old = os.umask(0o022)
    try:
        home = tmp_path / "home"
        store = Store.open(f"sqlite:///{home / 'var' / 'crmhub.db'}", var_dir=home / "var")
        try:
            StoreTokenCache(store).save("k", "token-value", 4102444800.0, None)  # creates var/secret.key
        finally:
            store.dispose()
        var = home / "var"
        assert _mode(var) == 0o700
        for name in ("crmhub.db", "crmhub.db-wal", "crmhub.db-shm", "secret.key"):
            if (var / name).exists():
                assert _mode(var / name) == 0o600, name
        assert (var / "crmhub.db").exists() and (var / "secret.key").exists()

        legacy = tmp_path / "legacy.db"
        legacy.touch(mode=0o644)
        os.chmod(legacy, 0o644)
        Store.open(f"sqlite:///{legacy}").dispose()
        assert _mode(legacy) == 0o600
    finally:
        os.umask(old)


def test_crash_log_is_private(tmp_path: Path) -> None:
    (tmp_path / "crmhub.toml").write_text('[store]\nurl = "sqlite:///var/crmhub.db"\n', encoding="utf-8")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "crmhub.db").write_bytes(b"not a database" * 200)  # an unexpected error: exit 70
    out = crmhub("clients", "list", "-c", str(tmp_path / "crmhub.toml"), cwd=tmp_path)
    assert out.returncode == 70, out.stderr
    logs = list((tmp_path / "var" / "log").glob("crmhub-error-*.log"))
    assert len(logs) == 1 and _mode(logs[0]) == 0o600 and _mode(logs[0].parent) == 0o700


def test_dollar_dollar_brace_is_a_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_T_NAME", "ops")
    settings = parse_settings({"report": {"dir": "out/$${CRMHUB_T_NAME}/${CRMHUB_T_NAME}"}}, registry())
    assert settings.report.dir == "out/${CRMHUB_T_NAME}/ops"


ZOHO = {
    "plugin": "zoho_crm",
    "client_id": "1000.ABC",
    "client_secret": "x",
    "refresh_token": "y",
    "accounts_url": "http://127.0.0.1:1",
}


@pytest.mark.parametrize("secret", ["", "   ", "${CRMHUB_T_EMPTY}"])
def test_an_empty_secret_is_a_config_problem_naming_the_key(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_T_EMPTY", "")
    with pytest.raises(ConfigError) as err:
        parse_settings({"connectors": {"zoho": {**ZOHO, "client_secret": secret}}}, registry())
    assert [k for k, _ in err.value.problems] == ["connectors.zoho.client_secret"]
    assert any(word in err.value.problems[0][1] for word in ("empty", "为空"))


def test_config_check_names_the_empty_secret(tmp_path: Path) -> None:
    lines = [f'{k} = "{v}"' for k, v in {**ZOHO, "client_secret": ""}.items()]
    (tmp_path / "crmhub.toml").write_text("[connectors.zoho]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    out = crmhub("config", "check", "-c", str(tmp_path / "crmhub.toml"), cwd=tmp_path)
    assert out.returncode == 2 and "connectors.zoho.client_secret" in out.stderr and "empty" in out.stderr
