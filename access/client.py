"""Signing a request as a caller does (for other subsystems written in Python, the tests and the
benchmarks): ``signed_headers`` returns the headers to add. docs/access.md shows it in use, and
the same with curl and openssl."""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver

from .algorithms import ALGORITHMS


@dataclass
class _Message:
    method: str
    url: str
    headers: dict = field(default_factory=dict)


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, key):
        self.key = key

    def resolve_private_key(self, keyid: str):
        return self.key


def signing_key(alg: str, secret: str):
    """The key object of a caller's secret: base64 bytes for hmac-*, a PEM private key for ed25519."""
    if alg == "ed25519":
        return serialization.load_pem_private_key(secret.encode(), password=None)
    return base64.b64decode(secret)


def signed_headers(method: str, url: str, keyid: str, alg: str, secret: str, body: bytes | None = None,
                   created=None, nonce: str | None = None) -> dict[str, str]:
    """``Signature-Input``, ``Signature`` and, with a body, ``Content-Digest`` of a request to
    ``url`` (absolute, exactly as sent), covering @method, @target-uri and content-digest."""
    message = _Message(method.upper(), url)
    signer = HTTPMessageSigner(signature_algorithm=ALGORITHMS[alg], key_resolver=_Keys(signing_key(alg, secret)))
    signer.sign(message, key_id=keyid, created=created, nonce=nonce or secrets.token_urlsafe(16), label="sig",
                covered_component_ids=("@method", "@target-uri"), body=body)
    return dict(message.headers)
