-- 0015: cases partitioned by month of their reported time (declarative range partitions).
--
-- Years of cases pile up in one table; most case questions look at days or weeks (a similar case
-- within 72 h, a month's statistics), and old months are archived whole. A partition per month
-- (`cases_YYYYMM`, the month in the session's time zone: Beijing time unless configured) lets
-- PostgreSQL skip every month a query's time condition excludes (pruning, shown in EXPLAIN by
-- tests/layers/test_case_partitions.py). Months are made ahead by the server (layers/partitions.py)
-- and on demand by intake; rows of a month without its partition (a loaded file of old cases) land
-- in `cases_default` and are moved into their months at the end of the load, as pg_partman's
-- partition_data_proc does (pg_partman itself is not needed for this one table).
--
-- A partitioned table's key must hold its partition column, so `cases` is keyed by (case_no,
-- reported_at). A case number stays unique across months through `case_numbers` (case_no ->
-- reported_at): the workflow's events point at it, and it holds the idempotency keys of intake (a
-- unique index that no partitioned table could hold). Statement triggers on `cases` keep it in step
-- with every INSERT, UPDATE, DELETE and TRUNCATE, whoever writes (the loaders' COPY, intake, psql):
-- a case number used again in another month fails there as the old key did.

-- What pointed at the one-heap table goes first.
ALTER TABLE case_events DROP CONSTRAINT case_events_case_no_fkey;
DROP POLICY in_area ON case_events;
ALTER TABLE cases DROP CONSTRAINT cases_pkey;
DROP INDEX cases_geom, cases_reported_at, cases_status, cases_class, cases_idempotency_key,
           cases_responsibility_grid;
ALTER TABLE cases RENAME TO cases_heap;

CREATE TABLE cases (LIKE cases_heap INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE
                    INCLUDING COMMENTS INCLUDING STATISTICS)
    PARTITION BY RANGE (reported_at);
CREATE TABLE cases_default PARTITION OF cases DEFAULT;

-- The month partition holding `month` (any day of it), made when missing: created beside the
-- table, given the default partition's rows of that month, then attached (ATTACH takes the parent
-- in SHARE UPDATE EXCLUSIVE mode: readers and writers of other months go on). Owner's rights: the
-- API's role owns nothing (intake asks for its month). True when it made one.
CREATE FUNCTION urbangis_cases_partition(month date) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'cases_' || to_char(month, 'YYYYMM');
    lo timestamptz := first::timestamp::timestamptz;
    hi timestamptz := (first + interval '1 month')::timestamp::timestamptz;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I (LIKE cases INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                       name);
        EXECUTE format('WITH moved AS (DELETE FROM cases_default WHERE reported_at >= %L AND reported_at < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, name);
        EXECUTE format('ALTER TABLE cases ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        -- the schema's default privileges granted it: the API's role reads cases through the parent only
        EXECUTE format('REVOKE ALL ON %I FROM urbangis_api', name);
    EXCEPTION WHEN duplicate_table OR invalid_object_definition OR lock_not_available THEN
        -- another session made it meanwhile, or a partition made in another time zone overlaps:
        -- nothing done (the rows stay in the default partition, where queries still find them)
        RETURN false;
    END;
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION urbangis_cases_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION urbangis_cases_partition(date) TO urbangis_api;

-- Every month of the default partition's rows gets its partition (the end of a load); the count
-- of months made.
CREATE FUNCTION urbangis_cases_settle() RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
DECLARE
    m date;
    made integer := 0;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', reported_at)::date FROM cases_default ORDER BY 1 LOOP
        IF urbangis_cases_partition(m) THEN
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;
REVOKE ALL ON FUNCTION urbangis_cases_settle() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION urbangis_cases_settle() TO urbangis_api;  -- the end of a load by an area's caller

-- The case numbers, unique across months, with the idempotency keys of intake.
CREATE TABLE case_numbers (
    case_no         text PRIMARY KEY,
    reported_at     timestamptz NOT NULL,
    idempotency_key text
);
CREATE UNIQUE INDEX case_numbers_idempotency_key ON case_numbers (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The existing rows: their months, then the rows, then the keys and indexes (built once each).
SELECT urbangis_cases_partition(m)
  FROM (SELECT DISTINCT date_trunc('month', reported_at)::date AS m FROM cases_heap) months ORDER BY m;
SELECT urbangis_cases_partition((now() + make_interval(months => i))::date) FROM generate_series(0, 2) i;
INSERT INTO cases SELECT * FROM cases_heap;
INSERT INTO case_numbers (case_no, reported_at, idempotency_key)
    SELECT case_no, reported_at, idempotency_key FROM cases_heap;
DROP TABLE cases_heap;
ALTER TABLE cases ADD CONSTRAINT cases_pkey PRIMARY KEY (case_no, reported_at);
CREATE INDEX cases_geom ON cases USING gist (geom);
CREATE INDEX cases_reported_at ON cases (reported_at);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_class ON cases (kind, major_class, minor_class);
CREATE INDEX cases_responsibility_grid ON cases (responsibility_grid);
ANALYZE cases;
ANALYZE case_numbers;

ALTER TABLE case_events ADD CONSTRAINT case_events_case_no_fkey
    FOREIGN KEY (case_no) REFERENCES case_numbers (case_no) ON DELETE CASCADE;

-- The triggers keeping case_numbers in step (statement triggers with transition tables: one join
-- per statement, a million-row COPY included). A number or an idempotency key used before fails
-- here (unique_violation naming case_numbers_pkey or case_numbers_idempotency_key; intake answers
-- the second of two requests racing with one key from it). Owner's rights: the API's role has no
-- rights on case_numbers, which would show every area's numbers.
CREATE FUNCTION urbangis_case_numbers_added() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO case_numbers (case_no, reported_at, idempotency_key)
    SELECT case_no, reported_at, idempotency_key FROM added;
    RETURN NULL;
END $$;
CREATE FUNCTION urbangis_case_numbers_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT case_no FROM old_rows EXCEPT SELECT case_no FROM new_rows) THEN
        RAISE EXCEPTION 'a case number cannot be changed (its events and references keep it)'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    UPDATE case_numbers k SET reported_at = n.reported_at, idempotency_key = n.idempotency_key
      FROM new_rows n
     WHERE k.case_no = n.case_no
       AND (k.reported_at, k.idempotency_key) IS DISTINCT FROM (n.reported_at, n.idempotency_key);
    RETURN NULL;
END $$;
CREATE FUNCTION urbangis_case_numbers_removed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM case_numbers k USING removed o WHERE k.case_no = o.case_no AND k.reported_at = o.reported_at;
    RETURN NULL;
END $$;
CREATE FUNCTION urbangis_case_numbers_emptied() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    TRUNCATE case_numbers, case_events;
    RETURN NULL;
END $$;
CREATE TRIGGER cases_numbers_added AFTER INSERT ON cases REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION urbangis_case_numbers_added();
CREATE TRIGGER cases_numbers_changed AFTER UPDATE ON cases REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION urbangis_case_numbers_changed();
CREATE TRIGGER cases_numbers_removed AFTER DELETE ON cases REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION urbangis_case_numbers_removed();
CREATE TRIGGER cases_numbers_emptied AFTER TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION urbangis_case_numbers_emptied();
CREATE TRIGGER cases_touch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION urbangis_touch_layer();

-- Access control as 0013 set it on the old table: the API's role reads and writes cases of its
-- area only (the policy is the parent's; the partitions are granted to no one), and an event
-- only through its case.
GRANT SELECT, INSERT, UPDATE ON cases TO urbangis_api;
ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
CREATE POLICY in_area ON cases TO urbangis_api
    USING (_ST_Intersects(geom, (SELECT urbangis_scope_area())))
    WITH CHECK (_ST_Intersects(geom, (SELECT urbangis_scope_area())));
CREATE POLICY in_area ON case_events FOR SELECT TO urbangis_api
    USING (EXISTS (SELECT 1 FROM cases c WHERE c.case_no = case_events.case_no));
REVOKE ALL ON cases_default, case_numbers FROM urbangis_api;  -- granted by the default privileges

-- The case an idempotency key stored, for intake: the number and month only; the case itself is
-- then read from `cases`, under its policy (a key of another area's case finds nothing).
CREATE FUNCTION urbangis_case_by_key(key text) RETURNS TABLE (case_no text, reported_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT case_no, reported_at FROM case_numbers WHERE idempotency_key = key
$$;
REVOKE ALL ON FUNCTION urbangis_case_by_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION urbangis_case_by_key(text) TO urbangis_api;
