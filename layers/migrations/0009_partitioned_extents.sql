-- 0009: the estimated extent of a table, partitioned or not.
--
-- ST_EstimatedExtent reads a table's statistics; on a partitioned table (supervisor_fixes: a
-- partition per day) it fails ("could not open file"), since the parent has no storage of its
-- own. The style, the TileJSON and the OGC collections ask for every published table's extent;
-- this answers for a partitioned one with the union of its partitions' estimates, and NULL where
-- no estimate exists yet (the caller then computes the exact extent, as before).
CREATE FUNCTION urbangis_estimated_extent(tbl regclass, geom_column text) RETURNS box2d
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    kind  "char";
    boxes geometry[] := '{}';
    part  regclass;
    e     box2d;
BEGIN
    SELECT relkind INTO kind FROM pg_class WHERE oid = tbl;
    IF kind = 'p' THEN
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = tbl LOOP
            e := urbangis_estimated_extent(part, geom_column);
            IF e IS NOT NULL THEN
                boxes := boxes || e::geometry;
            END IF;
        END LOOP;
        RETURN (SELECT ST_Extent(b) FROM unnest(boxes) AS b);
    END IF;
    BEGIN
        RETURN (SELECT ST_EstimatedExtent(n.nspname, c.relname, geom_column)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl);
    EXCEPTION WHEN OTHERS THEN
        RETURN NULL;  -- not analysed yet, or no such column
    END;
END $$;
