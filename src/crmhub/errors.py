"""crmhub's exception tree. Each class says what the caller must do; each carries a stable ``code``.

::

    CrmhubError                      base; .code, .hint
    ├── ConfigError (ValueError)     the configuration is wrong: fix the file (names file and key path)
    ├── PluginError                  a plugin failed to load or breaks the contract: fix or disable it
    ├── StoreError                   the database cannot be used: check the URL / run `crmhub db upgrade`
    ├── InputError (ValueError)      a user-supplied file or argument is wrong: fix that line/argument
    ├── AccessError                  the acting operator is unknown, disabled or lacks the role: use --as / ask an admin
    ├── LockedError                  another run holds the lock on this connector: wait or stop it
    └── IntegrationError             talking to an outside system failed (names connector/channel, stream)
        ├── FatalError               stop this connector or channel for this run and report it
        │   ├── AuthError            credentials rejected or revoked: fix the credentials
        │   └── QuotaExhaustedError  the daily budget is spent: the run stops cleanly and resumes later
        ├── RetriableError           transient: back off and retry within the budget (.retry_after)
        │   ├── RateLimitedError     the service said "too many requests"
        │   └── UnreachableError     no connection within the connect budget: the sync fails that connector
        └── RecordError (ValueError) one record is bad: dead-letter it (.source_id, .field) and go on

Connectors raise these; the engine's reaction is keyed on the type, never on the message (intent in the
type, as in the Singer SDK). Messages never contain secrets. The CLI prints ``error [code]: message`` and the
hint; docs/errors.md lists every code with its exit code and what to do (tests/test_errors_doc.py keeps it whole).
"""

from __future__ import annotations


class CrmhubError(Exception):
    """Base of every crmhub error. ``code`` is stable and documented in docs/errors.md."""

    code = "crmhub"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" — {self.hint}"
        return text


class ConfigError(CrmhubError, ValueError):
    """The configuration file is invalid; ``problems`` lists every (key path, message) found."""

    code = "config"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        problems: list[tuple[str, str]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.problems = problems or []


class AccessError(CrmhubError):
    """The acting operator may not do this (unknown, disabled, missing role, own proposal): act as someone who may."""

    code = "access"


class PluginError(CrmhubError):
    """A plugin could not be loaded or does not follow the contract; fix it or list it in CRMHUB_DISABLE_PLUGINS."""

    code = "plugin"


class StoreError(CrmhubError):
    """The store cannot be opened or is at the wrong schema; check [store].url or run `crmhub db upgrade`."""

    code = "store"


class InputError(CrmhubError, ValueError):
    """A user-supplied file or argument is invalid; the message names the line or argument to fix."""

    code = "input"


class LockedError(CrmhubError):
    """Another run holds this connector's lock; wait for it to finish (or use --wait)."""

    code = "locked"


class IntegrationError(CrmhubError):
    """Talking to an outside system failed. Names the connector (or channel) and stream when known."""

    code = "integration"

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        stream: str | None = None,
        hint: str | None = None,
        service_code: str | int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.connector = connector
        self.stream = stream
        self.service_code = service_code

    def where(self) -> str:
        """``connector/stream`` for messages and reports."""
        return "/".join(p for p in (self.connector, self.stream) if p) or "-"


class FatalError(IntegrationError):
    """Stop this connector or channel for this run and report it; other connectors go on."""

    code = "fatal"


class AuthError(FatalError):
    """The outside system rejected the credentials; fix them in the configuration."""

    code = "auth"


class QuotaExhaustedError(FatalError):
    """The daily call budget is spent; the run stops cleanly with its cursor saved and resumes later."""

    code = "quota"


class RetriableError(IntegrationError):
    """A transient failure; back off (at least ``retry_after`` seconds when given) and try again."""

    code = "retriable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimitedError(RetriableError):
    """The outside system answered "too many requests" (HTTP 429, Fenxiang 30004, WeCom 45009)."""

    code = "rate_limited"


class UnreachableError(RetriableError):
    """Every connection attempt was refused or timed out (``connect_attempts`` of them, not the whole retry budget).

    When nothing listens there is nothing to wait for: `crmhub.http.retrying` gives up at once and never retries
    it again at an outer level, the sync engine fails the connector for the run (its other streams are not tried),
    and notification delivery pauses the channel until its next pass, like any other transient failure. A 429/5xx
    storm is an answering service and keeps the full retry budget.
    """

    code = "unreachable"


class RecordError(IntegrationError, ValueError):
    """One record is bad: dead-letter it with this reason and continue with the rest."""

    code = "record"

    def __init__(
        self, message: str, *, source_id: str | None = None, field: str | None = None, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.source_id = source_id
        self.field = field
