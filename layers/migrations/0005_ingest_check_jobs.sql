-- 0005: an ingest job may be a check only (POST /ingest/jobs with mode=check): the whole load runs,
-- its report says what would load and what would be rejected, and its transaction is rolled back.
-- Such a job ends in the state 'checked'.
ALTER TABLE ingest_jobs DROP CONSTRAINT ingest_jobs_state_check,
    ADD CONSTRAINT ingest_jobs_state_check
        CHECK (state IN ('queued', 'running', 'loaded', 'checked', 'rejected', 'failed'));
