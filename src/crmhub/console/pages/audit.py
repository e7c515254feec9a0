"""Console pages: audit (see crmhub.console.web for how a page is declared)."""
