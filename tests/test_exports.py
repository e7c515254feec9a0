"""Pins the public API re-exported from ``crmhub`` (as httpx's test_exported_members does)."""

from __future__ import annotations

import crmhub

EXPECTED = [
    "AccountSubStatus",
    "Address",
    "ApiMetrics",
    "AuthError",
    "BankAccount",
    "Channel",
    "ChannelConfig",
    "CheckResult",
    "ConfigError",
    "Connector",
    "ConnectorConfig",
    "Contact",
    "CorporateClient",
    "CreditFacility",
    "CrmhubError",
    "Cursor",
    "DeliveryResult",
    "Direction",
    "FactorScore",
    "FatalError",
    "FieldLineage",
    "Industry",
    "InputError",
    "IntegrationError",
    "Interaction",
    "InteractionKind",
    "LoanClass",
    "LockedError",
    "Money",
    "OutboundMessage",
    "OutboundRecord",
    "Page",
    "PayloadNames",
    "Person",
    "PluginConfig",
    "PluginContext",
    "PluginError",
    "Preferences",
    "PushResult",
    "QuotaExhaustedError",
    "RaisedAlert",
    "RateLimitedError",
    "Rating",
    "RatingOverride",
    "RecordError",
    "RejectedRecord",
    "RelationshipManager",
    "RetriableError",
    "RiskAssessment",
    "RiskFactor",
    "RiskFactorInput",
    "RiskSummary",
    "SandboxApp",
    "SandboxOptions",
    "Segment",
    "Shareholder",
    "SourceRecord",
    "StatementImporter",
    "StatementResult",
    "StoreError",
    "StreamKind",
    "StreamSpec",
    "Transaction",
    "Uscc",
    "WriteBack",
    "__version__",
    "hookimpl",
]


def test_public_api_is_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert sorted(crmhub.__all__) == sorted(EXPECTED)
    assert crmhub.__all__ == sorted(crmhub.__all__)
    for name in crmhub.__all__:
        assert hasattr(crmhub, name), name
