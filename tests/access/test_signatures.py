"""Signed callers (RFC 9421): each algorithm accepted, each kind of failure refused with a 401
that names it, and the refusal in the audit log."""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from urbangis.access.client import signed_headers
from urbangis.layers import database as db

from .conftest import BASE, TIANSHAN, Caller

ITEMS = "/collections/roads/items?limit=2"


@pytest.mark.parametrize("alg", ["hmac-sha256", "hmac-sm3", "ed25519"])
def test_each_algorithm_is_accepted(secured, issue, alg):
    caller = Caller(secured, issue("analyst", TIANSHAN, alg))
    r = caller.get(ITEMS)
    assert r.status_code == 200, r.text
    assert len(r.json()["features"]) == 2


def test_ed25519_server_keeps_only_the_public_key(access_db, issue):
    key = issue("analyst", TIANSHAN, "ed25519")
    with db.connect(access_db) as conn:
        material = bytes(conn.execute("SELECT material FROM access_keys WHERE keyid = %s", (key.keyid,)).fetchone()[0])
    assert len(material) == 32 and b"PRIVATE" not in material


def test_hmac_secret_is_stored_encrypted(access_db, issue):
    key = issue("subsystem", TIANSHAN)
    with db.connect(access_db) as conn:
        material = bytes(conn.execute("SELECT material FROM access_keys WHERE keyid = %s", (key.keyid,)).fetchone()[0])
    secret = base64.b64decode(key.secret)
    assert secret not in material and len(material) == 12 + 32 + 16  # nonce, ciphertext, GCM tag


def _refusal(r, reason: str) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["description"] == reason
    assert "Signature" in r.headers["www-authenticate"]


@pytest.fixture()
def analyst(secured, issue):
    return issue("analyst", TIANSHAN)


def _get(secured, url: str, headers: dict):
    return secured.get(url, headers=headers)


def test_tampered_method_path_and_query(secured, analyst):
    url = BASE + ITEMS
    h = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)
    _refusal(secured.get(BASE + "/collections/cases/items?limit=2", headers=h), "bad signature")  # path
    h = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)
    _refusal(secured.get(BASE + "/collections/roads/items?limit=2000", headers=h), "bad signature")  # query
    h = signed_headers("HEAD", url, analyst.keyid, analyst.alg, analyst.secret)
    _refusal(secured.get(url, headers=h), "bad signature")  # method


def test_tampered_body(secured, issue):
    sub = issue("subsystem", TIANSHAN)
    url = BASE + "/cases"
    body = json.dumps({"major_class": "01", "minor_class": "01", "lon": 87.6, "lat": 43.8}).encode()
    h = signed_headers("POST", url, sub.keyid, sub.alg, sub.secret, body)
    other = body.replace(b"87.6", b"87.7")
    _refusal(secured.post(url, content=other, headers={**h, "content-type": "application/json"}),
             "content-digest mismatch")
    # a body sent under a signature that does not cover its digest
    h = signed_headers("POST", url, sub.keyid, sub.alg, sub.secret)
    _refusal(secured.post(url, content=body, headers={**h, "content-type": "application/json"}),
             "uncovered content-digest")


def test_stale_and_future_created(secured, analyst):
    url = BASE + ITEMS
    for skew in (-400, 400):
        created = datetime.now(timezone.utc) + timedelta(seconds=skew)
        h = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret, created=created)
        _refusal(secured.get(url, headers=h), "stale")
    created = datetime.now(timezone.utc) - timedelta(seconds=250)  # inside the window
    assert secured.get(url, headers=signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret,
                                                   created=created)).status_code == 200


def test_replayed_nonce(secured, analyst):
    url = BASE + ITEMS
    h = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)
    assert secured.get(url, headers=h).status_code == 200
    _refusal(secured.get(url, headers=h), "replayed")
    # the same nonce in a new signature (a fresh `created`) is a replay too
    nonce = h["Signature-Input"].split('nonce="')[1].split('"')[0]
    time.sleep(1.1)
    h2 = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret, nonce=nonce)
    _refusal(secured.get(url, headers=h2), "replayed")


def test_unknown_wrong_secret_revoked_and_rotated_keys(secured, access_db, store, analyst):
    url = BASE + ITEMS
    h = signed_headers("GET", url, "nobody-1234", "hmac-sha256", analyst.secret)
    _refusal(secured.get(url, headers=h), "unknown key")
    wrong = base64.b64encode(b"x" * 32).decode()
    _refusal(secured.get(url, headers=signed_headers("GET", url, analyst.keyid, analyst.alg, wrong)), "bad signature")
    with db.connect(access_db, autocommit=True) as conn:
        new = store.rotate(conn, analyst.keyid, timedelta(hours=1))
    # in the grace period both keys work
    old = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)
    assert secured.get(url, headers=old).status_code == 200
    assert secured.get(url, headers=signed_headers("GET", url, new.keyid, new.alg, new.secret)).status_code == 200
    with db.connect(access_db, autocommit=True) as conn:
        store.revoke(conn, analyst.keyid)
        expired = store.rotate(conn, new.keyid, timedelta(0))
    _refusal(secured.get(url, headers=signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)),
             "revoked key")
    _refusal(secured.get(url, headers=signed_headers("GET", url, new.keyid, new.alg, new.secret)), "expired key")
    assert secured.get(url, headers=signed_headers("GET", url, expired.keyid, expired.alg,
                                                   expired.secret)).status_code == 200


def test_missing_parameters(secured, analyst):
    url = BASE + ITEMS
    h = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)
    _refusal(secured.get(url, headers={"Signature": h["Signature"]}), "missing signature")
    no_nonce = h["Signature-Input"].replace(";nonce=", ";x-nonce=")
    r = secured.get(url, headers={**h, "Signature-Input": no_nonce})
    _refusal(r, "missing nonce")


def test_refusals_reach_the_audit_log(secured, access_db, analyst):
    url = BASE + ITEMS
    h = signed_headers("GET", url, analyst.keyid, analyst.alg, analyst.secret)
    secured.get(url, headers=h)
    secured.get(url, headers=h)  # replayed
    assert secured.app.state.services.access.audit.flush()
    with db.connect(access_db) as conn:
        rows = conn.execute("SELECT actor, action, target, status, detail->>'reason' FROM audit_log "
                            "WHERE actor = %s AND action = 'refused'", (analyst.keyid,)).fetchall()
    assert (analyst.keyid, "refused", "GET /collections/roads/items", 401, "replayed") in rows


def test_a_signed_head_request(secured, analyst):
    """HEAD runs the GET route (api/head.py); the signature covers the method as sent."""
    url = BASE + "/collections/roads/tiles/WebMercatorQuad/14/5970/12179"
    r = secured.head(url, headers=signed_headers("HEAD", url, analyst.keyid, analyst.alg, analyst.secret))
    assert r.status_code in (200, 204) and r.content == b"", r.text
