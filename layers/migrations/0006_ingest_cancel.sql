-- 0006: an ingest job can be cancelled (DELETE /ingest/jobs/{id}). A queued job is simply marked
-- 'cancelled'; a running one gets cancel_requested, which the server running it reads at its next
-- progress write, and the statement its load connection (backend_pid) is running is cancelled
-- (pg_cancel_backend), so the load's transaction is rolled back: nothing of it is written.
ALTER TABLE ingest_jobs
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN backend_pid integer,
    DROP CONSTRAINT ingest_jobs_state_check,
    ADD CONSTRAINT ingest_jobs_state_check
        CHECK (state IN ('queued', 'running', 'loaded', 'checked', 'rejected', 'failed', 'cancelled'));
