"""Callers' shared secrets encrypted at rest: AES-256-GCM (the `cryptography` package) under a
32-byte key kept in a file of the server's (mode 600, made on first use), never in the database.
A stolen dump of ``access_keys`` gives no secret."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_AAD = b"urbangis access_keys v1"


class SecretBox:
    """Encrypts and decrypts secrets with the key of one file."""

    def __init__(self, path: Path):
        self.path = path
        self._aead = AESGCM(_load_or_make(path))

    def seal(self, secret: bytes, keyid: str) -> bytes:
        """``secret`` encrypted, bound to ``keyid`` (a row's material cannot be moved to another key)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, secret, _AAD + keyid.encode())

    def open(self, sealed: bytes, keyid: str) -> bytes:
        """The secret of :meth:`seal`; raises ``cryptography.exceptions.InvalidTag`` if it was changed
        or sealed under another key file."""
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _AAD + keyid.encode())


def _load_or_make(path: Path) -> bytes:
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte key ({len(key)} bytes): restore it from the backup")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key
