"""The bottom layer: small, dependency-free building blocks every other package may use.

Canonical JSON and content hashes (`hashing`), the run report (`report`), the outbox's states (`outbox`) and the
batching helpers (`chunks`). Nothing here imports anything of crmhub above `crmhub.model`, so the sync engine, the
risk engine, notifications, jobs and reports can share them without importing each other (docs/architecture.md,
"Layers"; the import-linter contracts in pyproject.toml keep it so).
"""
