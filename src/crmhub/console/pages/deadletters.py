"""Console pages: deadletters (see crmhub.console.web for how a page is declared)."""
