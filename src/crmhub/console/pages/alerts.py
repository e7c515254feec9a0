"""Console pages: alerts (see crmhub.console.web for how a page is declared)."""
