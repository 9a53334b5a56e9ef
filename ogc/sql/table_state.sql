-- Change version (from layer_state, bumped by the tables' statement triggers; NULL for tables
-- that are not tracked) and the planner's row estimate of one table.
SELECT (SELECT version FROM layer_state WHERE layer = %(name)s) AS version,
       (SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%(table)s)) AS estimate
