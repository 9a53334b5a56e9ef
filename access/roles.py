"""The roles a credential holds, and what each may do. Routes name the roles they admit
(api/auth.py); the OpenAPI document lists them on each operation's security requirement."""
from __future__ import annotations

ADMIN = "admin"          # everything, in its area
DATA = "data"            # data staff: bulk loading (ingest) and reading, in its area
ANALYST = "analyst"      # reads layers, tiles, cases, case maps and statistics in its area
SUBSYSTEM = "subsystem"  # another system: geocoding, case intake, alerts, the workflow
AUDITOR = "auditor"      # reads the audit log only
PUBLIC = "public"        # only the layers the registry marks public (e.g. admin outlines)

ROLES: dict[str, str] = {
    ADMIN: "administrator: every door, in its area",
    DATA: "data staff: bulk loading and reading, in its area",
    ANALYST: "analyst: reads layers, tiles, cases, case maps and statistics, in its area",
    SUBSYSTEM: "other subsystem: geocoding, case intake and alerts, the case workflow, in its area",
    AUDITOR: "auditor: reads the audit log only",
    PUBLIC: "public: the layers the registry marks public",
}

# who may use each kind of door (api/auth.py names them per route)
READ = (ADMIN, DATA, ANALYST, SUBSYSTEM)   # layers, tiles and features of the area
CASES_READ = (ADMIN, ANALYST, SUBSYSTEM)   # cases, case maps, statistics
CASES_WRITE = (ADMIN, SUBSYSTEM)           # intake, the workflow, supervisors' fixes
GEOCODE = (ADMIN, DATA, ANALYST, SUBSYSTEM)
INGEST = (ADMIN, DATA)
AUDIT = (ADMIN, AUDITOR)
HERITAGE_REVIEW = (ADMIN, ANALYST)         # an inspector's review of a change patch


def check(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else a ValueError naming them."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return role
