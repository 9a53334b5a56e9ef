"""Cases are partitioned by month (migration 0015): queries of a time window read only its months,
rows of a month without a partition wait in the default one until a load settles them, and a case
number stays unique across months through case_numbers, whatever writes the rows."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import psycopg
import pytest

from urbangis.cases import peer
from urbangis.layers import database as db
from urbangis.layers import partitions

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")
INSERT = ("INSERT INTO cases (case_no, kind, major_class, minor_class, status, reported_at, geom) "
          "VALUES (%s, 'event', '01', '02', 'reported', %s, ST_SetSRID(ST_MakePoint(87.6, 43.8), 4490))")


def _month_of(conn: psycopg.Connection, case_no: str) -> str:
    return conn.execute("SELECT tableoid::regclass::text FROM cases WHERE case_no = %s", (case_no,)).fetchone()[0]


def _scanned(plan: list[str]) -> set[str]:
    """The partitions of cases a plan reads."""
    return {word for line in plan for word in line.replace("(", " ").split() if word.startswith("cases_")
            and word[6:].isdigit() or word == "cases_default"}


def test_a_window_of_days_reads_only_its_months(fresh_db):
    with db.connect(fresh_db) as conn:
        for i, month in enumerate(range(1, 13)):
            conn.execute(INSERT, (f"P{i:03d}", dt.datetime(2024, month, 15, 10, tzinfo=BEIJING)))
        assert partitions.settle(conn) == 12
        conn.execute("ANALYZE cases")
        at = dt.datetime(2024, 7, 2, 12, tzinfo=BEIJING)  # a 72 h window reaching back into June
        window = dt.timedelta(hours=72)
        plan = [r[0] for r in conn.execute(  # the similar-case statement of the case domain (cases/peer.py)
            "EXPLAIN " + peer.SIMILAR,
            {"kind": "event", "major": "01", "minor": "02", "lon": 87.6, "lat": 43.8, "at": at, "same_major": 0.5,
             "window": window, "counted": ["reported"], "deg": 0.001, "radius": 50.0})]
        assert _scanned(plan) == {"cases_202406", "cases_202407"}, "\n".join(plan)
        # a month's statistics: one partition, the default one pruned too
        plan = [r[0] for r in conn.execute(
            "EXPLAIN SELECT status, count(*) FROM cases WHERE reported_at >= %s AND reported_at < %s GROUP BY 1",
            (dt.datetime(2024, 3, 1, tzinfo=BEIJING), dt.datetime(2024, 4, 1, tzinfo=BEIJING)))]
        assert _scanned(plan) == {"cases_202403"}, "\n".join(plan)
        # a parameter known only when the statement runs: pruned at execution ("Subplans Removed")
        conn.execute("PREPARE w(timestamptz) AS SELECT count(*) FROM cases WHERE reported_at > $1")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        plan = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE w('2024-12-01 00:00+08')")]
        assert any("Subplans Removed" in line for line in plan), "\n".join(plan)
        assert conn.execute("SELECT count(*) FROM cases WHERE reported_at > '2024-06-20'").fetchone()[0] == 6


def test_a_month_without_a_partition_waits_in_the_default_one_until_settled(fresh_db):
    with db.connect(fresh_db) as conn:
        conn.execute(INSERT, ("OLD1", dt.datetime(2019, 5, 31, 23, 30, tzinfo=BEIJING)))  # 15:30 UTC: still May here
        conn.execute(INSERT, ("OLD2", dt.datetime(2019, 6, 1, 0, 10, tzinfo=BEIJING)))
        assert _month_of(conn, "OLD1") == "cases_default"
        assert conn.execute("SELECT count(*) FROM cases WHERE reported_at < '2020-01-01'").fetchone()[0] == 2
        assert partitions.settle(conn) == 2
        assert (_month_of(conn, "OLD1"), _month_of(conn, "OLD2")) == ("cases_201905", "cases_201906")
        assert conn.execute("SELECT count(*) FROM cases_default").fetchone()[0] == 0
        assert partitions.settle(conn) == 0
        # made ahead: this month and the next two, once
        today = dt.date(2031, 12, 5)
        assert partitions.ahead(conn, today) == 3 and partitions.ahead(conn, today) == 0
        assert {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'cases_203%%' "
                                                              "AND relkind = 'r'")} == {
            "cases_203112", "cases_203201", "cases_203202"}
        # a month's bounds are Beijing's midnights (the sessions' time zone)
        bounds = conn.execute("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'cases_201906'")
        assert "2019-06-01 00:00:00+08" in bounds.fetchone()[0]


def test_a_case_number_is_unique_across_months_and_its_events_follow_it(fresh_db):
    with db.connect(fresh_db) as conn:
        partitions.ahead(conn, dt.date(2024, 1, 1), months=3)
        conn.execute(INSERT, ("N1", dt.datetime(2024, 1, 10, tzinfo=BEIJING)))
        conn.execute("INSERT INTO case_events (case_no, stage) VALUES ('N1', 'reported')")
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation, match="case_numbers_pkey"):
            conn.execute(INSERT, ("N1", dt.datetime(2024, 3, 10, tzinfo=BEIJING)))
        conn.rollback()
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot be changed"):
            conn.execute("UPDATE cases SET case_no = 'N2' WHERE case_no = 'N1'")
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO case_events (case_no, stage) VALUES ('NONE', 'reported')")
        conn.rollback()
        # moved to another month: the row changes partition, its number follows
        february = dt.datetime(2024, 2, 3, tzinfo=BEIJING)
        conn.execute("UPDATE cases SET reported_at = %s WHERE case_no = 'N1'", (february,))
        assert _month_of(conn, "N1") == "cases_202402"
        assert conn.execute("SELECT reported_at FROM case_numbers WHERE case_no = 'N1'").fetchone()[0] == february
        conn.execute("DELETE FROM cases WHERE case_no = 'N1'")
        assert conn.execute("SELECT count(*) FROM case_numbers").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM case_events").fetchone()[0] == 0  # cascaded
        conn.execute(INSERT, ("N1", dt.datetime(2024, 3, 10, tzinfo=BEIJING)))  # the number is free again
        conn.execute("INSERT INTO case_events (case_no, stage) VALUES ('N1', 'reported')")
        conn.execute("TRUNCATE cases")
        assert conn.execute("SELECT (SELECT count(*) FROM case_numbers), (SELECT count(*) FROM case_events)"
                            ).fetchone() == (0, 0)


def test_the_api_role_reads_cases_through_their_policy_only(fresh_db):
    with db.connect(fresh_db) as conn:
        partitions.ahead(conn, dt.date(2024, 1, 1), months=0)
        conn.execute(INSERT, ("R1", dt.datetime(2024, 1, 10, tzinfo=BEIJING)))
        conn.execute("SET ROLE urbangis_api")
        for table in ("cases_202401", "cases_default", "case_numbers"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")
            conn.rollback()
            conn.execute("SET ROLE urbangis_api")
        # no area set: the policy shows nothing, and the partition function still runs (owner's rights)
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
        assert conn.execute("SELECT urbangis_cases_partition('2024-05-07')").fetchone()[0] is True


def test_the_sample_city_loads_into_month_partitions(sample_db):
    with db.connect(sample_db) as conn:
        months, loose, total = conn.execute(
            "SELECT count(DISTINCT tableoid) FILTER (WHERE tableoid <> 'cases_default'::regclass), "
            "count(*) FILTER (WHERE tableoid = 'cases_default'::regclass), count(*) FROM cases").fetchone()
        numbers = conn.execute("SELECT count(*) FROM case_numbers").fetchone()[0]
    assert total > 0 and loose == 0 and months >= 12 and numbers == total


def test_making_a_month_waits_at_most_two_seconds_for_a_long_reader(fresh_db):
    import time

    with db.connect(fresh_db) as reader, db.connect(fresh_db, autocommit=True) as conn:
        conn.execute(INSERT, ("W1", dt.datetime(2018, 3, 3, tzinfo=BEIJING)))  # in the default partition
        reader.execute("SELECT count(*) FROM cases").fetchone()  # a long read holds the default partition
        t0 = time.monotonic()
        assert conn.execute("SELECT urbangis_cases_partition('2018-03-01')").fetchone()[0] is False
        assert 1.5 < time.monotonic() - t0 < 10  # it gave up after lock_timeout, nothing made
        assert conn.execute("SELECT to_regclass('cases_201803')").fetchone()[0] is None
        assert _month_of(conn, "W1") == "cases_default"
        reader.rollback()
        assert partitions.settle(conn) == 1 and _month_of(conn, "W1") == "cases_201803"


def test_a_statement_racing_a_settle_sees_every_moved_row(fresh_db):
    """A reader planned while rows move out of the default partition must not miss them: the move
    takes the table first, so a statement arriving meanwhile waits and is planned with the new
    partition (migration 0016)."""
    import threading
    import time

    with db.connect(fresh_db, autocommit=True) as conn:
        for i in range(50):
            conn.execute(INSERT, (f"M{i:02d}", dt.datetime(2017, 8, 1 + i % 28, tzinfo=BEIJING)))
    counted: list[int] = []
    with db.connect(fresh_db) as holder, db.connect(fresh_db, autocommit=True) as mover, \
            db.connect(fresh_db, autocommit=True) as reader, db.connect(fresh_db, autocommit=True) as watch:
        holder.execute("SELECT count(*) FROM cases").fetchone()  # a statement of a transaction still open
        settle = threading.Thread(target=lambda: partitions.settle(mover))
        settle.start()

        def waiting(n: int) -> bool:
            return watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] >= n

        deadline = time.monotonic() + 5
        while not waiting(1):  # the move waits for the open reader
            assert time.monotonic() < deadline
            time.sleep(0.02)
        read = threading.Thread(target=lambda: counted.append(reader.execute(
            "SELECT count(*) FROM cases WHERE reported_at >= '2017-08-01' AND reported_at < '2017-09-01'"
        ).fetchone()[0]))
        read.start()
        while not waiting(2):  # and a new reader waits behind it
            assert time.monotonic() < deadline
            time.sleep(0.02)
        holder.rollback()
        settle.join(10)
        read.join(10)
        assert counted == [50]
        assert _month_of(mover, "M00") == "cases_201708"
