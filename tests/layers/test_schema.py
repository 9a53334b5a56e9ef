"""The schema enforces the contract's code formats and parents in the database itself."""
from __future__ import annotations

import psycopg
import pytest

from layers import database as db
from layers.migrate import available, migrate, pending

SQUARE = "ST_Multi(ST_GeomFromText('POLYGON((87.6 43.8,87.601 43.8,87.601 43.801,87.6 43.801,87.6 43.8))', 4490))"


def test_migrations_applied_once(empty_db):
    with db.connect(empty_db, autocommit=True) as conn:
        assert migrate(conn) == []  # second run has nothing to do
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in available()]


def test_pending_migrations_read_without_writing(empty_db):
    import uuid

    from psycopg.conninfo import make_conninfo

    with db.connect(empty_db) as conn:
        assert pending(conn) == []
    bare = make_conninfo(empty_db, dbname=f"urbangis_test_bare_{uuid.uuid4().hex[:8]}")
    db.create_database(bare)
    try:
        with db.connect(bare) as conn:
            assert [m.version for m in pending(conn)] == [m.version for m in available()]
            assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None
    finally:
        db.drop_database(bare)


def test_every_layer_has_a_gist_index(empty_db):
    tables = ["admin_areas", "unit_grids", "responsibility_grids", "roads", "place_names", "courtyards",
              "house_numbers", "buildings", "organisations", "storefronts", "components", "cases"]
    with db.connect(empty_db) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist (geom)%'"
        ).fetchall()
    assert sorted(tables) == sorted(r[0] for r in rows)


def _exec(info: str, statements: list[str]) -> None:
    with db.connect(info) as conn:
        with conn.transaction():
            for stmt in statements:
                conn.execute(stmt)


ADMIN = (
    "INSERT INTO admin_areas (code, name, level, parent_code) VALUES "
    "('650102', '天山区', 'district', '650100'), ('650102003', '胜利路街道', 'street', '650102'),"
    "('650102003001', '三甬碑社区', 'community', '650102003')"
)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO admin_areas (code, name, level, parent_code) VALUES ('65010', '短', 'district', NULL)",
        "INSERT INTO admin_areas (code, name, level, parent_code) VALUES ('650102999', '错', 'district', NULL)",
        # a street whose code does not start with its district's
        "INSERT INTO admin_areas (code, name, level, parent_code) VALUES ('650103003', '错', 'street', '650102')",
        f"INSERT INTO unit_grids (code, community_code, geom) VALUES ('6501020030010011', '650102003001', {SQUARE})",
        f"INSERT INTO unit_grids (code, community_code, geom) VALUES ('65010200300100A', '650102003001', {SQUARE})",
        # grid code must start with its community code
        f"INSERT INTO unit_grids (code, community_code, geom) VALUES ('650102003002001', '650102003001', {SQUARE})",
        "INSERT INTO components (code, name, geom) VALUES ('650102010100001', '井盖', ST_Point(87.6, 43.8, 4490))",
        "INSERT INTO components (code, name, geom) VALUES ('6501020001000001', '井盖', ST_Point(87.6, 43.8, 4490))",
        "INSERT INTO cases (case_no, kind, major_class, minor_class, status, reported_at, geom) "
        "VALUES ('A1', 'event', '01', '02', 'lost', now(), ST_Point(87.6, 43.8, 4490))",
    ],
)
def test_malformed_codes_are_rejected(fresh_db, statement):
    _exec(fresh_db, [ADMIN])
    with pytest.raises(psycopg.errors.CheckViolation):
        _exec(fresh_db, [statement])


def test_well_formed_rows_are_accepted(fresh_db):
    _exec(
        fresh_db,
        [
            ADMIN,
            f"INSERT INTO unit_grids (code, community_code, geom) VALUES ('650102003001001', '650102003001', {SQUARE})",
            f"INSERT INTO unit_grids (code, community_code, geom) VALUES ('65010200300102', '650102003001', {SQUARE})",
            "INSERT INTO components (code, name, geom) VALUES ('6501020101000001', '上水井盖', ST_Point(87.6, 43.8, 4490))",
        ],
    )
    with db.connect(fresh_db) as conn:
        row = conn.execute("SELECT district_code, major_class, minor_class FROM components").fetchone()
    assert row == ("650102", "01", "01")


def test_missing_parent_fails_at_commit(fresh_db):
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="parent_code 650102 does not exist"):
        _exec(fresh_db, ["INSERT INTO admin_areas (code, name, level, parent_code) "
                         "VALUES ('650102003', '胜利路街道', 'street', '650102')"])


def test_changes_bump_layer_version(fresh_db):
    with db.connect(fresh_db) as conn:
        before = conn.execute("SELECT version FROM layer_state WHERE layer = 'admin_areas'").fetchone()[0]
    _exec(fresh_db, [ADMIN])
    with db.connect(fresh_db) as conn:
        after = conn.execute("SELECT version FROM layer_state WHERE layer = 'admin_areas'").fetchone()[0]
    assert after == before + 1
