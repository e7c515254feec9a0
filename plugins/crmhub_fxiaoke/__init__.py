"""crmhub plugin for Fenxiang Xiaoke (纷享销客 / ShareCRM): connector and open-API simulator.

Public API: `FxiaokeConnector`, `FxiaokeConfig`, `FxiaokeClient`, `FxiaokeQuotaExhausted`; the simulator is
`crmhub_fxiaoke.simulator.build`.
"""

from crmhub_fxiaoke.client import FxiaokeClient
from crmhub_fxiaoke.config import FxiaokeConfig
from crmhub_fxiaoke.connector import FxiaokeConnector, FxiaokeQuotaExhausted

__all__ = ["FxiaokeClient", "FxiaokeConfig", "FxiaokeConnector", "FxiaokeQuotaExhausted"]
