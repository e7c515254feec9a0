"""Fixtures for the email plugin tests (the helpers live in ``email_helpers``)."""

from __future__ import annotations

from email_helpers import certificate, smtp

__all__ = ["certificate", "smtp"]
