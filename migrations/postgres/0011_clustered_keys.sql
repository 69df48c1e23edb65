-- Kept in step with SQLite's migration of this number, which stores
-- log_event_targets and risk_contributions WITHOUT ROWID. PostgreSQL has no
-- rowid tables to change.
SELECT 1;
