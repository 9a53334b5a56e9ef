"""Validation: each value of each row (``rows``), then rows against each other, the database and
their geometry (``relations``). Every problem becomes a RowIssue naming row, field, value, reason."""
from .relations import check_relations, geometry_checks
from .rows import RowConverter, match_columns

__all__ = ["RowConverter", "match_columns", "check_relations", "geometry_checks"]
