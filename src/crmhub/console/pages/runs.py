"""Console pages: runs (see crmhub.console.web for how a page is declared)."""
