"""A big load built in a new table beside the layer's own, swapped in at the end of the layer.

The direct lane (direct.py) drops a table's key and indexes for its COPY and builds them once at
the end, which takes the table exclusively: on the table itself, every reader (the map's tiles,
OGC API pages, case queries) would wait for the whole load, holding a pooled connection each, and
a server whose pool is full of them answers nothing else (a 1M-component --replace: /collections
items waited 5.7 s, /healthz gave 503). So where it is safe the lane loads a new table,
``<table>__load`` (``LIKE`` the table: columns, defaults, generated columns, CHECKs, storage,
comments), builds its key and indexes under temporary names and its foreign keys, and then, in the
load's transaction still, drops the old table and renames the new one into its place, with the old
names, triggers and grants. Writers (and another load of the layer) wait from the start; readers
keep reading the old rows until the commit, and only the swap itself (catalog changes, no data)
takes the table exclusively (asked for a short while at a time: locks.py). The same pattern as
imposm's table rotation, one table at a time. It is all one transaction: a failure or a rollback
leaves the old table exactly as it was.

Hand-written because no library does this: pg_repack swaps a rebuilt table's files in place, but
it needs its server extension and rebuilds the rows a table already has.

Only a table whose every dependent object the swap puts back is swapped (:func:`possible`): no
foreign key, view or rule pointing at it, no row-level or constraint trigger, publication,
inheritance or owned sequence, owned by the loading role; any other goes on loading in place. Its
row-level security and policies (access control, migration 0013) are put back with the rest, in
the same transaction: no reader ever sees the table without them.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from urbangis.layers.contract import Layer

from . import fetch, locks

log = logging.getLogger("urbangis.ingest")

SUFFIX = "__load"

# Everything that depends on the table is the table's own and put back by the swap: its indexes
# and TOAST table, its constraints (key, CHECKs, foreign keys to other tables, and the internal
# triggers of those), its statement-level triggers (enabled), column defaults, row type, extended
# statistics (copied by LIKE), grants on the whole table, row-level security and its policies. A
# view, rule, publication,
# sequence, column grant, another table's foreign key (or its own: it would point at the old
# table), an UNLOGGED table or one in another tablespace is not, and keeps the load in place.
_POSSIBLE = """
SELECT c.relkind = 'r' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND c.relpersistence = 'p' AND c.relreplident = 'd' AND c.reltablespace = 0
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL)
   AND NOT c.relhassubclass AND NOT c.relispartition
   AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid)
   AND NOT EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = c.oid)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype NOT IN ('p', 'c', 'f'))
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid = c.oid)
   AND NOT EXISTS (
       SELECT 1 FROM pg_depend d
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
          AND NOT (d.classid = 'pg_class'::regclass AND (d.objid = c.reltoastrelid OR EXISTS (
                   SELECT 1 FROM pg_index x WHERE x.indexrelid = d.objid AND x.indrelid = c.oid)))
          AND NOT (d.classid = 'pg_policy'::regclass AND EXISTS (
                   SELECT 1 FROM pg_policy p WHERE p.oid = d.objid AND p.polrelid = c.oid))
          AND NOT (d.classid = 'pg_constraint'::regclass AND EXISTS (
                   SELECT 1 FROM pg_constraint k WHERE k.oid = d.objid AND k.conrelid = c.oid))
          AND NOT (d.classid = 'pg_trigger'::regclass AND EXISTS (
                   SELECT 1 FROM pg_trigger g WHERE g.oid = d.objid AND (
                          (NOT g.tgisinternal AND g.tgrelid = c.oid AND g.tgtype & 1 = 0 AND g.tgconstraint = 0
                           AND g.tgenabled = 'O')
                       OR (g.tgisinternal AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.oid = g.tgconstraint
                                                        AND k.conrelid = c.oid AND k.contype = 'f')))))
          AND d.classid NOT IN ('pg_attrdef'::regclass, 'pg_type'::regclass, 'pg_statistic_ext'::regclass))
  FROM pg_class c WHERE c.oid = %s::regclass
"""


def possible(conn: psycopg.Connection, layer: Layer) -> bool:
    """Whether the layer's table can be built anew beside it and swapped in (see the module)."""
    return bool(fetch.one(conn.execute(_POSSIBLE, (layer.table,)))[0])


@dataclass
class Beside:
    """The layer's table, what the swap puts back on the new one, and the new one's name."""

    table: str
    new: str
    primary_key: tuple[str, str] | None = None  # (name, definition)
    foreign_keys: list[tuple[str, str]] = field(default_factory=list)
    indexes: list[tuple[str, str]] = field(default_factory=list)  # (name, CREATE INDEX ...)
    triggers: list[str] = field(default_factory=list)  # CREATE TRIGGER ... ON the table
    grants: list[tuple[str | None, str, bool]] = field(default_factory=list)  # (grantee or None: PUBLIC, ...)
    indexed: list[str] = field(default_factory=list)  # columns some index of the table holds
    comment: str | None = None
    row_security: tuple[bool, bool] = (False, False)  # enabled, forced
    policies: list[str] = field(default_factory=list)  # CREATE POLICY ... ON the table


def create(conn: psycopg.Connection, layer: Layer) -> Beside:
    """Read what the table has and create its empty twin ``<table>__load`` (no key, no indexes,
    no triggers yet) in the load's transaction. The caller holds the table in SHARE ROW EXCLUSIVE
    mode: writers wait, readers do not."""
    t = layer.table
    b = Beside(t, t + SUFFIX)
    b.primary_key = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                                 "%s::regclass AND contype = 'p'", (t,)).fetchone()
    b.foreign_keys = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                                  "%s::regclass AND contype = 'f' ORDER BY conname", (t,)).fetchall()
    b.indexes = conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = "
        "x.indexrelid) ORDER BY i.relname", (t,)).fetchall()
    b.triggers = [r[0] for r in conn.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
        "ORDER BY tgname", (t,))]
    b.grants = [(None if grantee == 0 else name, privilege, grantable) for grantee, name, privilege, grantable in
                conn.execute("SELECT a.grantee, pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable "
                             "FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s::regclass "
                             "AND a.grantee <> c.relowner", (t,))]
    b.comment = fetch.one(conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (t,)))[0]
    b.indexed = [r[0] for r in conn.execute(
        "SELECT DISTINCT a.attname FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid "
        "AND a.attnum = ANY (x.indkey) WHERE x.indrelid = %s::regclass ORDER BY 1", (t,))]
    rls = fetch.one(conn.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
                                 (t,)))
    b.row_security = (bool(rls[0]), bool(rls[1]))
    b.policies = [_policy(t, *r) for r in conn.execute(
        "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
        "WHERE schemaname = current_schema() AND tablename = %s ORDER BY policyname", (t,))]
    options = fetch.one(conn.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (t,)))[0]
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(b.new)))  # only ever one of ours
    conn.execute(sql.SQL(
        "CREATE TABLE {new} (LIKE {t} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS "
        "INCLUDING STORAGE INCLUDING COMMENTS INCLUDING STATISTICS INCLUDING COMPRESSION){options}").format(
        new=sql.Identifier(b.new), t=sql.Identifier(t),
        # reloptions as the catalog holds them (fillfactor=70, autovacuum_...): key=value, no quoting needed
        options=sql.SQL(" WITH ({})".format(", ".join(options))) if options else sql.SQL("")))
    return b


def _temporary(name: str) -> str:
    """A name for the new table's index or constraint while the old one still holds ``name``."""
    return (name[: 63 - len(SUFFIX)] + SUFFIX) if len((name + SUFFIX).encode()) > 63 else name + SUFFIX


def new_key(b: Beside) -> tuple[str, str] | None:
    """(name, definition) of the table's primary key for the new table: a temporary name (the
    key's index takes it, and index names are unique in the schema), renamed by :func:`swap`."""
    return None if b.primary_key is None else (_temporary(b.primary_key[0]), b.primary_key[1])


def new_indexes(conn: psycopg.Connection, b: Beside) -> list[str]:
    """CREATE INDEX statements of the table's other indexes for the new table, under temporary
    names, renamed by :func:`swap`. Its foreign keys keep their names (``b.foreign_keys``): a
    constraint name need only be unique on its table, as for the CHECKs LIKE copied."""
    quoted = sql.Identifier(b.new).as_string(conn)
    out = []
    for name, definition in b.indexes:
        m = re.match(r"CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ (.*)$", definition, re.S)
        if m is None:  # pg_get_indexdef always writes this form; anything else is a bug to hear of
            raise RuntimeError(f"unexpected index definition: {definition}")
        out.append(f"CREATE {m.group(1) or ''}INDEX {sql.Identifier(_temporary(name)).as_string(conn)} "
                   f"ON {quoted} {m.group(3)}")
    return out


def analyze(conn: psycopg.Connection, b: Beside) -> None:
    """Statistics of the new table's indexed columns, before it is read: a new table has none until
    autovacuum comes by, and the planner would guess meanwhile. The columns some index holds are
    those plans turn on; sampling the others too (the grids' five tile-geometry columns) took
    58,338 unit grids 0.45 s instead of 0.10 s (1M components 0.26 s, 1M cases 0.37 s)."""
    if b.indexed:
        conn.execute(sql.SQL("ANALYZE {} ({})").format(sql.Identifier(b.new),
                                                      sql.SQL(", ").join(map(sql.Identifier, b.indexed))))


def _policy(table: str, name: str, permissive: str, roles: list[str], cmd: str, qual: str | None,
            check: str | None) -> str:
    """The CREATE POLICY statement of a policy as pg_policies shows it."""
    who = ", ".join("PUBLIC" if r == "public" else sql.Identifier(r).as_string(None) for r in roles)
    text = (f"CREATE POLICY {sql.Identifier(name).as_string(None)} ON {sql.Identifier(table).as_string(None)} "
            f"AS {permissive} FOR {cmd} TO {who}")
    if qual is not None:
        text += f" USING ({qual})"
    if check is not None:
        text += f" WITH CHECK ({check})"
    return text


def swap(conn: psycopg.Connection, b: Beside) -> None:
    """Drop the old table and put the new one in its place, with the old names, triggers, grants
    and comment. Takes the table exclusively (readers wait from here to the commit: catalog
    changes only, no rows are written); raises :class:`locks.TableInUse` when it cannot."""
    t, new = sql.Identifier(b.table), sql.Identifier(b.new)
    locks.lock_exclusive(conn, b.table, "the new table was built, but could not be swapped in")
    conn.execute(sql.SQL("DROP TABLE {}").format(t))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, t))
    if b.primary_key is not None:  # its index is renamed with it
        conn.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            t, sql.Identifier(_temporary(b.primary_key[0])), sql.Identifier(b.primary_key[0])))
    for name, _ in b.indexes:
        conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(_temporary(name)),
                                                                  sql.Identifier(name)))
    for definition in b.triggers:  # they name the table, which is this one again
        conn.execute(definition)
    for grantee, privilege, grantable in b.grants:
        conn.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(
            sql.SQL(privilege), t, sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee),
            sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    if b.comment is not None:
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(t, sql.Literal(b.comment)))
    if b.row_security[0]:
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(t))
    if b.row_security[1]:
        conn.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(t))
    for statement in b.policies:
        conn.execute(statement)
    # the COPY into the new table fired no trigger (they were not there yet): fire the table's
    # statement triggers once, as any change of its rows does (layer_state's version: caches,
    # geocoder and OGC collections see the new rows)
    conn.execute(sql.SQL("DELETE FROM {} WHERE false").format(t))
    log.debug("%s swapped in for %s", b.new, b.table)
