"""The risk engine: scorecard, rating, segment, credit policy and AML alerts for golden clients.

Modules, one purpose each:

- `crmhub.risk.card` — the scorecard as configured (factors, bins, points, grades, segments, overrides, policy);
- `crmhub.risk.scoring` — applying a scorecard to one client's inputs (points, grade, overrides, reason codes);
- `crmhub.risk.scaling` — WoE / IV / PDO helpers, to refit the expert points table from default history;
- `crmhub.risk.inputs` and `crmhub.risk.balances` — the ledger aggregates, computed in SQL over batches;
- `crmhub.risk.alerts` — the large-value and suspicious-pattern rules, their store and de-duplication;
- `crmhub.risk.runner` — `make_risk_phase` for the sync engine and the standalone `assess`.

This package is deliberately import-light: `crmhub.config` imports `crmhub.risk.settings`, so nothing here may
import `crmhub.config` at module level.
"""
