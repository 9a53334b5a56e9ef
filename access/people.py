"""Staff who log in (the map and ingest pages): passwords hashed with Argon2id (argon2-cffi, its
defaults: memory-hard, 64 MiB), a lockout after repeated failures, an optional TOTP second factor
(RFC 6238, pyotp), and sessions: a random token in a cookie scripts cannot read, stored only as
its SHA-256, ended after an idle time."""
from __future__ import annotations

import hashlib
import secrets as random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .roles import check
from .sealing import SecretBox

_HASHER = PasswordHasher()
# a hash to check when the login is unknown, so an unknown login takes as long as a wrong password
_DUMMY = _HASHER.hash(random.token_hex(16))
MIN_PASSWORD = 10


class LoginFailed(Exception):
    """Why a login was refused: said to the person only as ``public``; ``reason`` is for the log."""

    def __init__(self, public: str, reason: str):
        super().__init__(public)
        self.public, self.reason = public, reason


class PersonError(ValueError):
    """A person cannot be added or changed as asked (the reason says why)."""


@dataclass(frozen=True)
class Person:
    login: str
    role: str
    area: str


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class People:
    def __init__(self, box: SecretBox, lockout: int = 5, lockout_minutes: float = 15.0, idle_minutes: float = 30.0):
        self.box, self.lockout = box, lockout
        self.lockout_for = timedelta(minutes=lockout_minutes)
        self.idle = timedelta(minutes=idle_minutes)
        self._seen: dict[bytes, tuple[float, Person]] = {}
        self._lock = threading.Lock()

    # -- administration (urbangis people) -------------------------------------------------------
    def add(self, conn: psycopg.Connection, login: str, name: str, role: str, area: str, password: str,
            totp: bool = False) -> str | None:
        """Add a person; with ``totp`` the provisioning URI for an authenticator app (shown once)."""
        check(role)
        if len(password) < MIN_PASSWORD:
            raise PersonError(f"a password needs at least {MIN_PASSWORD} characters")
        if not conn.execute("SELECT 1 FROM admin_areas WHERE code = %s", (area,)).fetchone():
            raise PersonError(f"no admin area has the code {area!r}")
        secret = pyotp.random_base32() if totp else None
        try:
            conn.execute("INSERT INTO access_people (login, name, role, area, password, totp) "
                         "VALUES (%s, %s, %s, %s, %s, %s)",
                         (login, name, role, area, _HASHER.hash(password),
                          self.box.seal(secret.encode(), "person:" + login) if secret else None))
        except psycopg.errors.UniqueViolation:
            raise PersonError(f"{login!r} exists already") from None
        except psycopg.errors.CheckViolation:
            raise PersonError(f"{login!r} is not a login: 2-64 letters, digits, _ . @ -") from None
        return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name="urbangis") if secret else None

    def unlock(self, conn: psycopg.Connection, login: str) -> None:
        if conn.execute("UPDATE access_people SET failures = 0, locked_until = NULL WHERE login = %s",
                        (login,)).rowcount == 0:
            raise PersonError(f"no person {login!r}")

    def disable(self, conn: psycopg.Connection, login: str) -> None:
        if conn.execute("UPDATE access_people SET disabled = true WHERE login = %s", (login,)).rowcount == 0:
            raise PersonError(f"no person {login!r}")
        conn.execute("UPDATE access_sessions SET ended_at = now() WHERE login = %s AND ended_at IS NULL", (login,))

    def listing(self, conn: psycopg.Connection) -> list[dict]:
        names = ("login", "name", "role", "area", "totp", "failures", "locked_until", "disabled", "created_at")
        rows = conn.execute("SELECT login, name, role, area, totp IS NOT NULL, failures, locked_until, disabled, "
                            "created_at FROM access_people ORDER BY login").fetchall()
        return [dict(zip(names, r)) for r in rows]

    # -- logging in -----------------------------------------------------------------------------
    def login(self, conn: psycopg.Connection, login: str, password: str, code: str | None) -> tuple[str, Person]:
        """A new session's token and its person, or :class:`LoginFailed` (a failure is counted
        and committed before it is raised)."""
        with conn.transaction():
            row = conn.execute("SELECT role, area, password, totp, failures, locked_until, disabled FROM access_people "
                               "WHERE login = %s FOR UPDATE", (login,)).fetchone()
            failure = self._check(conn, login, password, code, row)
            if failure is None:
                token = random.token_urlsafe(32)
                conn.execute("UPDATE access_people SET failures = 0, locked_until = NULL WHERE login = %s", (login,))
                conn.execute("INSERT INTO access_sessions (token_hash, login) VALUES (%s, %s)",
                             (token_hash(token), login))
        if failure is not None or row is None:
            raise failure or LoginFailed("wrong login or password", "unknown login")
        return token, Person(login, row[0], row[1])

    def _check(self, conn: psycopg.Connection, login: str, password: str, code: str | None,
               row) -> LoginFailed | None:
        if row is None:
            _verify(_DUMMY, password)
            return LoginFailed("wrong login or password", "unknown login")
        _, _, hashed, totp, failures, locked_until, disabled = row
        now = datetime.now(timezone.utc)
        if disabled:
            return LoginFailed("wrong login or password", "disabled")
        if locked_until is not None and locked_until > now:
            wait = int((locked_until - now).total_seconds() // 60) + 1
            return LoginFailed(f"locked after {self.lockout} failed logins; try again in {wait} min", "locked")
        if not _verify(hashed, password):
            self._failed(conn, login, failures)
            return LoginFailed("wrong login or password", "password")
        if totp is not None:
            secret = self.box.open(bytes(totp), "person:" + login).decode()
            if not (code and pyotp.TOTP(secret).verify(str(code).strip(), valid_window=1)):
                self._failed(conn, login, failures)
                return LoginFailed("a valid one-time code (TOTP) is needed", "totp")
        return None

    def _failed(self, conn: psycopg.Connection, login: str, failures: int) -> None:
        if failures + 1 >= self.lockout:
            conn.execute("UPDATE access_people SET failures = 0, locked_until = now() + %s WHERE login = %s",
                         (self.lockout_for, login))
        else:
            conn.execute("UPDATE access_people SET failures = failures + 1 WHERE login = %s", (login,))

    def cached(self, token: str) -> Person | None:
        """The person of a session seen within the last minute (no database), or None."""
        hit = self._seen.get(token_hash(token))
        if hit is not None and time.monotonic() - hit[0] < 60 and self.idle > timedelta(seconds=60):
            return hit[1]
        return None

    def session(self, conn_factory, token: str) -> Person | None:
        """The person of a live session (its idle time renewed at most once a minute), or None."""
        h = token_hash(token)
        now = time.monotonic()
        hit = self.cached(token)
        if hit is not None:
            return hit
        with conn_factory() as conn:
            row = conn.execute(
                "UPDATE access_sessions s SET last_seen = now() FROM access_people p WHERE s.token_hash = %s AND "
                "p.login = s.login AND s.ended_at IS NULL AND NOT p.disabled AND s.last_seen > now() - %s "
                "RETURNING p.login, p.role, p.area", (h, self.idle)).fetchone()
        if row is None:
            with self._lock:
                self._seen.pop(h, None)
            return None
        person = Person(*row)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[h] = (now, person)
        return person

    def logout(self, conn: psycopg.Connection, token: str) -> None:
        h = token_hash(token)
        conn.execute("UPDATE access_sessions SET ended_at = now() WHERE token_hash = %s", (h,))
        with self._lock:
            self._seen.pop(h, None)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
