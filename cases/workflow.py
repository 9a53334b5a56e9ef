"""The case workflow of GB/T 30428.8: the stages a case moves through, who may move it where, and
its history (``case_events``).

    reported -> registered (立案) | not_registered (不予立案) | cancelled (作废)
    registered -> dispatched (派遣) | cancelled
    dispatched -> handling (处置) | registered (sent back by the department, 退回)
    handling -> handled (处置完成)
    handled -> verified (核查通过) | dispatched (the verification finds it not done: 返工)
    verified -> closed (结案)
    closed, cancelled, not_registered: final

When a case is handled and its responsibility grid has exactly one supervisor, the verification
task goes to that supervisor at once (自动发送核查): an event ``verification`` assigned to them,
and the case's ``verifier_id``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from urbangis.layers.contract import CASE_STATUS
from urbangis.layers.errors import Conflict, Invalid, NotFound

NEXT: dict[str, tuple[str, ...]] = {
    "reported": ("registered", "not_registered", "cancelled"),
    "registered": ("dispatched", "cancelled"),
    "dispatched": ("handling", "registered"),
    "handling": ("handled",),
    "handled": ("verified", "dispatched"),
    "verified": ("closed",),
    "closed": (),
    "cancelled": (),
    "not_registered": (),
}
FINAL = frozenset(s for s, nxt in NEXT.items() if not nxt)
ENDS = frozenset({"closed", "cancelled", "not_registered"})  # stages that set closed_at
VERIFICATION = "verification"
MAX_NOTE = 2000

if set(NEXT) != set(CASE_STATUS.values):  # the contract's statuses and the workflow's stages are one list
    raise RuntimeError("cases.workflow.NEXT must name every status of layers.contract.CASE_STATUS")


class WrongStage(Conflict):
    """The move is not one the workflow allows from the case's stage (409)."""


@dataclass(frozen=True)
class Move:
    """A request to move a case on."""

    to: str
    actor: str | None = None
    note: str | None = None
    at: dt.datetime | None = None  # default: now


def check_move(move: Move) -> None:
    """400 for a move that names no stage, or an over-long note."""
    if move.to not in NEXT:
        raise Invalid(f"to: {move.to!r} is not a stage; stages: {', '.join(NEXT)}", parameter="to", value=move.to)
    if move.note is not None and len(move.note) > MAX_NOTE:
        raise Invalid(f"note: {len(move.note)} characters; at most {MAX_NOTE}", parameter="note")


def apply(conn: psycopg.Connection, case_no: str, move: Move) -> dict:
    """Move ``case_no`` on, in the caller's transaction: 404 for no such case, 409 naming its stage
    when the workflow does not allow the move, 400 for a time before its last event. Returns what
    was done: the new stage, its time and any verification assigned."""
    check_move(move)
    row = conn.execute("SELECT status, responsibility_grid, reported_at, "
                       "(SELECT max(at) FROM case_events e WHERE e.case_no = c.case_no) "
                       "FROM cases c WHERE case_no = %s FOR UPDATE", (case_no,)).fetchone()
    if row is None:
        raise NotFound(f"no case {case_no!r}", parameter="case_no", value=case_no)
    stage, grid, reported_at, last = row
    if move.to not in NEXT[stage]:
        allowed = ", ".join(NEXT[stage]) or "none: it is final"
        raise WrongStage(f"case {case_no} is {stage}: it cannot move to {move.to} (from {stage}: {allowed})",
                         case_no=case_no, stage=stage, to=move.to, allowed=list(NEXT[stage]))
    at = move.at or dt.datetime.now(dt.timezone.utc)
    earliest = max(t for t in (reported_at, last) if t is not None)
    if at.tzinfo is None:
        raise Invalid("at: a time with its offset (or none: now)", parameter="at")
    if at < earliest:
        raise Invalid(f"at: {at.isoformat()} is before the case's last step ({earliest.isoformat()})",
                      parameter="at", value=at.isoformat())
    conn.execute("UPDATE cases SET status = %s, closed_at = CASE WHEN %s THEN %s ELSE closed_at END "
                 "WHERE case_no = %s", (move.to, move.to in ENDS, at, case_no))
    conn.execute("INSERT INTO case_events (case_no, stage, at, actor, note) VALUES (%s, %s, %s, %s, %s)",
                 (case_no, move.to, at, move.actor, move.note))
    done = {"case_no": case_no, "from": stage, "stage": move.to, "at": at, "verification": None}
    if move.to == "handled":
        done["verification"] = _assign_verification(conn, case_no, grid, at)
    return done


def _assign_verification(conn: psycopg.Connection, case_no: str, grid: str | None, at: dt.datetime) -> dict | None:
    """The verification task to the grid's only supervisor, if it has exactly one."""
    if grid is None:
        return None
    supervisors = [r[0] for r in conn.execute("SELECT supervisor_id FROM supervisor_grids WHERE grid_code = %s",
                                              (grid,))]
    if len(supervisors) != 1:
        return None
    conn.execute("UPDATE cases SET verifier_id = %s WHERE case_no = %s", (supervisors[0], case_no))
    conn.execute("INSERT INTO case_events (case_no, stage, at, actor, note, assigned_to) "
                 "VALUES (%s, %s, %s, 'system', %s, %s)",
                 (case_no, VERIFICATION, at, f"自动发送核查: the only supervisor of grid {grid}", supervisors[0]))
    return {"supervisor_id": supervisors[0], "grid": grid, "automatic": True}


def history(conn: psycopg.Connection, case_no: str) -> list[dict]:
    """The case's events, oldest first."""
    rows = conn.execute("SELECT stage, at, actor, note, assigned_to FROM case_events WHERE case_no = %s "
                        "ORDER BY at, id", (case_no,)).fetchall()
    return [{"stage": s, "at": a, "actor": who, "note": n, "assigned_to": to} for s, a, who, n, to in rows]
