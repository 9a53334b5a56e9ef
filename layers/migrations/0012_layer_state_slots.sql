-- 0012: a table's change version counted in 16 slots, so concurrent writers do not queue.
--
-- The statement trigger of 0001/0010 updated the one layer_state row of its table, and the row
-- lock it took was held until the transaction's commit had reached the disk: every concurrent
-- intake of a case waited for the previous one's fsync, one commit at a time (bench/cases_alerts.py:
-- 500 intakes/s with the trigger, 594 with it disabled, the server's core then fully busy). Now a
-- writer bumps the slot of its backend (pid % 16); two writers meet only when their slots agree,
-- and commits of different slots flush together.
--
-- layer_state stays what its readers read (layer, version, logged, updated_at), now a view that
-- sums the slots: every change still adds exactly 1 to its table's version, in the same MVCC
-- snapshot as the change itself. Later migrations add a table's row with
-- INSERT INTO layer_state_slots (layer) VALUES (...).
ALTER TABLE layer_state RENAME TO layer_state_slots;
ALTER TABLE layer_state_slots ADD COLUMN slot smallint NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 15);
ALTER TABLE layer_state_slots DROP CONSTRAINT layer_state_pkey;
ALTER TABLE layer_state_slots ADD PRIMARY KEY (layer, slot);

CREATE VIEW layer_state AS
SELECT layer, sum(version)::bigint AS version, sum(logged)::bigint AS logged, max(updated_at) AS updated_at
FROM layer_state_slots GROUP BY layer;

CREATE OR REPLACE FUNCTION urbangis_touch_layer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    by_log integer := CASE WHEN current_setting('urbangis.logged', true) = 'on' THEN 1 ELSE 0 END;
BEGIN
    INSERT INTO layer_state_slots AS s (layer, slot, version, logged)
    VALUES (TG_TABLE_NAME, pg_backend_pid() % 16, 1, by_log)
    ON CONFLICT (layer, slot) DO UPDATE SET version = s.version + 1, logged = s.logged + by_log, updated_at = now();
    RETURN NULL;
END $$;
