"""Case operations: intake with its alerts, the workflow, supervisors and patrols (docs/cases.md)."""
