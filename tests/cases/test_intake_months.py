"""Intake into the month partitions of cases (migration 0015): a case reported in a month without a
partition gets one; two requests racing with one idempotency key store one case; an intake counts
as a logged change of cases."""
from __future__ import annotations

import datetime as dt
import threading
import time

from urbangis.cases.intake import CaseReport
from urbangis.layers import database as db


def test_a_case_of_a_month_without_a_partition_makes_it(api, cases_db, beat):
    at = "2021-03-09T08:30:00+08:00"
    with db.connect(cases_db) as conn:
        assert conn.execute("SELECT to_regclass('cases_202103')").fetchone()[0] is None
    r = api.post("/cases", json={"lon": beat.inside[0], "lat": beat.inside[1], "kind": "event", "major_class": "01",
                                 "minor_class": "02", "reported_at": at})
    assert r.status_code == 201, r.text
    case_no = r.json()["case"]["case_no"]
    with db.connect(cases_db) as conn:
        where = conn.execute("SELECT tableoid::regclass::text, reported_at FROM cases WHERE case_no = %s",
                             (case_no,)).fetchone()
    assert where == ("cases_202103", dt.datetime.fromisoformat(at))
    assert api.get(f"/cases/{case_no}").json()["case"]["case_no"] == case_no


def test_two_requests_racing_with_one_key_store_one_case(api, cases_db, beat):
    """The first request's row is held uncommitted (as a slower server process would hold it) while
    the second checks the key (not there yet) and inserts: it waits on the key's unique index, and
    when the first commits it answers the first's case instead of failing or storing a second."""
    body = {"lon": beat.inside[0], "lat": beat.inside[1], "kind": "event", "major_class": "05", "minor_class": "05",
            "idempotency_key": "race-key-1"}
    fingerprint = CaseReport.model_validate(body).fingerprint()
    answers = []
    with db.connect(cases_db) as first:
        first.execute("SET LOCAL urbangis.logged = 'on'")  # as a server process writes: the others catch up
        first.execute("INSERT INTO cases (case_no, kind, major_class, minor_class, status, reported_at, geom, "
                      "idempotency_key, request_hash) VALUES ('RACE0001', 'event', '05', '05', 'reported', now(), "
                      "ST_SetSRID(ST_MakePoint(%s, %s), 4490), 'race-key-1', %s)",
                      (body["lon"], body["lat"], fingerprint))
        first.execute("INSERT INTO case_events (case_no, stage) VALUES ('RACE0001', 'reported')")
        second = threading.Thread(target=lambda: answers.append(api.post("/cases", json=body)))
        second.start()
        with db.connect(cases_db, autocommit=True) as watch:  # the second request waits on the first's lock
            for _ in range(200):
                waiting = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND query LIKE '%%INSERT INTO cases%%'").fetchone()[0]
                if waiting:
                    break
                time.sleep(0.05)
        assert waiting, "the second request never reached the insert"
        first.commit()
        second.join(30)
    assert len(answers) == 1 and answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["case"]["case_no"] == "RACE0001"
    with db.connect(cases_db) as conn:
        assert conn.execute("SELECT count(*) FROM cases WHERE idempotency_key = 'race-key-1'").fetchone()[0] == 1
        version = conn.execute("SELECT version FROM layer_state WHERE layer = 'cases'").fetchone()[0]
    # the case the other "process" stored is in this server's case maps before the next test counts them
    service, deadline = api.app.state.services.cases, time.monotonic() + 10
    while service._seen < version:
        assert time.monotonic() < deadline, "the server did not catch up with the stored case within 10 s"
        time.sleep(0.1)


def test_an_intake_is_a_logged_change(api, cases_db, beat):
    """Intake's one statement marks its change of cases as logged (set_config in the statement):
    the other server processes catch up from case_events instead of reading the table again."""
    state = "SELECT sum(version), sum(version - logged) FROM layer_state WHERE layer = 'cases'"
    with db.connect(cases_db) as conn:
        version, unlogged = conn.execute(state).fetchone()
    r = api.post("/cases", json={"lon": beat.inside[0], "lat": beat.inside[1], "kind": "event", "major_class": "01",
                                 "minor_class": "02"})
    assert r.status_code == 201, r.text
    with db.connect(cases_db) as conn:
        after = conn.execute(state).fetchone()
    assert after == (version + 1, unlogged)
