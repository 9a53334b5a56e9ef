-- 0016: making a month partition of cases waits at most 2 s for its locks, and a statement
-- reading cases meanwhile never misses the rows it moves.
--
-- Attaching a partition scans the default one and takes it exclusively, so it waits for every
-- statement reading it (the full read of the cases at a server's start takes 15 s at 10 million)
-- and every later reader of cases queues behind it. After 2 s it gives up (lock_not_available,
-- caught): a case goes to the default partition, where it is found as any other, and the next
-- settle moves it.
--
-- Moving rows out of the default partition: a statement planned before the new partition is
-- attached does not read it, and if it read the default partition after the move it would miss
-- those rows (seen in tests/layers/test_replicas.py: a query racing the server's settle at start
-- found none of 200 cases). So when there are rows to move, the whole table is taken first
-- (ACCESS EXCLUSIVE: statements reading it finish, later ones wait and are planned afterwards,
-- with the new partition). A new month with nothing to move takes no such lock.
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
        IF EXISTS (SELECT 1 FROM cases_default WHERE reported_at >= lo AND reported_at < hi) THEN
            LOCK TABLE cases IN ACCESS EXCLUSIVE MODE;
        END IF;
        EXECUTE format('CREATE TABLE %I (LIKE cases INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                       name);
        EXECUTE format('WITH moved AS (DELETE FROM cases_default WHERE reported_at >= %L AND reported_at < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, name);
        EXECUTE format('ALTER TABLE cases ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        -- the schema's default privileges granted it: the API's role reads cases through the parent only
        EXECUTE format('REVOKE ALL ON %I FROM urbangis_api', name);
    EXCEPTION WHEN duplicate_table OR invalid_object_definition OR lock_not_available OR check_violation THEN
        -- another session made it meanwhile, a partition made in another time zone overlaps, the
        -- locks were not had within lock_timeout, or a row of the month reached the default
        -- partition while this ran: nothing done (the rows stay in the default partition, where
        -- queries still find them)
        RETURN false;
    END;
    RETURN true;
END $$;
