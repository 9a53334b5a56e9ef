"""Verifying a signed request (RFC 9421 HTTP Message Signatures, RFC 9530 Content-Digest) with
`http-message-signatures`; the policy is ours: which components must be covered, the clock
window, nonces, and refusals that name what failed and nothing more."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable

import http_sf
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, InvalidSignature
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from .algorithms import ALGORITHMS
from .keys import Key, KeyCache
from .nonces import NonceStore

REQUIRED = ("@method", "@target-uri")  # and content-digest when there is a body


class Refused(Exception):
    """A request whose signature is not accepted; ``reason`` names what failed."""

    def __init__(self, reason: str, keyid: str | None = None):
        super().__init__(reason)
        self.reason, self.keyid = reason, keyid


@dataclass
class Message:
    """The parts of a request the library reads: method, absolute URL, header lines."""

    method: str
    url: str
    headers: "_Lines"


class _Lines:
    """Header lines in order (``items()``), as the library's resolver reads them."""

    def __init__(self, lines: Iterable[tuple[str, str]]):
        self._lines = list(lines)

    def items(self):
        return list(self._lines)


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(self, key: Key):
        self.key = key

    def resolve_public_key(self, keyid: str):
        return self.key.verifier if keyid == self.key.keyid else None


class Verifier:
    """Checks signed requests against the keys of :class:`KeyCache`."""

    def __init__(self, keys: KeyCache, skew: int):
        self.keys, self.skew = keys, skew
        self.nonces = NonceStore(keep=2 * skew)

    def verify(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None,
               digest_later: bool = False) -> Key:
        """The key that signed this request, or :class:`Refused` with the reason. ``digest_later``:
        a body too large to hold (an upload) whose content-digest must be covered, and is checked
        against the body as it streams in (api/routes/ingest.py)."""
        lines = list(headers)
        keyid, alg, created, nonce = _parameters(lines)
        key = self._usable(keyid, alg, created, nonce)
        verifier = HTTPMessageVerifier(signature_algorithm=ALGORITHMS[key.alg], key_resolver=_Resolver(key))
        verifier.max_clock_skew = timedelta(seconds=self.skew)
        required = REQUIRED + (("content-digest",) if body or digest_later else ())
        try:
            verifier.verify(Message(method, url, _Lines(lines)), max_age=None, require_components=required,
                            body=body if body else None)
        except (InvalidSignature, HTTPMessageSignaturesException) as exc:
            raise Refused(_failure(str(exc)), keyid) from None
        if not self.nonces.first_use(keyid, str(nonce)):
            raise Refused("replayed", keyid)
        return key

    def _usable(self, keyid: str, alg, created, nonce) -> Key:
        """The key of ``keyid`` if it may sign now with these parameters."""
        key = self.keys.get(keyid)
        if key is None:
            raise Refused("unknown key", keyid)
        if key.revoked:
            raise Refused("revoked key", keyid)
        if key.valid_until is not None and key.valid_until.timestamp() <= time.time():
            raise Refused("expired key", keyid)
        if alg != key.alg:
            raise Refused("missing alg" if alg is None else "wrong alg", keyid)
        if type(created) is not int:
            raise Refused("missing created", keyid)
        if abs(time.time() - created) > self.skew:
            raise Refused("stale", keyid)
        if not isinstance(nonce, str) or not nonce:
            raise Refused("missing nonce", keyid)
        return key


def _parameters(lines: list[tuple[str, str]]) -> tuple[str, object, object, object]:
    """keyid, alg, created and nonce of the request's one signature."""
    inputs = [v for k, v in lines if k.lower() == "signature-input"]
    if not inputs or not any(k.lower() == "signature" for k, _ in lines):
        raise Refused("missing signature")
    parsed: Any
    try:
        parsed = http_sf.parse(", ".join(inputs).encode(), tltype="dictionary")
    except Exception:
        raise Refused("malformed signature") from None
    if len(parsed) != 1:
        raise Refused("malformed signature")  # one signature per request
    (_, (_members, params)), = parsed.items()
    keyid = params.get("keyid")
    if not isinstance(keyid, str):
        raise Refused("missing keyid")
    return keyid, params.get("alg"), params.get("created"), params.get("nonce")


def _failure(text: str) -> str:
    """The refusal's reason for a failure the library reports."""
    if "not covered" in text:
        return "uncovered " + ("content-digest" if "content-digest" in text else "component")
    if "Content-Digest" in text or "content digest" in text:  # (not the HMAC's "did not match digest")
        return "content-digest mismatch"
    return "bad signature"
