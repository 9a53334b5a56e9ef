-- 0002: bulk loads submitted over HTTP (POST /ingest/jobs), their progress and their reports.
-- A job's own load runs in its own transaction; this table is written on a separate connection,
-- so progress is visible while the load is still uncommitted.
CREATE TABLE ingest_jobs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'loaded', 'rejected', 'failed')),
    filename    text NOT NULL,
    options     jsonb NOT NULL DEFAULT '{}',
    owner       text,                      -- host:pid of the server process running it
    layer       text,                      -- layer being loaded now
    phase       text,                      -- reading | validating | merging | done
    rows_done   bigint NOT NULL DEFAULT 0,
    rows_total  bigint,
    message     text,
    report      jsonb,                     -- summary and the first issues (the full report is a file)
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX ingest_jobs_created ON ingest_jobs (created_at DESC);
