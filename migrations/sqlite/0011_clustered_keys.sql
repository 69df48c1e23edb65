-- Two tables written on every SET, clustered by their key. A rowid table
-- keeps each row twice (the table, and its primary-key index), so a new row
-- changed a page of each; WITHOUT ROWID stores the row once, in key order.
CREATE TABLE log_event_targets_clustered (
    seq       BIGINT NOT NULL REFERENCES log_events(seq) ON DELETE CASCADE,
    target_id TEXT NOT NULL,
    PRIMARY KEY (target_id, seq)
) WITHOUT ROWID;
INSERT INTO log_event_targets_clustered (seq, target_id)
    SELECT seq, target_id FROM log_event_targets;
DROP TABLE log_event_targets;
ALTER TABLE log_event_targets_clustered RENAME TO log_event_targets;

CREATE TABLE risk_contributions_clustered (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    level      TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, source)
) WITHOUT ROWID;
INSERT INTO risk_contributions_clustered (user_id, source, level, updated_ms)
    SELECT user_id, source, level, updated_ms FROM risk_contributions;
DROP TABLE risk_contributions;
ALTER TABLE risk_contributions_clustered RENAME TO risk_contributions;
