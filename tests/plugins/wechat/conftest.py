"""Fixtures for the WeCom plugin tests (the helpers live in ``wecom_helpers``)."""

from __future__ import annotations

from wecom_helpers import wecom

__all__ = ["wecom"]
