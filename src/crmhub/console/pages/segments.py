"""Console pages: segments (see crmhub.console.web for how a page is declared)."""
