"""What the server holds for access control while it runs: the keys' cache, the signature
verifier, the rate limiter and the audit writer, made once in the app's lifespan."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg_pool import ConnectionPool

from urbangis.layers import scope
from urbangis.layers.settings import AccessSettings

from .audit import AuditWriter, Entry
from .caller import Caller
from .keys import KeyCache, KeyStore
from .limits import RateLimiter
from .people import People, Person
from .sealing import SecretBox
from .signatures import Verifier

log = logging.getLogger("urbangis.access")


class AccessService:
    def __init__(self, settings: AccessSettings, conninfo: str, home: Path, pool: ConnectionPool):
        self.settings = settings
        self.enabled = settings.enabled
        self.conninfo = conninfo
        self.pool = pool
        box = SecretBox(settings.key_file(home))
        self.store = KeyStore(box)
        self.people = People(box, settings.auth_lockout, settings.auth_lockout_minutes, settings.auth_idle_minutes)
        self.keys = KeyCache(self.store, self._connect, settings.auth_key_cache)
        self.verifier = Verifier(self.keys, settings.auth_clock_skew)
        self.rates = RateLimiter(settings.auth_rate)
        self.logins = RateLimiter(settings.auth_login_rate)  # per address: guessing across accounts
        self.audit = AuditWriter(conninfo, gathered=self._uses_so_far)
        self._uses: dict[tuple[str, str, str | None], int] = {}
        self._uses_lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection]:
        """A connection of the server's pool as its owner (keys, people and sessions are not the
        caller's to read): no new connection per lookup, which a key-cache miss would make on the
        event loop."""
        with scope.unscoped(), self.pool.connection() as conn:
            yield conn

    def start(self) -> None:
        self.audit.start()
        if not self.enabled:
            log.warning("access control is OFF (URBANGIS_AUTH=off): every request is served unsigned and "
                        "unscoped; allowed on 127.0.0.1 only")

    def stop(self) -> None:
        self.audit.stop()

    def login(self, login: str, password: str, code: str | None) -> tuple[str, Person]:
        with self._connect() as conn:
            return self.people.login(conn, login, password, code)

    def logout(self, token: str) -> None:
        with self._connect() as conn:
            self.people.logout(conn, token)

    def session(self, token: str) -> Person | None:
        return self.people.session(self._connect, token)

    def record(self, entry: Entry) -> None:
        self.audit.add(entry)

    def count_use(self, caller: Caller) -> None:
        """A read by a signed caller: counted, and written as one `use` entry per key and write."""
        k = (caller.actor, caller.role, caller.area)
        with self._uses_lock:
            self._uses[k] = self._uses.get(k, 0) + 1

    def _uses_so_far(self) -> list[Entry]:
        with self._uses_lock:
            uses, self._uses = self._uses, {}
        return [Entry(actor=a, action="use", role=r, area=area, detail={"reads": n})
                for (a, r, area), n in uses.items()]
