"""Seeded random streams keyed by name, so each part of the city is reproducible on its own."""
from __future__ import annotations

import zlib

import numpy as np


def _key(part) -> int:
    if isinstance(part, (int, np.integer)):
        return int(part) & 0xFFFFFFFF
    # crc32 rather than hash(): Python's str hash is salted per process
    return zlib.crc32(str(part).encode("utf-8"))


def rng(seed: int, *keys) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (e.g. ``rng(seed, "roads", code)``)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *(_key(k) for k in keys)]))
