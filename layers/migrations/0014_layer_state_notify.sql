-- 0014: every change of a published table is also announced (LISTEN urbangis_layer_state).
--
-- The statement trigger of 0012 bumps the table's layer_state slot; it now also sends the table's
-- name on the channel `urbangis_layer_state`. PostgreSQL delivers a notification when the
-- transaction commits (never for one rolled back) and sends one per distinct payload per
-- transaction, so a bulk load announces each table once. Servers listen (layers/changes.py) and
-- keep the tilesets' states in memory, so that a cached tile costs no database round trip.
CREATE OR REPLACE FUNCTION urbangis_touch_layer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    by_log integer := CASE WHEN current_setting('urbangis.logged', true) = 'on' THEN 1 ELSE 0 END;
BEGIN
    INSERT INTO layer_state_slots AS s (layer, slot, version, logged)
    VALUES (TG_TABLE_NAME, pg_backend_pid() % 16, 1, by_log)
    ON CONFLICT (layer, slot) DO UPDATE SET version = s.version + 1, logged = s.logged + by_log, updated_at = now();
    PERFORM pg_notify('urbangis_layer_state', TG_TABLE_NAME);
    RETURN NULL;
END $$;
