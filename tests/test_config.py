"""Configuration loading: the example is valid; every mistake is named by key path, without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import HttpUrl, SecretStr

from crmhub import CheckResult, Connector, ConnectorConfig, hookimpl
from crmhub.config import load_settings, parse_settings
from crmhub.errors import ConfigError
from crmhub.plugins import load


class DemoConfig(ConnectorConfig):
    """A connector config with the usual kinds of keys."""

    accounts_url: HttpUrl
    client_id: str
    client_secret: SecretStr


class DemoConnector(Connector[DemoConfig]):
    """Minimal connector for config tests."""

    config_model: ClassVar[type[ConnectorConfig]] = DemoConfig

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, message="ok")

    def pull(self, stream: str, cursor: Any, *, since: Any = None) -> Any:
        raise NotImplementedError


class DemoPlugin:
    """Registers DemoConnector as plugin key 'demo'."""

    @hookimpl
    def crmhub_register_connectors(self) -> dict[str, type[Connector[Any]]]:
        return {"demo": DemoConnector}


@pytest.fixture
def registry() -> Any:
    return load(extra=[("demo", DemoPlugin())])


def _problems(data: dict[str, Any], registry: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(data, registry, source="t.toml")
    found: dict[str, str] = {}
    for key, msg in info.value.problems:
        found.setdefault(key, msg)
    return found


def test_minimal_config_is_valid(registry: Any) -> None:
    """A file with only the stable keys works; defaults fill the rest."""
    settings = parse_settings(
        {
            "store": {"url": "sqlite:///var/x.db"},
            "connectors": {
                "z": {
                    "plugin": "demo",
                    "accounts_url": "https://accounts.zoho.com.cn",
                    "client_id": "a",
                    "client_secret": "zz-very-secret",
                }
            },
        },
        registry,
    )
    cfg = settings.connectors["z"]
    assert isinstance(cfg, DemoConfig) and cfg.client_secret.get_secret_value() == "zz-very-secret"
    assert "zz-very-secret" not in repr(cfg) and "zz-very-secret" not in str(settings)


def test_misspelt_key_names_path_and_suggests(registry: Any) -> None:
    """An unknown key is reported with its path and a did-you-mean hint."""
    problems = _problems(
        {
            "connectors": {
                "zoho": {"plugin": "demo", "acounts_url": "https://a.example", "client_id": "a", "client_secret": "s"}
            }
        },
        registry,
    )
    assert problems["connectors.zoho.acounts_url"] == "unknown key; did you mean 'accounts_url'?"
    assert problems["connectors.zoho.accounts_url"] == "required key is missing"


def test_malformed_url_names_the_key(registry: Any) -> None:
    """A malformed URL names the key and what was expected."""
    problems = _problems(
        {
            "connectors": {
                "zoho": {"plugin": "demo", "accounts_url": "not a url", "client_id": "a", "client_secret": "s"}
            }
        },
        registry,
    )
    assert "expected a URL" in problems["connectors.zoho.accounts_url"]


def test_secrets_are_never_echoed(registry: Any) -> None:
    """A bad secret value is not repeated in the message."""
    problems = _problems(
        {
            "connectors": {
                "zoho": {
                    "plugin": "demo",
                    "accounts_url": "https://a.example",
                    "client_id": "a",
                    "client_secret": ["hunter2"],
                }
            }
        },
        registry,
    )
    assert "hunter2" not in problems["connectors.zoho.client_secret"]


def test_unknown_plugin_and_section_keys(registry: Any) -> None:
    """Unknown plugin names and top-level typos are both reported, all at once."""
    problems = _problems({"stroe": {}, "connectors": {"x": {"plugin": "dmeo"}}}, registry)
    assert problems["stroe"] == "unknown key; did you mean 'store'?"
    assert "did you mean 'demo'?" in problems["connectors.x.plugin"]


def test_env_interpolation(registry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR} and ${VAR:-default} are interpolated; an unset variable without default is an error."""
    monkeypatch.setenv("DEMO_SECRET", "from-env")
    monkeypatch.delenv("DEMO_MISSING", raising=False)
    settings = parse_settings(
        {
            "connectors": {
                "z": {
                    "plugin": "demo",
                    "accounts_url": "${DEMO_URL:-https://a.cn}",
                    "client_id": "a",
                    "client_secret": "${DEMO_SECRET}",
                }
            }
        },
        registry,
    )
    cfg = settings.connectors["z"]
    assert isinstance(cfg, DemoConfig)
    assert cfg.client_secret.get_secret_value() == "from-env" and str(cfg.accounts_url) == "https://a.cn/"
    problems = _problems({"store": {"url": "${DEMO_MISSING}"}}, registry)
    assert "DEMO_MISSING is not set" in problems["store.url"]


def test_bad_toml_and_missing_file(tmp_path: Path, registry: Any) -> None:
    """Syntax errors and missing files are ConfigErrors naming the file."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\nurl = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_settings(bad, registry)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", registry)


def test_shipped_example_equals_packaged_starter() -> None:
    """config/crmhub.toml and the starter written by `crmhub init` are the same text."""
    root = Path(__file__).resolve().parents[1]
    packaged = root / "src/crmhub/data/crmhub.example.toml"
    assert (root / "config/crmhub.toml").read_text(encoding="utf-8") == packaged.read_text(encoding="utf-8")


def test_internal_ratings_are_not_written_back_by_default() -> None:
    """Issue 13 item 11: neither the default nor the shipped config writes rating or segment to a SaaS CRM."""
    import tomllib

    from crmhub.contract import WriteBack

    assert WriteBack().fields == ["uscc"]
    root = Path(__file__).resolve().parents[1]
    shipped = tomllib.loads((root / "config/crmhub.toml").read_text(encoding="utf-8"))
    for name, connector in shipped["connectors"].items():
        fields = connector.get("write_back", {}).get("fields", WriteBack().fields)
        assert "risk" not in fields, name
