"""The signature algorithms callers may use: ``hmac-sha256`` and ``ed25519`` as
`http-message-signatures` implements them, and ``hmac-sm3`` for callers bound to the national
algorithms (GB/T 32905 SM3 in HMAC, RFC 2104). The library has no SM3; Python's hashlib (OpenSSL)
has, and the library takes custom algorithms as subclasses, so only the three methods are ours."""
from __future__ import annotations

import hmac

from http_message_signatures import InvalidSignature, algorithms
from http_message_signatures.algorithms import HTTPSignatureAlgorithm


class HMAC_SM3(HTTPSignatureAlgorithm):
    """HMAC-SM3 over the signature base."""

    algorithm_id = "hmac-sm3"

    def __init__(self, public_key: bytes | None = None, private_key: bytes | None = None):
        key = public_key if public_key is not None else private_key
        if not isinstance(key, bytes) or not key:
            raise InvalidSignature("hmac-sm3 needs a shared secret")
        self.key = key

    def sign(self, message: bytes) -> bytes:
        return hmac.digest(self.key, message, "sm3")

    def verify(self, signature: bytes, message: bytes) -> None:
        if not hmac.compare_digest(self.sign(message), signature):
            raise InvalidSignature("HMAC-SM3 signature mismatch")


class HMAC_SHA256(algorithms.HMAC_SHA256):
    """The library's HMAC-SHA256, checked with the standard library's one-shot ``hmac.digest``
    (OpenSSL in C): the library builds a `cryptography` HMAC object per check, a third of what
    verifying a signature cost in the server (docs/performance.md, "Access control")."""

    def verify(self, signature: bytes, message: bytes) -> None:
        if not hmac.compare_digest(hmac.digest(self.shared_secret, message, "sha256"), signature):
            raise InvalidSignature("HMAC-SHA256 signature mismatch")


ALGORITHMS: dict[str, type[HTTPSignatureAlgorithm]] = {
    "hmac-sha256": HMAC_SHA256,
    "hmac-sm3": HMAC_SM3,
    "ed25519": algorithms.ED25519,
}
SHARED = frozenset({"hmac-sha256", "hmac-sm3"})  # algorithms whose key is a shared secret
