-- 0016: making a month partition of cases waits at most 2 s for its locks.
--
-- Attaching a partition scans the default one and takes it exclusively, so it waits for every
-- statement reading it (the full read of the cases at a server's start takes 15 s at 10 million)
-- and every later reader of cases queues behind it. Intake asks for a partition only for a month
-- that has none; after 2 s it gives up (lock_not_available, caught by the function): the case goes
-- to the default partition, where it is found as any other, and the next settle moves it.
CREATE OR REPLACE FUNCTION urbangis_cases_partition(month date) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp SET lock_timeout = '2s' AS $$
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
        -- another session made it meanwhile, a partition made in another time zone overlaps, or
        -- the locks were not had within lock_timeout: nothing done (the rows stay in the default
        -- partition, where queries still find them)
        RETURN false;
    END;
    RETURN true;
END $$;
