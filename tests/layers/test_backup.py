"""`urbangis db backup` / `restore`: the sample city dumped with the command data staff run,
restored into a new database, and every table compared row for row; a restore never overwrites a
database without being told to, and a failed one leaves nothing behind."""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from urbangis.layers import backup as bk
from urbangis.layers import database as db


def fingerprint(info: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows (in a fixed order)."""
    out = {}
    with db.connect(info) as conn:
        for table in bk.data_tables(info):
            schema, name = table.split(".", 1)
            ident = sql.Identifier(schema, name)
            n, digest = conn.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
                                             "'')) FROM {} t").format(ident)).fetchone()
            out[table] = (n, digest)
    return out


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "urbangis.api.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_backup_and_restore_give_back_every_row(sample_db, tmp_path, monkeypatch):
    import os

    name = db.database_name(sample_db)
    env = {**os.environ, "URBANGIS_DB_NAME": name}
    dump = tmp_path / "city.dump"
    made = cli("db", "backup", str(dump), env=env)
    assert made.returncode == 0, made.stderr
    assert f"to {dump}" in made.stdout and dump.stat().st_size > 100_000
    assert bk.dump_tables(dump) >= len(bk.data_tables(sample_db)) > 20  # (+ PostGIS's spatial_ref_sys)

    target = f"urbangis_restored_{uuid.uuid4().hex[:8]}"
    restored = make_conninfo(sample_db, dbname=target)
    try:
        done = cli("db", "restore", str(dump), "--into", target, env=env)
        assert done.returncode == 0, done.stderr
        assert f"into {target}" in done.stdout
        before, after = fingerprint(sample_db), fingerprint(restored)
        assert after == before
        cases = sum(n for t, (n, _) in before.items() if t.startswith("public.cases_"))  # a table per month
        assert before["public.house_numbers"][0] > 1000 and cases > 0
        # PostGIS, the policies and the API role came along: the restored copy serves as the original
        with db.connect(restored) as conn:
            assert conn.execute("SELECT count(*) FROM pg_policies WHERE tablename = 'cases'").fetchone()[0] >= 1
            assert conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        # a database that exists is not overwritten without --replace ...
        again = cli("db", "restore", str(dump), "--into", target, env=env)
        assert again.returncode != 0 and f"database {target} exists" in again.stderr
        # ... and with it, it is dropped and restored in its place
        with db.connect(restored, autocommit=True) as conn:
            conn.execute("DELETE FROM cases")
        replaced = cli("db", "restore", str(dump), "--into", target, "--replace", env=env)
        assert replaced.returncode == 0, replaced.stderr
        assert fingerprint(restored) == before
    finally:
        db.drop_database(restored)


def test_a_damaged_backup_restores_nothing(sample_db, tmp_path):
    dump = tmp_path / "broken.dump"
    bk.backup(sample_db, dump)
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) // 2])  # cut short, as a copy interrupted half way
    target = make_conninfo(sample_db, dbname=f"urbangis_restored_{uuid.uuid4().hex[:8]}")
    with pytest.raises(bk.BackupError, match="pg_restore failed"):
        bk.restore(dump, target)
    with db.connect(make_conninfo(sample_db, dbname="postgres")) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (db.database_name(target),)).fetchone() is None
    with pytest.raises(bk.BackupError, match="no such backup file"):
        bk.restore(tmp_path / "missing.dump", target)
