"""Callers' keys: issued, listed, rotated and revoked (``urbangis keys``), and looked up when a
request is verified.

A key is bound to a name, a role and an admin area. Shared secrets (hmac-sha256, hmac-sm3) are
made here (32 random bytes), shown once, and stored sealed (:mod:`.sealing`); for ed25519 the
server keeps only the caller's public key. A rotation issues a new key for the same caller and
keeps the old one valid for a grace period; a revocation ends a key at once.
"""
from __future__ import annotations

import base64
import re
import secrets as random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .algorithms import ALGORITHMS, SHARED
from .roles import check
from .sealing import SecretBox


class KeyError_(ValueError):
    """A key operation that cannot be done, with the reason (unknown key, bad area, ...)."""


@dataclass(frozen=True)
class Key:
    """A key as the verifier needs it: who it is and the material to check a signature with."""

    keyid: str
    name: str
    role: str
    area: str
    alg: str
    verifier: object  # bytes (a shared secret) or an Ed25519PublicKey
    valid_until: datetime | None
    revoked: bool


@dataclass(frozen=True)
class Issued:
    """What ``keys create`` / ``rotate`` show once."""

    keyid: str
    name: str
    role: str
    area: str
    alg: str
    secret: str | None = None        # base64 shared secret
    private_key: str | None = None   # PEM of an ed25519 key the server made (the caller's to keep)
    public_key: str | None = None    # base64 raw ed25519 public key

    def shown(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def new_keyid(name: str) -> str:
    stem = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "-" for ch in name.lower())
    stem = re.sub("-+", "-", stem).strip("-")[:40] or "key"
    return f"{stem}-{random.token_hex(4)}"


def parse_public_key(text: str) -> bytes:
    """The raw 32 bytes of an ed25519 public key given as PEM or base64."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise KeyError_("the public key is not an ed25519 key")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"cannot read the ed25519 public key ({exc})") from None
    if len(raw) != 32:
        raise KeyError_(f"an ed25519 public key has 32 bytes, not {len(raw)}")
    return raw


class KeyStore:
    """The keys of one database, with the secrets' box."""

    def __init__(self, box: SecretBox):
        self.box = box

    def create(self, conn: psycopg.Connection, name: str, role: str, area: str, alg: str,
               public_key: str | None = None, keyid: str | None = None) -> Issued:
        check(role)
        if alg not in ALGORITHMS:
            raise KeyError_(f"unknown algorithm {alg!r}: one of {', '.join(ALGORITHMS)}")
        if not conn.execute("SELECT 1 FROM admin_areas WHERE code = %s", (area,)).fetchone():
            raise KeyError_(f"no admin area has the code {area!r} (see the admin_areas layer)")
        keyid = keyid or new_keyid(name)
        if alg in SHARED:
            if public_key:
                raise KeyError_(f"{alg} uses a shared secret the server makes; --public-key is for ed25519")
            secret = random.token_bytes(32)
            material, issued = self.box.seal(secret, keyid), Issued(
                keyid, name, role, area, alg, secret=base64.b64encode(secret).decode())
        elif public_key:
            material = parse_public_key(public_key)
            issued = Issued(keyid, name, role, area, alg, public_key=base64.b64encode(material).decode())
        else:  # the caller has no pair yet: make one, keep the public half, show the private once
            private = ed25519.Ed25519PrivateKey.generate()
            material = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            issued = Issued(keyid, name, role, area, alg, private_key=pem,
                            public_key=base64.b64encode(material).decode())
        try:
            conn.execute("INSERT INTO access_keys (keyid, name, role, area, alg, material) "
                         "VALUES (%s, %s, %s, %s, %s, %s)", (keyid, name, role, area, alg, material))
        except psycopg.errors.UniqueViolation:
            raise KeyError_(f"a key {keyid!r} exists already") from None
        return issued

    def rotate(self, conn: psycopg.Connection, keyid: str, grace: timedelta,
               public_key: str | None = None) -> Issued:
        """A new key for the caller of ``keyid``; the old one stays valid for ``grace``."""
        row = conn.execute("SELECT name, role, area, alg, revoked_at FROM access_keys WHERE keyid = %s",
                           (keyid,)).fetchone()
        if row is None:
            raise KeyError_(f"no key {keyid!r}")
        name, role, area, alg, revoked = row
        if revoked is not None:
            raise KeyError_(f"key {keyid!r} is revoked; create a new one")
        issued = self.create(conn, name, role, area, alg, public_key)
        conn.execute("UPDATE access_keys SET valid_until = least(coalesce(valid_until, 'infinity'), now() + %s), "
                     "replaced_by = %s WHERE keyid = %s", (grace, issued.keyid, keyid))
        return issued

    def revoke(self, conn: psycopg.Connection, keyid: str) -> None:
        if conn.execute("UPDATE access_keys SET revoked_at = now(), valid_until = now() "
                        "WHERE keyid = %s AND revoked_at IS NULL", (keyid,)).rowcount == 0:
            known = conn.execute("SELECT 1 FROM access_keys WHERE keyid = %s", (keyid,)).fetchone()
            raise KeyError_(f"key {keyid!r} is revoked already" if known else f"no key {keyid!r}")

    def listing(self, conn: psycopg.Connection) -> list[dict]:
        """Every key without its material: id, name, role, area, algorithm, dates, state."""
        rows = conn.execute(
            "SELECT keyid, name, role, area, alg, created_at, valid_until, replaced_by, revoked_at, "
            "CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN valid_until IS NOT NULL AND valid_until <= now() "
            "THEN 'expired' WHEN valid_until IS NOT NULL THEN 'rotating' ELSE 'active' END "
            "FROM access_keys ORDER BY created_at, keyid").fetchall()
        names = ("keyid", "name", "role", "area", "alg", "created_at", "valid_until", "replaced_by", "revoked_at",
                 "state")
        return [dict(zip(names, r)) for r in rows]

    def load(self, conn: psycopg.Connection, keyid: str) -> Key | None:
        row = conn.execute("SELECT name, role, area, alg, material, valid_until, revoked_at IS NOT NULL "
                           "FROM access_keys WHERE keyid = %s", (keyid,)).fetchone()
        if row is None:
            return None
        name, role, area, alg, material, valid_until, revoked = row
        verifier: object = (self.box.open(bytes(material), keyid) if alg in SHARED
                            else ed25519.Ed25519PublicKey.from_public_bytes(bytes(material)))
        return Key(keyid, name, role, area, alg, verifier, valid_until, revoked)


class KeyCache:
    """Keys looked up by id for ``ttl`` seconds (0: every request reads the table), so a signed
    request does not wait for the database; a revocation takes effect within ``ttl``."""

    def __init__(self, store: KeyStore, connect, ttl: float):
        self.store, self.connect, self.ttl = store, connect, ttl
        self._seen: dict[str, tuple[float, Key | None]] = {}
        self._lock = threading.Lock()

    def get(self, keyid: str) -> Key | None:
        now = time.monotonic()
        hit = self._seen.get(keyid)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self.connect() as conn:
            key = self.store.load(conn, keyid)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[keyid] = (now, key)
        return key
