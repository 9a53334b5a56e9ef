-- 0013: access control (access/, docs/access.md): callers' keys, the audit log, and area scoping
-- enforced by PostgreSQL's row-level security.
--
-- The server answers a scoped request on a connection that takes the role urbangis_api (owning
-- nothing, no BYPASSRLS) with the caller's area in the setting urbangis.area (session settings
-- on pooled connections, per transaction on others: layers/scope.py); every published table's
-- policy then shows that role only the rows whose geometry meets the area's outline in
-- admin_areas. An unset or unknown area shows nothing.

-- Callers' keys. A shared secret (hmac-*) is stored encrypted with the server's key file
-- (access/sealing.py: AES-256-GCM); an ed25519 caller's public key is stored as it is.
CREATE TABLE access_keys (
    keyid       text PRIMARY KEY CHECK (keyid ~ '^[A-Za-z0-9_.-]{3,80}$'),
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'data', 'analyst', 'subsystem', 'auditor', 'public')),
    area        text NOT NULL REFERENCES admin_areas (code) ON UPDATE CASCADE,
    alg         text NOT NULL CHECK (alg IN ('hmac-sha256', 'hmac-sm3', 'ed25519')),
    material    bytea NOT NULL,            -- encrypted secret, or the raw 32-byte ed25519 public key
    created_at  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz,               -- set by a rotation (grace period) or a revocation
    replaced_by text REFERENCES access_keys (keyid),
    revoked_at  timestamptz
);

-- Staff who log in to the map and ingest pages (access/people.py): the password hashed with
-- Argon2id (memory-hard), an optional TOTP secret sealed like the keys' secrets, failures counted
-- for the lockout; sessions by the SHA-256 of their cookie's token (the token itself is never stored).
CREATE TABLE access_people (
    login        text PRIMARY KEY CHECK (login ~ '^[A-Za-z0-9_.@-]{2,64}$'),
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'data', 'analyst', 'subsystem', 'auditor', 'public')),
    area         text NOT NULL REFERENCES admin_areas (code) ON UPDATE CASCADE,
    password     text NOT NULL,            -- $argon2id$...
    totp         bytea,                    -- sealed TOTP secret, or NULL (no second factor)
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    disabled     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE access_sessions (
    token_hash bytea PRIMARY KEY,
    login      text NOT NULL REFERENCES access_people (login) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    ended_at   timestamptz
);

-- The audit log: append-only, partitioned by month (access/audit.py makes partitions ahead and
-- keeps at least six months). Each row carries the SHA-256 of the previous row's hash and its own
-- content, so `urbangis audit verify` proves that no row was removed or changed.
CREATE TABLE audit_log (
    seq        bigint NOT NULL,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,              -- keyid, person, or 'anonymous'
    role       text,
    area       text,
    action     text NOT NULL,              -- login, refused, write, ingest, ...
    target     text,                       -- method and path, or what was done
    status     integer,
    client     text,                       -- where from (address of the peer)
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    PRIMARY KEY (at, seq)
) PARTITION BY RANGE (at);
CREATE INDEX audit_log_seq ON audit_log (seq);

CREATE FUNCTION urbangis_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION urbangis_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION urbangis_audit_append_only();

-- The API's role: owns nothing, cannot bypass row-level security; roles are cluster-wide, so it
-- is made once per cluster and granted in each database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'urbangis_api') THEN
        CREATE ROLE urbangis_api NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END $$;
DO $$
BEGIN
    EXECUTE format('GRANT urbangis_api TO %I', current_user);  -- so the server can SET ROLE to it
END $$;

GRANT USAGE ON SCHEMA public TO urbangis_api;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO urbangis_api;
GRANT INSERT, UPDATE ON cases, case_events, supervisor_fixes, supervisor_positions, patrol_checkins
    TO urbangis_api;
GRANT INSERT, UPDATE ON layer_state_slots TO urbangis_api;   -- the change triggers of 0012
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO urbangis_api;
REVOKE ALL ON access_keys, access_people, access_sessions, audit_log FROM urbangis_api;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO urbangis_api;
-- a view read by the API role runs with the reader's rights, under the tables' policies
ALTER VIEW layer_state SET (security_invoker = true);

-- The caller's area: its outline, read once per statement (an InitPlan where the policies use it).
CREATE FUNCTION urbangis_scope_area() RETURNS geometry LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT geom FROM admin_areas WHERE code = current_setting('urbangis.area', true)
$$;

-- A policy restricts a statement's rows before its own conditions run, and a condition that is
-- not LEAKPROOF may not be used ahead of it: PostGIS' `&&` is not marked so, and under a policy
-- the planner then stops using the spatial index of a tile's or a bbox's envelope (a county tile:
-- under 1 ms -> over 700 ms). `&&` compares two boxes and raises no error that depends on a row's
-- values, so it is marked leakproof here (this needs a superuser; the embedded cluster's user is
-- one; on a database where the migrating role is not, the statement is skipped with a notice and
-- tests/access/test_scope.py's EXPLAIN check fails, saying so).
DO $$
BEGIN
    ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'geometry_overlaps(&&) not marked LEAKPROOF (needs a superuser): scoped tiles will not use the spatial index';
END $$;

-- The policy tests each row the query's own conditions found (PostGIS's bbox short cut, then the
-- area's outline, prepared once per statement) and offers the planner no index of its own:
-- `_ST_Intersects` is ST_Intersects without its index support. With `geom && area` in the policy
-- the planner took the area's box (a parameter: unknown when planning, so estimated to match
-- almost nothing) as the index condition of every statement: a feature fetched by its id scanned
-- the district (7,029 buildings for 12; items 5 -> 15 ms, bench/access_overhead.py).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['unit_grids', 'responsibility_grids', 'roads', 'place_names', 'courtyards',
                             'house_numbers', 'buildings', 'organisations', 'storefronts', 'components',
                             'cases', 'supervisor_fixes', 'supervisor_positions', 'patrol_points',
                             'patrol_checkins'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY in_area ON %I TO urbangis_api '
                       'USING (_ST_Intersects(geom, (SELECT urbangis_scope_area()))) '
                       'WITH CHECK (_ST_Intersects(geom, (SELECT urbangis_scope_area())))', t);
    END LOOP;
END $$;

-- Ingest jobs: a job records the area of the caller that made it (options->>'area'); a caller
-- sees and cancels only jobs of its area (a province's see its counties'). The codes nest by
-- prefix (GB/T 2260: 650000 > 650100 > 650102 > 650102001 ...).
CREATE FUNCTION urbangis_code_in_scope(code text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(code LIKE (CASE WHEN length(a) = 6 THEN regexp_replace(a, '(00)+$', '') ELSE a END) || '%', false)
    FROM (SELECT nullif(current_setting('urbangis.area', true), '') AS a) s
$$;
GRANT INSERT, UPDATE ON ingest_jobs TO urbangis_api;
ALTER TABLE ingest_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY in_area ON ingest_jobs TO urbangis_api
    USING (urbangis_code_in_scope(options->>'area')) WITH CHECK (urbangis_code_in_scope(options->>'area'));

-- Supervisors' tracks are partitioned by day, a partition made when a day's first fix arrives;
-- the API's role owns nothing, so it asks this function (its owner's rights) for the partition.
CREATE FUNCTION urbangis_fixes_partition(day date) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
DECLARE
    name text := 'supervisor_fixes_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF supervisor_fixes FOR VALUES FROM (%L) TO (%L)',
                       name, day::text || ' 00:00', (day + 1)::text || ' 00:00');
    END IF;
EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
    NULL;  -- another request made it meanwhile
END $$;
REVOKE ALL ON FUNCTION urbangis_fixes_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION urbangis_fixes_partition(date) TO urbangis_api;

-- A case's events follow their case. An event is written with its case in one statement at
-- intake, where the new case is not yet visible to a policy's subquery; so inserts are not
-- checked here: the server writes an event only after reading its case through the policy above
-- (cases/workflow.py: a case of another area is not found).
ALTER TABLE case_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY in_area ON case_events FOR SELECT TO urbangis_api
    USING (EXISTS (SELECT 1 FROM cases c WHERE c.case_no = case_events.case_no));
CREATE POLICY in_area_write ON case_events FOR INSERT TO urbangis_api WITH CHECK (true);
