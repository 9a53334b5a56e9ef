"""The audit log: writes, ingest jobs and refusals recorded with who, what, when and from where;
append-only; the hash chain proves nothing was removed or changed (`urbangis audit verify`)."""
from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from urbangis.access import audit
from urbangis.api.cli import main
from urbangis.layers import database as db

from .conftest import TIANSHAN


def _entries(n: int, actor: str = "tester") -> list[audit.Entry]:
    return [audit.Entry(actor=actor, action="write", target=f"POST /x/{i}", status=201, client="127.0.0.1",
                        detail={"i": i, "名": "天山"}) for i in range(n)]


def test_a_write_is_recorded_with_who_what_where(secured, access_db, callers, issue):
    sub = callers["tianshan_sub"]
    r = sub.post_json("/supervisors/fixes", {"fixes": []})
    assert r.status_code in (201, 400), r.text
    assert secured.app.state.services.access.audit.flush()
    with db.connect(access_db) as conn:
        row = conn.execute("SELECT actor, role, area, action, target, status, client FROM audit_log WHERE actor = %s "
                           "AND action = 'write' ORDER BY seq DESC LIMIT 1", (sub.key.keyid,)).fetchone()
    assert row[:5] == (sub.key.keyid, "subsystem", TIANSHAN, "write", "POST /supervisors/fixes")
    assert row[5] == r.status_code and row[6]


def test_the_chain_verifies_and_a_removed_or_changed_row_is_found(fresh_db):
    with db.connect(fresh_db, autocommit=True) as conn:
        audit.append(conn, _entries(5))
        audit.append(conn, _entries(3, "second"))
        first = audit.verify(conn)
        assert (first.rows, first.ok) == (8, True)
        # no one updates or deletes it, not even its owner, while the trigger stands
        for bad in ("UPDATE audit_log SET actor = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2",
                    "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(bad)
        # a superuser who drops the guard and edits is still caught by the chain
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_log SET detail = '{\"i\": 99}' WHERE seq = 3")
        verdict = audit.verify(conn)
        assert not verdict.ok and verdict.problem == "row 3 was changed after it was written" and verdict.rows == 2
        conn.execute("UPDATE audit_log SET detail = '{\"i\": 2, \"名\": \"天山\"}' WHERE seq = 3")
        assert audit.verify(conn).ok
        conn.execute("DELETE FROM audit_log WHERE seq = 6")
        verdict = audit.verify(conn)
        assert not verdict.ok and "rows 6..6 are missing" in verdict.problem
        # the tail cut and written on: whole in itself, caught by the head an earlier check printed
        conn.execute("DELETE FROM audit_log WHERE seq > 5")
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
        audit.append(conn, _entries(1))
        assert audit.verify(conn).ok
        cut = audit.verify(conn, first.head)
        assert not cut.ok and "ends at row 6, before the anchor's row 8" in cut.problem
        audit.append(conn, _entries(3))
        assert "not the row the anchor names" in audit.verify(conn, first.head).problem


def test_the_command_line_says_intact_or_broken(fresh_db, monkeypatch):
    with db.connect(fresh_db, autocommit=True) as conn:
        audit.append(conn, _entries(4))
    monkeypatch.setenv("URBANGIS_DATABASE_URL", fresh_db)
    ok = CliRunner().invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 4 rows" in ok.output, ok.output
    with db.connect(fresh_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    broken = CliRunner().invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1 and "rows 2..2 are missing" in broken.output, broken.output


def test_partitions_are_monthly_and_made_ahead(fresh_db):
    with db.connect(fresh_db, autocommit=True) as conn:
        audit.append(conn, _entries(1))
        parts = [r[0] for r in conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                            "WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1")]
    assert len(parts) >= 2 and all(p.startswith("audit_log_20") and len(p) == len("audit_log_202612") for p in parts)
