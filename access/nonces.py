"""Nonces seen: a signature's nonce is refused when it was seen within twice the clock window
(a replay inside the window fails too). Held in the process: one server process sees every
request of its callers; several processes behind one port need a shared store (noted in
docs/access.md)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict


class NonceStore:
    """Nonces per key, forgotten ``keep`` seconds after they were first seen."""

    def __init__(self, keep: float, most: int = 1_000_000):
        self.keep, self.most = keep, most
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, keyid: str, nonce: str) -> bool:
        """Record ``nonce`` of ``keyid``; False if it was seen within the window (a replay)."""
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self.keep and len(self._seen) < self.most:
                    break
                self._seen.popitem(last=False)
            if (keyid, nonce) in self._seen:
                return False
            self._seen[(keyid, nonce)] = now
            return True
