"""The schema enforces the contract's code formats and parents in the database itself."""
from __future__ import annotations

import dataclasses

import psycopg
import pytest

from urbangis.layers import database as db
from urbangis.layers.contract import BY_NAME, LAYERS, Enum, field_checks
from urbangis.layers.migrate import MigrationError, available, migrate, pending, sync_field_checks

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


def test_databases_sort_text_by_code_point(empty_db):
    """create_database makes a byte-order ("C") collation database: codes sort as Python sorts them
    (UTF-8 byte order is code-point order), the same as the cluster's C.UTF-8, but cheaper to sort."""
    words = ["b", "B", "a", "天山区", "水磨沟区", "1", "650102", "65010", "Éa", "_x"]
    with db.connect(empty_db) as conn:
        collation = conn.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()").fetchone()
        assert collation[0] == "C"
        got = [r[0] for r in conn.execute("SELECT w FROM unnest(%s::text[]) w ORDER BY w", (words,))]
        upper = conn.execute("SELECT upper('éa')").fetchone()[0]
    assert got == sorted(words)
    assert upper == "ÉA"  # character classes still know letters beyond ASCII


def test_every_layer_has_a_gist_index(empty_db):
    tables = ["admin_areas", "unit_grids", "responsibility_grids", "roads", "place_names", "courtyards",
              "house_numbers", "buildings", "organisations", "storefronts", "components", "cases",
              "supervisor_fixes", "supervisor_positions", "patrol_points", "heritage_sites", "protection_zones",
              "historic_streets", "imagery_epochs", "change_patches"]
    with db.connect(empty_db) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist (geom)%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = format('%I', tablename)::regclass)"
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
            "INSERT INTO components (code, name, geom)"
            " VALUES ('6501020101000001', '上水井盖', ST_Point(87.6, 43.8, 4490))",
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


def test_concurrent_writers_bump_their_own_slots(fresh_db):
    """Writers of one table count in the slot of their backend (migration 0012): three open
    transactions change cases at once without waiting for each other's commit, and the view adds
    exactly one per change, the logged ones in ``logged`` too."""
    with db.connect(fresh_db) as conn:
        before = conn.execute("SELECT version, logged FROM layer_state WHERE layer = 'cases'").fetchone()
    conns = [psycopg.connect(fresh_db) for _ in range(3)]
    try:
        pids = [c.info.backend_pid % 16 for c in conns]
        for k, c in enumerate(conns):
            c.execute("SET lock_timeout = '2s'")  # a wait on another's slot row would fail the test here
            if k == 0:
                c.execute("SET LOCAL urbangis.logged = 'on'")
            if len(set(pids)) == 3:  # distinct slots: none waits (a shared slot would, as one row did)
                c.execute("DELETE FROM cases WHERE false")
        if len(set(pids)) != 3:
            for c in conns:
                c.execute("DELETE FROM cases WHERE false")
                c.commit()
        for c in conns:
            c.commit()
    finally:
        for c in conns:
            c.close()
    with db.connect(fresh_db) as conn:
        after = conn.execute("SELECT version, logged FROM layer_state WHERE layer = 'cases'").fetchone()
        slots = conn.execute("SELECT count(*) FROM layer_state_slots WHERE layer = 'cases'").fetchone()[0]
    assert after == (before[0] + 3, before[1] + 1)
    assert slots == len({0} | set(pids))  # slot 0 holds the count from before 0012


_CODE_VALUES = ["", " ", "a", "A-_z9", "x" * 32, "x" * 33, "x" * 40, "x" * 41, "ab c", "é", "１２", "12\n", "\n12",
                "01", "00", "1", "650102", "6501020030010", "65010200300100", "650102003001001", "6501020030010011",
                "65010200300100A", "6501020101000001", "6501020001000001", "6501021001000001", "650102010100001",
                "65010201010000012", "６５０１０２００３００１００１", "-1", "1.5e3"]


_FORMATTED = [(layer, f) for layer in LAYERS for f in layer.fields if f.code is not None]
_ENUMERATED = [(layer, f) for layer in LAYERS for f in layer.fields if f.enum is not None]


@pytest.mark.parametrize("layer, f", _FORMATTED, ids=[f"{lay.name}.{f.name}" for lay, f in _FORMATTED])
def test_code_checks_accept_what_the_contract_accepts(empty_db, layer, f):
    """The database's CHECK of every field with a code format (written from the contract in the
    cheap form, layers/migrate.py) accepts exactly the values the contract's pattern accepts."""
    with db.connect(empty_db) as conn:
        expr = conn.execute("SELECT pg_get_expr(conbin, conrelid) FROM pg_constraint WHERE conname = %s "
                            "AND conrelid = %s::regclass", (f"{layer.table}_{f.name}_check", layer.table)).fetchone()[0]
        for value in _CODE_VALUES:
            db_ok = conn.execute(f"SELECT {expr} FROM (VALUES (%s::text)) AS v({f.name})", (value,)).fetchone()[0]
            assert db_ok == bool(f.code.pattern.fullmatch(value)), (layer.name, f.name, value, expr)


@pytest.mark.parametrize("layer, f", _ENUMERATED, ids=[f"{lay.name}.{f.name}" for lay, f in _ENUMERATED])
def test_enumeration_checks_accept_the_contract_s_values(empty_db, layer, f):
    with db.connect(empty_db) as conn:
        expr = conn.execute("SELECT pg_get_expr(conbin, conrelid) FROM pg_constraint WHERE conname = %s "
                            "AND conrelid = %s::regclass", (f"{layer.table}_{f.name}_check", layer.table)).fetchone()[0]
        for value in (*f.enum.values, *list(f.enum.aliases)[:3], "other", f.enum.values[0].upper()):
            db_ok = conn.execute(f"SELECT {expr} FROM (VALUES (%s::text)) AS v({f.name})", (value,)).fetchone()[0]
            assert db_ok == (value in f.enum.values), (layer.name, f.name, value, expr)


def test_a_new_status_is_one_edit_of_the_contract(fresh_db):
    """A status added to the contract's enumeration is accepted by the database after a migrate,
    with no migration written; a migrate with nothing changed writes nothing."""
    cases = BY_NAME["cases"]
    status = cases.field("status")
    grown = Enum((*status.enum.values, "suspended"), status.enum.aliases)
    fields = tuple(dataclasses.replace(f, enum=grown) if f.name == "status" else f for f in cases.fields)
    edited = tuple(dataclasses.replace(layer, fields=fields) if layer.name == "cases" else layer for layer in LAYERS)
    insert = ("INSERT INTO cases (case_no, kind, major_class, minor_class, status, reported_at, geom) "
              "VALUES ('N1', 'event', '01', '02', 'suspended', now(), ST_Point(87.6, 43.8, 4490))")
    with pytest.raises(psycopg.errors.CheckViolation):
        _exec(fresh_db, [insert])
    with db.connect(fresh_db, autocommit=True) as conn:
        assert sync_field_checks(conn) == []  # nothing changed since the migration
        assert sync_field_checks(conn, field_checks(edited)) == ["cases_status_check"]
    _exec(fresh_db, [insert])
    with db.connect(fresh_db, autocommit=True) as conn:  # taking it out again, while a row holds it, is refused
        with pytest.raises(MigrationError, match="refuse rows it holds"):
            sync_field_checks(conn)
