"""``urbangis keys`` (callers' keys) and ``urbangis audit`` (the audit log): docs/access.md."""
from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click

from urbangis.access import roles as R
from urbangis.access.algorithms import ALGORITHMS
from urbangis.access.keys import KeyError_, KeyStore
from urbangis.access.sealing import SecretBox
from urbangis.layers import database as db
from urbangis.layers.settings import Settings


def _store(config: Settings) -> KeyStore:
    return KeyStore(SecretBox(config.access.key_file(config.database.home)))


def _show(issued: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(issued, ensure_ascii=False))
        return
    for k, v in issued.items():
        click.echo(f"{k}: {v}")
    click.secho("the secret (or private key) above is shown this once: give it to the caller now", fg="yellow",
                err=True)


@click.group("keys")
def keys() -> None:
    """Callers' keys: each bound to a name, a role and an admin area; requests are signed with them
    (RFC 9421 HTTP Message Signatures; docs/access.md shows a caller in Python and with curl)."""


@keys.command("create")
@click.option("--name", required=True, help="Who the key is for (a subsystem, a county's GIS office, ...).")
@click.option("--role", required=True, type=click.Choice(list(R.ROLES)), help="What the key may do.")
@click.option("--area", required=True, help="Admin code the key sees (e.g. 650102 for 天山区); its outline "
                                            "bounds every read and write.")
@click.option("--alg", default="hmac-sha256", show_default=True, type=click.Choice(list(ALGORITHMS)),
              help="Signature algorithm: a shared secret (hmac-sha256, hmac-sm3) or a key pair (ed25519).")
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="ed25519: the caller's public key (PEM or base64 file); without it a pair is "
                                 "made and the private key shown once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keyid, alg, secret or keys).")
def create_cmd(name: str, role: str, area: str, alg: str, public_key: Path | None, as_json: bool) -> None:
    """Issue a key. The HMAC secret (base64) is shown only now; the server keeps it encrypted."""
    from .cli import settings

    config = settings()
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        try:
            issued = _store(config).create(conn, name, role, area, alg,
                                           public_key.read_text() if public_key else None)
        except KeyError_ as exc:
            raise click.ClickException(str(exc)) from None
    _show(issued.shown(), as_json)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_cmd(as_json: bool) -> None:
    """Every key: id, name, role, area, algorithm, state (never a secret)."""
    from .cli import settings

    config = settings()
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        rows = _store(config).listing(conn)
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, default=str, ensure_ascii=False))
        else:
            click.echo(f"{r['keyid']:<32} {r['state']:<9} {r['role']:<10} {r['area']:<13} {r['alg']:<12} {r['name']}")


@keys.command("rotate")
@click.argument("keyid")
@click.option("--grace-hours", default=None, type=float,
              help="Hours the old key stays valid [default: URBANGIS_AUTH_GRACE_HOURS, 24].")
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="ed25519: the caller's new public key.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rotate_cmd(keyid: str, grace_hours: float | None, public_key: Path | None, as_json: bool) -> None:
    """Issue the caller of KEYID a new key; the old one stays valid for the grace period."""
    from .cli import settings

    config = settings()
    hours = config.access.auth_grace_hours if grace_hours is None else grace_hours
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        try:
            issued = _store(config).rotate(conn, keyid, timedelta(hours=hours),
                                           public_key.read_text() if public_key else None)
        except KeyError_ as exc:
            raise click.ClickException(str(exc)) from None
    _show({**issued.shown(), "replaces": keyid, "old_key_valid_hours": hours}, as_json)


@keys.command("revoke")
@click.argument("keyid")
def revoke_cmd(keyid: str) -> None:
    """End KEYID now (servers stop accepting it within URBANGIS_AUTH_KEY_CACHE seconds)."""
    from .cli import settings

    config = settings()
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        try:
            _store(config).revoke(conn, keyid)
        except KeyError_ as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {keyid}")


def _people(config: Settings):
    from urbangis.access.people import People

    a = config.access
    return People(SecretBox(a.key_file(config.database.home)), a.auth_lockout, a.auth_lockout_minutes,
                  a.auth_idle_minutes)


@click.group("people")
def people() -> None:
    """Staff who log in to the map and ingest pages (password: Argon2id; optional TOTP)."""


@people.command("add")
@click.argument("login")
@click.option("--name", required=True, help="The person's name.")
@click.option("--role", required=True, type=click.Choice(list(R.ROLES)), help="What the person may do.")
@click.option("--area", required=True, help="Admin code the person sees.")
@click.option("--totp", is_flag=True,
              help="Require a one-time code: prints the otpauth:// URI for an authenticator app.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def people_add(login: str, name: str, role: str, area: str, totp: bool, password_stdin: bool) -> None:
    """Add LOGIN (the password is asked for, twice, and never shown)."""
    from urbangis.access.people import PersonError

    from .cli import settings

    password: str = (sys.stdin.readline().rstrip("\n") if password_stdin
                     else click.prompt("password", hide_input=True, confirmation_prompt=True))
    config = settings()
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        try:
            uri = _people(config).add(conn, login, name, role, area, password, totp)
        except PersonError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"added {login} ({role}, area {area})")
    if uri:
        click.echo(f"one-time codes: add this to an authenticator app (shown once): {uri}")


@people.command("list")
def people_list() -> None:
    """Everyone who may log in: role, area, second factor, lockout."""
    from .cli import settings

    config = settings()
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        for p in _people(config).listing(conn):
            state = "disabled" if p["disabled"] else (f"locked until {p['locked_until']:%H:%M}" if p["locked_until"]
                                                      else "active")
            click.echo(f"{p['login']:<24} {p['role']:<10} {p['area']:<13} {'totp' if p['totp'] else '    '} "
                       f"{state:<22} {p['name']}")


@people.command("unlock")
@click.argument("login")
def people_unlock(login: str) -> None:
    """Lift LOGIN's lockout."""
    _person_change(login, "unlock")


@people.command("disable")
@click.argument("login")
def people_disable(login: str) -> None:
    """Stop LOGIN from logging in and end their sessions."""
    _person_change(login, "disable")


def _person_change(login: str, what: str) -> None:
    from urbangis.access.people import PersonError

    from .cli import settings

    config = settings()
    with db.connect(db.conninfo(config.database), autocommit=True) as conn:
        try:
            getattr(_people(config), what)(conn, login)
        except PersonError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{what}d {login}" if what.endswith("e") else f"{what}ed {login}")


@click.group("audit")
def audit() -> None:
    """The audit log: append-only, hash-chained (docs/access.md)."""


@audit.command("verify")
@click.option("--anchor", default=None, help="SEQ:HASH printed by an earlier check and kept off the server: the "
                                             "chain must still hold that row (catches a log cut at its end).")
def verify_cmd(anchor: str | None) -> None:
    """Walk the hash chain; exit 1 naming the first row removed or changed. Prints the head to keep
    as the next check's anchor."""
    from urbangis.access.audit import verify

    from .cli import settings

    config = settings()
    with db.connect(db.conninfo(config.database)) as conn:
        try:
            verdict = verify(conn, anchor)
        except ValueError:
            raise click.BadParameter("an anchor is SEQ:HASH as a check printed it", param_hint="--anchor") from None
    if verdict.ok:
        click.echo(f"audit log intact: {verdict.rows} rows, chain unbroken; head {verdict.head} "
                   "(keep it off the server; the next check takes it as --anchor)")
        return
    raise click.ClickException(f"audit log BROKEN after {verdict.rows} good rows: {verdict.problem}")
