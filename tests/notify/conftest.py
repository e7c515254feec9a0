"""Fixtures for the notification tests: a real SMTP sandbox and a real WeCom simulator on loopback."""

from __future__ import annotations

from .helpers import registry, servers

__all__ = ["registry", "servers"]
