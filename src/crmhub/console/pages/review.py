"""Console pages: review (see crmhub.console.web for how a page is declared)."""
