-- 0010: changes of a published table that a log records.
--
-- Each server process keeps the cases in memory (the similar-case and map indexes) and must see
-- what another process stored or moved within seconds. Re-reading 10 million cases takes a
-- minute; the cases another process stored through the API are in case_events already (every
-- intake and every move writes one). A writer that logs each of its changes there says so for its
-- transaction (SET LOCAL urbangis.logged = 'on'), and the statement trigger then counts the change
-- as logged too: a process whose (version - logged) is what it was when it read the table has
-- missed nothing but logged changes, and catches up from the log; any other change (a bulk load,
-- an UPDATE in psql) moves (version - logged), and the table is read again.
ALTER TABLE layer_state ADD COLUMN logged bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION urbangis_touch_layer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    by_log integer := CASE WHEN current_setting('urbangis.logged', true) = 'on' THEN 1 ELSE 0 END;
BEGIN
    INSERT INTO layer_state AS s (layer, logged) VALUES (TG_TABLE_NAME, by_log)
    ON CONFLICT (layer) DO UPDATE SET version = s.version + 1, logged = s.logged + by_log, updated_at = now();
    RETURN NULL;
END $$;
