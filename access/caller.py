"""Who is calling: the credential a request was accepted with."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """A signed caller (``via`` "signature"), a person (``via`` "session"), or, with access
    control off, the local user (``via`` "off", unscoped)."""

    actor: str           # keyid or person's login
    role: str
    area: str | None     # admin code the caller is bound to; "": none (public); None: unscoped (access off)
    via: str


LOCAL = Caller("local", "admin", None, "off")
