"""The single source of crmhub's version (read by hatchling and by ``crmhub --version``)."""

__version__ = "0.1.0"
