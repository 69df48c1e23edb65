-- Workflow ids are handed out once and never again: a rule, or an outbox
-- row still owed, that names a deleted workflow must not reach a newer one
-- (MAX(id) + 1 gave a deleted workflow's id to the next one created).
-- One row: the last id handed out.
CREATE TABLE workflow_ids (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    last_id BIGINT NOT NULL
);
-- Starts past every id that is or was in use: existing workflows, calls
-- still in the outbox, and ids that rules name.
INSERT INTO workflow_ids (one, last_id)
SELECT 1, MAX(m) FROM (
    SELECT COALESCE(MAX(id), 0) AS m FROM workflows
    UNION ALL
    SELECT COALESCE(MAX(CAST(target_id AS INTEGER)), 0) FROM outbox WHERE kind = 'workflow_call'
    UNION ALL
    SELECT COALESCE(MAX(CAST(json_extract(actions, '$.entityRisk.actions[0].workflow.id') AS INTEGER)), 0)
    FROM policy_rules
);
