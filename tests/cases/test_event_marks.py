"""A server process reads the case events it has not read: the new ones, and those whose id was
handed out before an event it has read but whose transaction committed later (cases/event_marks.py)."""
from __future__ import annotations

import time

from urbangis.cases.event_marks import AFTER_READ, GAP_TTL, MAX_GAPS, RECENT, EventMarks
from urbangis.cases.index import read_cases
from urbangis.layers import database as db


def test_ids_missing_below_the_mark_are_asked_for_until_they_come():
    marks = EventMarks(10)
    marks.seen([11, 14, 12], now=100.0)
    assert marks.wanted() == (14, [13])
    marks.seen([15, 13], now=101.0)  # the late one came: asked for no more
    assert marks.wanted() == (15, [])
    marks.seen([9], now=102.0)  # an id read again below the mark changes nothing
    assert marks.wanted() == (15, [])


def test_ids_missing_too_long_are_given_up():
    marks = EventMarks(0)
    marks.seen([1, 3], now=0.0)
    assert marks.wanted() == (3, [2])
    marks.seen([], now=GAP_TTL - 1)
    assert marks.wanted() == (3, [2])
    marks.seen([], now=GAP_TTL + 1)  # a transaction open that long, or one rolled back
    assert marks.wanted() == (3, [])


def test_at_most_max_gaps_the_oldest_dropped():
    marks = EventMarks(0)
    marks.seen([MAX_GAPS + 11], now=0.0)
    mark, gaps = marks.wanted()
    assert mark == MAX_GAPS + 11 and len(gaps) == MAX_GAPS and gaps[0] == 11 and gaps[-1] == MAX_GAPS + 10


def test_after_a_full_read_the_ids_it_did_not_see_are_asked_for_a_while():
    last = RECENT + 500
    present = [i for i in range(501, last + 1) if i not in (600, last - 1)]
    marks = EventMarks.after_read(last, present, now=1000.0)
    assert marks.wanted() == (last, [600, last - 1])
    marks.seen([], now=1000.0 + 61)  # not for GAP_TTL: mostly events of cases deleted since
    assert marks.wanted() == (last, [])
    assert EventMarks.after_read(0, [], now=0.0).wanted() == (0, [])


def test_an_event_committed_after_a_later_one_reaches_the_index(api, cases_db, beat):
    service = api.app.state.services.cases
    with db.connect(cases_db) as slow:  # a slower server process: its event's id is taken first
        slow.execute("SET LOCAL urbangis.logged = 'on'")
        slow.execute("INSERT INTO cases (case_no, kind, major_class, minor_class, status, reported_at, geom) "
                     "VALUES ('LATE0001', 'event', '01', '02', 'reported', now(), "
                     "ST_SetSRID(ST_MakePoint(%s, %s), 4490))", beat.inside)
        late = slow.execute("INSERT INTO case_events (case_no, stage) VALUES ('LATE0001', 'reported') "
                            "RETURNING id").fetchone()[0]
        r = api.post("/cases", json={"lon": beat.inside[0], "lat": beat.inside[1], "kind": "event",
                                     "major_class": "01", "minor_class": "02"})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 10
        while service._events.mark <= late:  # the refresh has read the later event
            assert time.monotonic() < deadline, "the server did not read the later event within 10 s"
            time.sleep(0.05)
        assert late in service._events.wanted()[1]
        assert not service.maps.has("LATE0001")
        slow.commit()
    deadline = time.monotonic() + 10
    while not service.maps.has("LATE0001"):
        assert time.monotonic() < deadline, "the event committed late never reached the case index"
        time.sleep(0.05)
    assert late not in service._events.wanted()[1]
    assert service.index is not None and service.maps is not None


def test_a_full_read_starts_from_the_last_id_handed_out(cases_db):
    """Ids handed out after the last event present (events deleted or rolled back since): the
    read's last event is the sequence's, so they are asked for only for AFTER_READ seconds, and a
    new event does not make them gaps of GAP_TTL."""
    with db.connect(cases_db, autocommit=True) as conn:
        taken = conn.execute("SELECT max(nextval(pg_get_serial_sequence('case_events', 'id'))) "
                             "FROM generate_series(1, 50)").fetchone()[0]  # (none stored)
        table = read_cases(conn)
    assert table.last_event == taken
    marks = EventMarks.after_read(table.last_event, table.recent_events, now=1000.0)
    marks.seen([taken + 1], now=1000.0)  # the next event
    assert taken in marks.wanted()[1]  # (it may yet come: a transaction open at the read)
    marks.seen([], now=1000.0 + AFTER_READ + 1)
    assert marks.wanted() == (taken + 1, [])


def test_a_jump_of_the_sequence_is_not_walked_id_by_id():
    marks = EventMarks(5)
    marks.seen([10**12], now=0.0)  # (10**12 ids walked one by one would never end)
    mark, gaps = marks.wanted()
    assert mark == 10**12 and len(gaps) == MAX_GAPS and gaps[-1] == 10**12 - 1
