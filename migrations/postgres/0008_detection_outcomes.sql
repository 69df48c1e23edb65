-- What each detection led to, for the Risk tab and the reports: the log
-- transaction it belongs to, the policy rule that matched and the action it
-- owed, and an analyst's feedback on it.
ALTER TABLE risk_history ADD COLUMN transaction_id TEXT;
ALTER TABLE risk_history ADD COLUMN rule_id TEXT;
ALTER TABLE risk_history ADD COLUMN rule_name TEXT;
ALTER TABLE risk_history ADD COLUMN rule_action TEXT;
ALTER TABLE risk_history ADD COLUMN logout_id TEXT;
ALTER TABLE risk_history ADD COLUMN delivery_id TEXT;
ALTER TABLE risk_history ADD COLUMN feedback TEXT;
ALTER TABLE risk_history ADD COLUMN feedback_by TEXT;
ALTER TABLE risk_history ADD COLUMN feedback_ms BIGINT;
