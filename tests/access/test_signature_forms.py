"""The verifier's own reading of the canonical form (access/signatures.py ``_canonical``) against
the library's: for every request both must accept the same and refuse the same, and what is not
in that one form must go to the library."""
from __future__ import annotations

import base64
import os
import random
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from urbangis.access import signatures as S
from urbangis.access.client import signed_headers
from urbangis.access.keys import Key

SECRET = base64.b64encode(bytes(range(32))).decode()
PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PEM = PRIVATE.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
KEYS = {
    "k-hmac": Key("k-hmac", "a", "analyst", "650102", "hmac-sha256", base64.b64decode(SECRET), None, False),
    "k-sm3": Key("k-sm3", "b", "analyst", "650102", "hmac-sm3", base64.b64decode(SECRET), None, False),
    "k-ed": Key("k-ed", "c", "analyst", "650102", "ed25519", PRIVATE.public_key(), None, False),
}
SECRETS = {"k-hmac": SECRET, "k-sm3": SECRET, "k-ed": PEM}


class _Keys:
    def get(self, keyid):
        return KEYS.get(keyid)


def _outcome(method: str, url: str, lines: list[tuple[str, str]], body: bytes | None = None,
             library_only: bool = False) -> str:
    """``ok <keyid>`` or ``refused <reason>`` from a fresh verifier (its own nonce store)."""
    verifier = S.Verifier(_Keys(), 300)
    saved = S._canonical
    if library_only:
        S._canonical = lambda *a: None  # the same verifier with its own reading switched off
    try:
        return f"ok {verifier.verify(method, url, lines, body).keyid}"
    except S.Refused as exc:
        return f"refused {exc.reason}"
    finally:
        S._canonical = saved


def _lines(headers: dict) -> list[tuple[str, str]]:
    return [("host", "127.0.0.1:8000"), ("accept", "*/*")] + [(k.lower(), v) for k, v in headers.items()]


def _urls(n: int) -> list[str]:
    rnd = random.Random(3)
    paths = ["/collections/buildings/items", "/tiles/WebMercatorQuad/15/12000/23000", "/", "/geocode",
             "/collections/%E5%BB%BA%E7%AD%91/items", "/cases/650102-2026-000001"]
    queries = ["", "?", "?limit=100&bbox=87.6,43.7,87.61,43.71", "?q=%E5%AF%8C%E6%B0%91%E8%B7%AF7%E5%8F%B7",
               "?filter=name%20LIKE%20%27a%25%27&filter-lang=cql2-text", "?a=1&a=2&b=",
               "?datetime=2026-01-01T00:00:00Z/.."]
    hosts = ["127.0.0.1:8000", "localhost", "gis.example.cn", "10.0.0.5:443"]
    return [f"{rnd.choice(['http', 'https'])}://{rnd.choice(hosts)}{rnd.choice(paths)}{rnd.choice(queries)}"
            for _ in range(n)]


@pytest.mark.parametrize("keyid", sorted(KEYS))
def test_canonical_requests_are_read_by_hand_and_agree_with_the_library(keyid):
    key = KEYS[keyid]
    for url in _urls(40):
        for method in ("GET", "HEAD", "DELETE"):
            lines = _lines(signed_headers(method, url, keyid, key.alg, SECRETS[keyid]))
            assert S._canonical(method, url, lines) is not None, (method, url)
            assert _outcome(method, url, lines) == _outcome(method, url, lines, library_only=True) == f"ok {keyid}"


def _tampered(url: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(method, url, header lines) of a request signed for GET ``url`` and then changed."""
    h = _lines(signed_headers("GET", url, "k-hmac", "hmac-sha256", SECRET))
    inp = dict(h)["signature-input"]
    sig = dict(h)["signature"]

    def swap(name: str, value: str) -> list[tuple[str, str]]:
        return [(k, value if k == name else v) for k, v in h]
    flipped = base64.b64encode(bytes([base64.b64decode(sig[5:-1])[0] ^ 1]) + base64.b64decode(sig[5:-1])[1:])
    return [
        ("DELETE", url, h),
        ("GET", url.replace("/items", "/item"), h),
        ("GET", url + "&limit=1", h),
        ("GET", url.replace("http://", "https://"), h),
        ("GET", url, swap("signature-input", inp.replace('keyid="k-hmac"', 'keyid="k-sm3"'))),
        ("GET", url, swap("signature-input", inp.replace('alg="hmac-sha256"', 'alg="hmac-sm3"'))),
        ("GET", url, swap("signature", f"sig=:{flipped.decode()}:")),
        ("GET", url, swap("signature-input", inp.replace("created=", "created=1"))),
        ("GET", url, swap("signature-input", inp.replace('keyid="k-hmac"', 'keyid="nobody"'))),
        ("GET", url, swap("signature-input", inp.replace(';nonce="', ';nonce="x'))),
    ]


def test_tampered_requests_are_refused_alike():
    url = "http://127.0.0.1:8000/collections/buildings/items?limit=100"
    outcomes = [(_outcome(m, u, h), _outcome(m, u, h, library_only=True)) for m, u, h in _tampered(url)]
    assert all(ours == theirs for ours, theirs in outcomes), outcomes
    assert all(ours.startswith("refused") for ours, _ in outcomes), outcomes
    assert {o for o, _ in outcomes} >= {"refused bad signature", "refused stale", "refused unknown key",
                                        "refused wrong alg"}


def _other_forms(url: str) -> list[tuple[str, list[tuple[str, str]], bytes | None]]:
    """Requests outside the one form: each must go to the library."""
    now = int(time.time())
    nonce = base64.urlsafe_b64encode(os.urandom(9)).decode()
    h = _lines(signed_headers("GET", url, "k-hmac", "hmac-sha256", SECRET, nonce=nonce))
    inp, sig = dict(h)["signature-input"], dict(h)["signature"]

    def swap(name: str, value: str) -> list[tuple[str, str]]:
        return [(k, value if k == name else v) for k, v in h]
    body = b'{"a": 1}'
    return [
        ("GET", swap("signature-input", inp.replace('" "', '"  "')), None),         # two spaces
        ("GET", swap("signature-input", inp + f";expires={now + 60}"), None),      # another parameter
        ("GET", swap("signature-input", inp + ';tag="x"'), None),
        ("GET", swap("signature-input", inp.replace("sig=", "other=")), None),     # labels differ
        ("GET", swap("signature-input", inp.replace('"@target-uri")', '"@target-uri" "accept")')), None),
        ("GET", swap("signature-input", inp.replace('("@method" "@target-uri")', '("@method")')), None),
        ("GET", swap("signature-input", inp + ";flag"), None),                     # a boolean parameter
        ("GET", h + [("signature-input", inp)], None),                             # two lines
        ("GET", swap("signature", sig.replace(":", "", 1)), None),                 # not a byte sequence
        ("POST", _lines(signed_headers("POST", url, "k-hmac", "hmac-sha256", SECRET, body=body)), body),
        ("OPTIONS", _lines(signed_headers("OPTIONS", url, "k-hmac", "hmac-sha256", SECRET)), None),
    ]


def test_other_forms_go_to_the_library():
    url = "http://127.0.0.1:8000/collections/buildings/items?limit=100"
    for method, lines, body in _other_forms(url):
        if body is None:
            assert S._canonical(method, url, lines) is None, lines
        assert _outcome(method, url, lines, body) == _outcome(method, url, lines, body, library_only=True), lines
    signed_post = _other_forms(url)[-2]
    assert _outcome("POST", url, signed_post[1], signed_post[2]) == "ok k-hmac"


def test_urls_outside_the_plain_form_go_to_the_library():
    for url in ("http://127.0.0.1:8000", "http://[::1]:8000/collections", "HTTP://LOCALHOST/x",
                "http://127.0.0.1:8000/x#frag"):
        lines = _lines(signed_headers("GET", url, "k-hmac", "hmac-sha256", SECRET))
        assert S._canonical("GET", url, lines) is None, url
        assert _outcome("GET", url, lines) == _outcome("GET", url, lines, library_only=True), url
