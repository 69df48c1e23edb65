-- System Log live tail (GET /api/v1/logs/stream). Transactions commit in any
-- order, so a row's `seq` may be smaller than one a tail has already read. The
-- tail therefore orders by the id of the transaction that wrote the row and
-- only reads transactions older than the oldest one still running
-- (pg_snapshot_xmin), which can add no more rows: no event is ever skipped.
-- Rows written before this migration have no id; the tail never needs them.
ALTER TABLE log_events ADD COLUMN commit_xid BIGINT;
ALTER TABLE log_events ALTER COLUMN commit_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX log_events_commit_xid ON log_events (commit_xid, seq);

-- The System Log is append-only and read by index-only scans (counts over
-- time, quick-filter values): vacuum it after every 1 % of new rows rather
-- than 20 %, so the visibility map covers recent events and those scans do
-- not fall back to reading the table for them.
ALTER TABLE log_events SET (autovacuum_vacuum_insert_scale_factor = 0.01);
