"""Verifying a signed request (RFC 9421 HTTP Message Signatures, RFC 9530 Content-Digest) with
`http-message-signatures`; the policy is ours: which components must be covered, the clock
window, nonces, and refusals that name what failed and nothing more."""
from __future__ import annotations

import base64
import binascii
import re
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

# The one form of a bodiless request that :func:`_canonical` verifies without the library (see there):
# a Signature-Input member of quoted component names and string or integer parameters, serialised
# canonically (RFC 8941 section 4.1: one space between items, no escapes, no leading zeros), whose
# text is then its own serialisation; a Signature member of one byte sequence; a plain absolute URL.
_INPUT = re.compile(r'([a-z*][a-z0-9_.*-]{0,63})=\(((?:"@?[a-z0-9_.-]+")(?: "@?[a-z0-9_.-]+")*)\)'
                    r'((?:;[a-z][a-z0-9_.*-]*=(?:"[\x20\x21\x23-\x5b\x5d-\x7e]*"|-?(?:0|[1-9][0-9]{0,14})))*)')
_PARAM = re.compile(r';([a-z][a-z0-9_.*-]*)=(?:"([^"]*)"|(-?[0-9]+))')
_SIGNATURE = re.compile(r'([a-z*][a-z0-9_.*-]{0,63})=:([A-Za-z0-9+/]*={0,2}):')
_URL = re.compile(r'https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[\x21\x24-\x7e]*(?:\?[\x21\x23-\x7e]*)?')
_FAST_PARAMS = frozenset({"created", "keyid", "alg", "nonce"})


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
        canonical = None if body or digest_later else _canonical(method, url, lines)
        if canonical is not None:
            keyid, alg, created, nonce, base, signature = canonical
            key = self._usable(keyid, alg, created, nonce)
            try:
                ALGORITHMS[key.alg](public_key=key.verifier).verify(signature=signature, message=base)
            except Exception:  # (cryptography's InvalidSignature too, as the library takes it)
                raise Refused("bad signature", keyid) from None
            return self._fresh(key, keyid, nonce)
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
        return self._fresh(key, keyid, nonce)

    def _fresh(self, key: Key, keyid: str, nonce) -> Key:
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


def _canonical(method: str, url: str, lines: list[tuple[str, str]]) -> tuple | None:
    """keyid, alg, created, nonce, the signature base and the signature of a bodiless request
    signed over exactly ``@method`` and ``@target-uri`` in the canonical form :data:`_INPUT`; None
    for any other request, which the library verifies.

    Written by hand because the library parses every structured field with a general pure-Python
    parser and resolves components through general resolvers: 0.16 ms a request in a loop and
    about 1 ms in the server (docs/performance.md, "Access control"), three quarters of what access
    control added to a cached tile. For this one form the signature base (RFC 9421 section 2.5) is
    the two lines and the member's own text (a canonical serialisation is its own); the
    cryptography stays the library's (:data:`ALGORITHMS`). tests/access/test_signatures.py holds
    this base equal to the library's and every refusal the same."""
    inputs = [v for k, v in lines if k == "signature-input" or k.lower() == "signature-input"]
    signatures = [v for k, v in lines if k == "signature" or k.lower() == "signature"]
    if len(inputs) != 1 or len(signatures) != 1 or method not in ("GET", "HEAD", "DELETE"):
        return None
    found, sig = _INPUT.fullmatch(inputs[0]), _SIGNATURE.fullmatch(signatures[0])
    if found is None or sig is None or found[1] != sig[1] or found[2] != '"@method" "@target-uri"' \
            or _URL.fullmatch(url) is None:
        return None
    params: dict[str, object] = {}
    for name, text, number in _PARAM.findall(found[3]):
        if name in params or name not in _FAST_PARAMS:
            return None
        params[name] = int(number) if number else text
    try:
        signature = base64.b64decode(sig[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    keyid = params.get("keyid")
    if not isinstance(keyid, str):
        return None
    text = inputs[0][len(found[1]) + 1:]
    base = f'"@method": {method}\n"@target-uri": {url}\n"@signature-params": {text}'.encode()
    return keyid, params.get("alg"), params.get("created"), params.get("nonce"), base, signature


def _failure(text: str) -> str:
    """The refusal's reason for a failure the library reports."""
    if "not covered" in text:
        return "uncovered " + ("content-digest" if "content-digest" in text else "component")
    if "Content-Digest" in text or "content digest" in text:  # (not the HMAC's "did not match digest")
        return "content-digest mismatch"
    return "bad signature"
