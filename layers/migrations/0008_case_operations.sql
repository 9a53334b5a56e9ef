-- 0008: case operations (cases/): intake with its alerts and idempotency keys, the workflow's
-- history, supervisors' GPS tracks and last positions, patrol points and check-ins.
-- The case statuses themselves (not_registered added) are the contract's (layers/contract.py),
-- whose field checks layers/migrate.py keeps in step after the migrations.

-- Cases taken in by POST /cases: the responsibility grid the point lies in, the client's
-- idempotency key (a retried request finds its case instead of storing a second one) with a hash
-- of what it asked (the same key with another request is refused), the alerts answered at intake,
-- who reported it when not a supervisor, the supervisor the verification went to.
ALTER TABLE cases
    ADD COLUMN responsibility_grid text,
    ADD COLUMN idempotency_key     text,
    ADD COLUMN request_hash        text,
    ADD COLUMN alerts              jsonb,
    ADD COLUMN reporter            text,
    ADD COLUMN verifier_id         text;
CREATE UNIQUE INDEX cases_idempotency_key ON cases (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX cases_responsibility_grid ON cases (responsibility_grid);

-- Case numbers of intake: YYYYMMDD + an 8-digit serial (16 characters; exports' 14-character
-- numbers never collide with them).
CREATE SEQUENCE case_serial;

-- The workflow's history (GB/T 30428.8): one row per stage a case entered, with who moved it
-- and, for a verification task, whom it went to.
CREATE TABLE case_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no     text        NOT NULL REFERENCES cases (case_no) ON DELETE CASCADE,
    stage       text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text,
    note        text,
    assigned_to text
);
CREATE INDEX case_events_case ON case_events (case_no, id);

-- Supervisors' GPS fixes, kept as tracks: partitioned by day (a partition per day is made by the
-- server before it writes into it: cases/patrols.py), so old days are dropped whole.
CREATE TABLE supervisor_fixes (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    supervisor_id text        NOT NULL,
    at            timestamptz NOT NULL,
    accuracy_m    real CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
    speed_mps     real CHECK (speed_mps IS NULL OR speed_mps >= 0),
    geom          geometry(Point, 4490) NOT NULL,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX supervisor_fixes_geom ON supervisor_fixes USING gist (geom);
CREATE INDEX supervisor_fixes_who ON supervisor_fixes (supervisor_id, at);

-- The last known position of each supervisor (the newest fix received).
CREATE TABLE supervisor_positions (
    supervisor_id text PRIMARY KEY REFERENCES supervisors (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL,
    accuracy_m    real,
    geom          geometry(Point, 4490) NOT NULL
);
CREATE INDEX supervisor_positions_geom ON supervisor_positions USING gist (geom);

-- Patrol points (巡更点) of each responsibility grid, and the check-ins (巡更打卡) at them.
CREATE TABLE patrol_points (
    id        text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name      text NOT NULL CHECK (length(btrim(name)) > 0),
    grid_code text NOT NULL REFERENCES responsibility_grids (code) DEFERRABLE INITIALLY DEFERRED,
    attrs     jsonb NOT NULL DEFAULT '{}',
    geom      geometry(Point, 4490) NOT NULL
);
CREATE INDEX patrol_points_geom ON patrol_points USING gist (geom);
CREATE INDEX patrol_points_grid ON patrol_points (grid_code);

CREATE TABLE patrol_checkins (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    supervisor_id text        NOT NULL,
    point_id      text        NOT NULL,
    at            timestamptz NOT NULL,
    accepted      boolean     NOT NULL,
    distance_m    real,
    reasons       text[]      NOT NULL DEFAULT '{}',
    geom          geometry(Point, 4490) NOT NULL
);
CREATE INDEX patrol_checkins_who ON patrol_checkins (supervisor_id, at);

-- Change tracking of the new published tables (layer_state), as 0001 does for the others.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['case_events', 'supervisor_fixes', 'supervisor_positions', 'patrol_points',
                             'patrol_checkins']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION urbangis_touch_layer()', t || '_touch', t);
        INSERT INTO layer_state (layer) VALUES (t);
    END LOOP;
END $$;
