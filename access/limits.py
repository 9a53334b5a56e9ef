"""Rate limits per caller: a token bucket each (``rate`` requests a minute, bursts up to a
tenth of that), answered with 429 and the seconds to wait in Retry-After."""
from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute / 10.0)
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def wait_for(self, caller: str) -> int:
        """0 if ``caller`` may go on now (a token is taken), else the whole seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return 0
            self._buckets[caller] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
