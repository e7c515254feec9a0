"""Token refreshes back off under the connector's configured retry policy (max_attempts, delays), like every other
call: a 5xx storm on the token endpoint costs max_attempts × max_attempts calls and then a RetriableError — not a
fixed policy of its own, which made a 502 storm take ~10 s whatever the configuration said."""

from __future__ import annotations

import pytest
from zoho_helpers import ZohoServer, connector_for, pull_all

from crmhub.errors import RetriableError
from crmhub.sandbox.faults import FaultProfile


@pytest.mark.parametrize("attempts", [1, 2])
async def test_token_refresh_follows_the_configured_attempts(zoho_server: ZohoServer, attempts: int) -> None:
    server = zoho_server(3, faults=FaultProfile(error_rate=1.0))
    async with connector_for(server, max_attempts=attempts, base_delay=0.01, max_delay=0.02) as conn:
        with pytest.raises(RetriableError):
            await pull_all(conn, "accounts")
    assert server.app.faults.stats.errors == attempts * attempts
