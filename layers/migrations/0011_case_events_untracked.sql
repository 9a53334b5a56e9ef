-- 0011: case_events no longer bumps a layer_state version.
--
-- 0008 gave it one as it did the other new tables, but nothing reads it (no collection, tile set
-- or index is built from case_events alone: the case indexes follow the version of `cases`, which
-- every intake and every move changes in the same transaction). Each intake paid for it with a
-- second trigger and a second update of a row that every concurrent intake updates too
-- (bench/cases_alerts.py).
DROP TRIGGER IF EXISTS case_events_touch ON case_events;
DELETE FROM layer_state WHERE layer = 'case_events';
