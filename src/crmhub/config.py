"""Loading and validating the TOML configuration.

Every problem in a file is reported at once, each with its key path (``connectors.zoho.accounts_url``), what
was expected and, for unknown keys, a "did you mean" hint — then `ConfigError` is raised and the CLI prints it
without a traceback. ``${ENV}`` and ``${ENV:-default}`` are interpolated in string values (``$${`` is a literal
``${``); secrets are held as ``SecretStr`` by the plugin config models and never echoed back in messages, and an
empty secret (``client_secret = ""``, or a variable that expands to nothing) is a problem naming its key path —
it would otherwise only fail at the first call, as a puzzling authentication error.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from sqlalchemy.engine import make_url

from crmhub.contract import ChannelConfig, ConnectorConfig
from crmhub.errors import ConfigError
from crmhub.i18n import bilingual
from crmhub.jobs.settings import JobSettings, job_problems
from crmhub.masking import mask_url
from crmhub.notify.settings import NotifySettings
from crmhub.plugins import Registry
from crmhub.risk.settings import RiskSettings
from crmhub.store.db import DEFAULT_URL
from crmhub.sync.settings import SyncSettings

DEFAULT_PATH = Path("config/crmhub.toml")
_ENV = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_HINTS = ("secret", "password", "token", "key", "code")


class Strict(BaseModel):
    """Config sections reject unknown keys."""

    model_config = ConfigDict(extra="forbid")


class StoreSettings(Strict):
    """``[store]``: where crmhub keeps golden records, cursors, runs and the outbox."""

    url: str = Field(
        default=DEFAULT_URL,
        description=("SQLAlchemy URL; a relative sqlite path is relative to the configuration file's folder."),
    )

    @field_validator("url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        try:
            make_url(v)
        except Exception:
            raise ValueError(
                "expected a database URL like sqlite:///var/crmhub.db or postgresql+psycopg://user@host:5432/db"
            ) from None
        return v


class ReportSettings(Strict):
    """``[report]``: where HTML reports are written."""

    dir: str = Field(default="var/reports", description="Relative to the configuration file's folder.")


class FourEyesSettings(Strict):
    """``[security.four_eyes]``: which actions need a proposal by one operator and an approval by another."""

    review_decision: bool = Field(default=True, description="review accept / reject")
    client_unmerge: bool = Field(default=True, description="clients unmerge")
    client_split: bool = Field(default=True, description="clients split")
    alert_close: bool = Field(default=True, description="alerts close (with a disposition)")
    bulk_reveal: bool = Field(default=True, description="clients list --reveal")


class SecuritySettings(Strict):
    """``[security]``: who may read without being a registered operator, and the four-eyes rules."""

    open_reads: bool = Field(default=True, description="Masked read-only listings need no registered operator.")
    four_eyes: FourEyesSettings = Field(default_factory=FourEyesSettings)


class ConsoleSettings(Strict):
    """``[console]``: the operator console in the browser (``crmhub console``)."""

    host: str = Field(default="127.0.0.1", description="Address to listen on (put TLS in front for other hosts).")
    port: int = Field(default=8780, ge=0, le=65535)
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60, description="A session ends after this long idle.")
    session_hours: int = Field(default=10, ge=1, le=72, description="A session ends this long after login.")
    secure_cookie: bool = Field(
        default=True,
        description="Mark the session cookie Secure (browsers still send it "
        "to http://127.0.0.1 and localhost; anything else needs HTTPS).",
    )
    login_max_failures: int = Field(default=5, ge=1, le=100, description="Failed logins before a lockout.")
    lockout_seconds: int = Field(default=60, ge=1, le=3600, description="First lockout; each next one doubles.")
    page_size: int = Field(default=50, ge=5, le=500, description="Rows per page of every list.")


class Settings(Strict):
    """The whole configuration. Connector and channel tables are validated by their plugin's model."""

    lang: Literal["zh", "en"] | None = None
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone of times shown on screens and reports.")
    store: StoreSettings = Field(default_factory=StoreSettings)
    connectors: dict[str, ConnectorConfig] = Field(default_factory=dict)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    jobs: dict[str, JobSettings] = Field(default_factory=dict, description="Scheduled jobs ([jobs.<name>]).")
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    source: str | None = Field(default=None, exclude=True, description="The file this came from.")
    home: Path | None = Field(
        default=None, exclude=True, description="The config file's folder: relative paths are resolved against it."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @property
    def var_dir(self) -> Path:
        """Where this configuration keeps its local files (secret key, error logs, reports): ``<home>/var``."""
        return (self.home or Path()) / "var"

    def anchor(self, home: Path) -> None:
        """Resolve the relative SQLite path and ``[report].dir`` against ``home`` (the config file's folder), so
        one configuration always means one store, whatever the current directory."""
        self.home = home
        self.store.url = anchored_url(self.store.url, home)
        if not Path(self.report.dir).expanduser().is_absolute():
            self.report.dir = str(home / self.report.dir)


def anchored_url(url: str, home: Path) -> str:
    """``url`` with a relative SQLite database path made absolute under ``home``; every other URL unchanged."""
    try:
        parsed = make_url(url)
    except Exception:
        return url
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or Path(database).expanduser().is_absolute()
    ):
        return url
    return parsed.set(database=str(home / database)).render_as_string(hide_password=False)


def resolve_path(path: str | Path | None) -> Path:
    """The config file to use: ``-c``, else ``CRMHUB_CONFIG``, else ``config/crmhub.toml``."""
    if path:
        return Path(path)
    env = os.environ.get("CRMHUB_CONFIG")
    return Path(env) if env else DEFAULT_PATH


def _interpolate(value: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set (referenced as ${{{name}}})"))
            return ""

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value


def empty_secrets(model: BaseModel, where: str) -> list[tuple[str, str]]:
    """(key path, message) for every secret in ``model`` (nested models too) that is set but empty."""
    found: list[tuple[str, str]] = []
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        key = f"{where}.{name}"
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            found.append(
                (
                    key,
                    bilingual(
                        "密钥为空（若引用了环境变量，请确认该变量已设置且非空；不需要此密钥时请删除该键）",
                        "the secret is empty (if it references an environment variable, check that the variable is set "
                        "and not empty; remove the key if this service needs none)",
                    ),
                )
            )
        elif isinstance(value, BaseModel):
            found.extend(empty_secrets(value, key))
    return found


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names (and aliases) valid at ``loc`` inside ``model``, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = _model_of(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_secret(loc: tuple[str | int, ...]) -> bool:
    return any(isinstance(p, str) and any(h in p.lower() for h in _SECRET_HINTS) for p in loc)


def _describe(err: Any, model: type[BaseModel], prefix: str) -> tuple[str, str]:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    key = ".".join([prefix] + [str(p) for p in loc] if prefix else [str(p) for p in loc])
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else (f"; allowed keys: {', '.join(sorted(allowed))}" if allowed else "")
        )
        return key, f"unknown key{hint}"
    if kind == "missing":
        return key, "required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind.startswith("url"):
        message = f"expected a URL like https://host/path ({message})"
    if not _is_secret(loc) and kind not in ("missing",) and "input" in err and not isinstance(err["input"], dict):
        message += f" (got {mask_url(repr(err['input']))})"
    return key, message


def parse_settings(data: dict[str, Any], registry: Registry, *, source: str = "<config>") -> Settings:
    """Validate already-parsed TOML data; raise `ConfigError` listing every problem."""
    problems: list[tuple[str, str]] = []
    data = _interpolate(data, "", problems)
    core = {k: v for k, v in data.items() if k not in ("connectors", "channels")}
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(core)
    except ValidationError as exc:
        problems.extend(_describe(e, Settings, "") for e in exc.errors())
    connectors: dict[str, ConnectorConfig] = {}
    channels: dict[str, ChannelConfig] = {}
    for section, offered, out in (
        ("connectors", registry.connectors, connectors),
        ("channels", registry.channels, channels),
    ):
        tables = data.get(section, {})
        if not isinstance(tables, dict):
            problems.append((section, f"expected tables like [{section}.<name>]"))
            continue
        for name, table in tables.items():
            where = f"{section}.{name}"
            if not isinstance(table, dict):
                problems.append((where, f"expected a table [{where}]"))
                continue
            plugin = table.get("plugin")
            if not plugin:
                problems.append((f"{where}.plugin", f"required key is missing; one of: {', '.join(sorted(offered))}"))
                continue
            cls = offered.get(str(plugin))
            if cls is None:
                close = difflib.get_close_matches(str(plugin), list(offered), n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else f"installed: {', '.join(sorted(offered)) or 'none'}"
                problems.append((f"{where}.plugin", f"no {section[:-1]} plugin {plugin!r}; {hint}"))
                continue
            model = cls.config_model
            try:
                out[name] = model.model_validate(table)  # type: ignore[assignment]
            except ValidationError as exc:
                problems.extend(_describe(e, model, where) for e in exc.errors())
            else:
                problems.extend(empty_secrets(out[name], where))
    problems.extend(job_problems(data))
    if settings is not None:
        problems.extend(settings.notify.confidentiality_problems())  # AML alerts: never the RM or a robot
    if problems or settings is None:
        lines = "\n".join(f"  {key}: {msg}" for key, msg in problems)
        raise ConfigError(
            f"{source}: {len(problems)} problem(s)\n{lines}",
            file=source,
            problems=problems,
            hint=bilingual(
                "请修改上面列出的配置项（可参考带注释的示例 config/crmhub.toml）",
                "fix the keys above (see config/crmhub.toml for a commented example)",
            ),
        )
    settings.connectors = connectors
    settings.channels = channels
    settings.source = source
    return settings


def load_settings(path: str | Path | None, registry: Registry, *, required: bool = True) -> Settings:
    """Read and validate the config file at ``path`` (see `resolve_path`)."""
    file = resolve_path(path)
    if not file.exists():
        if not required:
            return Settings(source=None)
        raise ConfigError(
            f"config file {file} not found",
            file=str(file),
            hint=bilingual(
                "用 `crmhub init` 生成一个，或用 -c FILE 指定", "create one with `crmhub init` or pass -c FILE"
            ),
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{file}: not valid TOML: {exc}", file=str(file), hint="check quotes and brackets on that line"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text", file=str(file), hint="save the file as UTF-8") from None
    settings = parse_settings(data, registry, source=str(file))
    settings.anchor(config_home(file))
    return settings


def config_home(file: Path) -> Path:
    """The folder relative paths of ``file`` are resolved against: the file's folder — or, for the layout
    ``crmhub init`` creates (``<project>/config/crmhub.toml``), the project folder, so that layout keeps its
    store in ``<project>/var`` as it always had (moving it would silently start an empty store)."""
    folder = file.resolve().parent
    return folder.parent if folder.name == "config" else folder
