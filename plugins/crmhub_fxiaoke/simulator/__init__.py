"""Fenxiang Xiaoke open-API simulator, built from the fact sheet (shared/design/apis/fxiaoke.md).

``build(options)`` returns the ASGI app (Starlette wrapped in `FaultMiddleware`); ``app.simulator`` is the
`FxiaokeSimulator` state for in-process tests and the demo. Settings (``SandboxOptions.settings``) are the fields
of `SimSettings`: credentials, ``token_lifetime``, ``window_seconds`` / ``calls_per_window`` (scale the 100 calls
/ 20 s per path limit), ``daily_quota``, ``duplicate_error_code``, ``invalid_visible_by_default``, ``generate``
(N synthetic accounts when no world is given).
"""

from __future__ import annotations

from typing import Any

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultMiddleware, FaultProfile
from crmhub_fxiaoke.simulator.app import build_app, busy_answer, throttled_answer
from crmhub_fxiaoke.simulator.service import ApiError, FxiaokeSimulator, SimSettings

__all__ = ["ApiError", "FxiaokeSimulator", "SimSettings", "SimulatorApp", "build"]


class SimulatorApp(FaultMiddleware):
    """The ASGI app the sandbox runner serves; ``.simulator`` is the tenant state."""

    simulator: FxiaokeSimulator


def build(options: SandboxOptions) -> SimulatorApp:
    """Build the simulator for ``options`` (world, faults, seed, clock, settings)."""
    sim = FxiaokeSimulator(options)
    app = SimulatorApp(build_app(sim), options.faults or FaultProfile(), throttle=throttled_answer, busy=busy_answer)
    app.simulator = sim
    return app


def default_settings() -> dict[str, Any]:
    """The sandbox tenant's credentials, for configs that point crmhub at a running simulator."""
    s = SimSettings()
    return {
        "app_id": s.app_id,
        "app_secret": s.app_secret,
        "permanent_code": s.permanent_code,
        "current_open_user_id": s.admin_open_user_id,
    }
