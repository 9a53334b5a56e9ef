"""The workflow of GB/T 30428.8: every allowed step stored in the history, every refused one a
409 naming the stage, the verification sent to the grid's only supervisor."""
from __future__ import annotations

import pytest

from urbangis.cases.workflow import NEXT

# a path from reported to each stage
PATHS = {
    "reported": [], "registered": ["registered"], "dispatched": ["registered", "dispatched"],
    "handling": ["registered", "dispatched", "handling"],
    "handled": ["registered", "dispatched", "handling", "handled"],
    "verified": ["registered", "dispatched", "handling", "handled", "verified"],
    "closed": ["registered", "dispatched", "handling", "handled", "verified", "closed"],
    "cancelled": ["cancelled"], "not_registered": ["not_registered"],
}


def _new_case(api, beat) -> str:
    r = api.post("/cases", json={"lon": beat.inside[0], "lat": beat.inside[1], "kind": "event",
                                 "major_class": "03", "minor_class": "02", "reporter": beat.supervisor})
    assert r.status_code == 201, r.text
    return r.json()["case"]["case_no"]


def _walk(api, case_no: str, stages: list[str]) -> None:
    for stage in stages:
        r = api.post(f"/cases/{case_no}/events", json={"to": stage, "actor": "受理员 张三"})
        assert r.status_code == 201, r.text


def test_a_case_through_its_whole_workflow(api, beat):
    case_no = _new_case(api, beat)
    _walk(api, case_no, PATHS["closed"])
    body = api.get(f"/cases/{case_no}").json()
    assert body["case"]["status"] == "closed" and body["case"]["closed_at"] is not None
    stages = [e["stage"] for e in body["history"]]
    assert stages == ["reported", "registered", "dispatched", "handling", "handled", "verification", "verified",
                      "closed"]
    assert all(e["at"] for e in body["history"]) and body["history"][1]["actor"] == "受理员 张三"


def test_a_handled_case_goes_to_its_grid_s_only_supervisor_for_verification(api, beat):
    case_no = _new_case(api, beat)
    _walk(api, case_no, PATHS["handling"])
    r = api.post(f"/cases/{case_no}/events", json={"to": "handled", "actor": "市政养护"})
    assert r.status_code == 201
    verification = r.json()["event"]["verification"]
    assert verification == {"supervisor_id": beat.supervisor, "grid": beat.grid, "automatic": True}
    case = r.json()["case"]
    assert case["case"]["verifier_id"] == beat.supervisor
    assert case["history"][-1]["stage"] == "verification" and case["history"][-1]["assigned_to"] == beat.supervisor


@pytest.mark.parametrize("stage", list(PATHS))
def test_every_move_the_workflow_does_not_allow_is_refused_naming_the_stage(api, beat, stage):
    case_no = _new_case(api, beat)
    _walk(api, case_no, PATHS[stage])
    for target in NEXT:
        if target in NEXT[stage]:
            continue
        r = api.post(f"/cases/{case_no}/events", json={"to": target})
        assert r.status_code == 409, (stage, target, r.text)
        body = r.json()
        assert body["stage"] == stage and f"case {case_no} is {stage}" in body["description"]
    assert api.get(f"/cases/{case_no}").json()["case"]["status"] == stage  # nothing moved


def test_bad_moves(api, beat):
    case_no = _new_case(api, beat)
    assert api.post(f"/cases/{case_no}/events", json={"to": "solved"}).status_code == 400
    assert api.post("/cases/NO-SUCH-CASE/events", json={"to": "registered"}).status_code == 404
    early = api.post(f"/cases/{case_no}/events", json={"to": "registered", "at": "2001-01-01T00:00:00+08:00"})
    assert early.status_code == 400 and "before the case's last step" in early.json()["description"]
    assert api.get("/cases/NO-SUCH-CASE").status_code == 404
