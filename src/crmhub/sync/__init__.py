"""The sync engine: ingest, match, merge, write-back planning (see docs/architecture.md)."""
