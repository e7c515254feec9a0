"""Console pages: approvals (see crmhub.console.web for how a page is declared)."""
