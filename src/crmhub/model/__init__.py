"""The canonical model: pydantic types every connector maps to and the engine stores."""

from crmhub.model.banking import (
    AccountSubStatus,
    BankAccount,
    CreditFacility,
    Direction,
    Interaction,
    InteractionKind,
    LoanClass,
    Transaction,
)
from crmhub.model.client import (
    MERGEABLE_FIELDS,
    Contact,
    CorporateClient,
    DataQualityFinding,
    FieldLineage,
    Person,
    Preferences,
    Rating,
    RelationshipManager,
    RiskSummary,
    Segment,
    Shareholder,
)
from crmhub.model.risk import FactorScore, RatingOverride, RiskAssessment
from crmhub.model.types import Address, Industry, Money, Uscc

__all__ = [
    "MERGEABLE_FIELDS",
    "AccountSubStatus",
    "Address",
    "BankAccount",
    "Contact",
    "CorporateClient",
    "CreditFacility",
    "DataQualityFinding",
    "Direction",
    "FactorScore",
    "FieldLineage",
    "Industry",
    "Interaction",
    "InteractionKind",
    "LoanClass",
    "Money",
    "Person",
    "Preferences",
    "Rating",
    "RatingOverride",
    "RelationshipManager",
    "RiskAssessment",
    "RiskSummary",
    "Segment",
    "Shareholder",
    "Transaction",
    "Uscc",
]
