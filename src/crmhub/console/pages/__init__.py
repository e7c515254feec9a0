"""Console pages: one module per area (dashboard, runs, review, dead letters, clients, alerts, segments, audit)."""
