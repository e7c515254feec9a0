"""Console pages: clients (see crmhub.console.web for how a page is declared)."""
