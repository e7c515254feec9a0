"""The Fineract-shaped ledger simulator: `build` for the sandbox runner, `LedgerSimulator` for in-process use."""

from crmhub_ledger.sandbox.app import build, create_app
from crmhub_ledger.sandbox.state import LedgerSimulator

__all__ = ["LedgerSimulator", "build", "create_app"]
