"""Login throttling: failed logins per account and per client address, with a growing lockout.

After ``max_failures`` failed attempts inside ``window`` for an account (or from one address), further attempts
are refused without checking the password until the lockout ends; each further lockout doubles (capped at an
hour). A success clears the account's count. Kept in the console process's memory: one console serves one bank
desk; running several behind a balancer multiplies the allowance by their number (docs/console.md says so).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0


class LoginThrottle:
    """Counts failures per key (``user:NAME`` and ``ip:ADDRESS``); thread-safe."""

    def __init__(
        self, max_failures: int = 5, window: float = 900.0, lockout: float = 60.0, clock: object = time.monotonic
    ) -> None:
        self.max_failures, self.window, self.lockout = max_failures, window, lockout
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        now = self._now()
        with self._lock:
            return max((max(0.0, r.locked_until - now) for k in keys if (r := self._records.get(k))), default=0.0)

    def failed(self, *keys: str) -> None:
        """Record one failed attempt for each key; locks a key that reached the limit."""
        now = self._now()
        with self._lock:
            for key in keys:
                record = self._records.setdefault(key, _Record())
                record.failures = [t for t in record.failures if now - t < self.window] + [now]
                if len(record.failures) >= self.max_failures:
                    record.lockouts += 1
                    record.locked_until = now + min(3600.0, self.lockout * 2 ** (record.lockouts - 1))
                    record.failures.clear()

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the account that just logged in)."""
        with self._lock:
            self._records.pop(key, None)
