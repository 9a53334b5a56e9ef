-- Change version (from layer_state, bumped by the tables' statement triggers; NULL for tables
-- that are not tracked) and the planner's row estimate of one table (a partitioned table's: the
-- sum of its partitions').
SELECT (SELECT version FROM layer_state WHERE layer = %(name)s) AS version,
       (SELECT CASE WHEN c.relkind = 'p'
                    THEN (SELECT coalesce(sum(greatest(p.reltuples, 0)), 0) FROM pg_inherits i
                          JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid)
                    ELSE c.reltuples END::bigint
        FROM pg_class c WHERE c.oid = to_regclass(%(table)s)) AS estimate
