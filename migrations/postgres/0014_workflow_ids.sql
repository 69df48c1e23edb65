-- Workflow ids are handed out once and never again: a rule, or an outbox
-- row still owed, that names a deleted workflow must not reach a newer one
-- (MAX(id) + 1 gave a deleted workflow's id to the next one created, and
-- two concurrent creates the same id). One row: the last id handed out;
-- taking the next one locks it, so concurrent creates take turns.
CREATE TABLE workflow_ids (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    last_id BIGINT NOT NULL
);
-- Starts past every id that is or was in use: existing workflows, calls
-- still in the outbox, and ids that rules name.
INSERT INTO workflow_ids (one, last_id)
SELECT 1, GREATEST(
    (SELECT COALESCE(MAX(id), 0) FROM workflows),
    (SELECT COALESCE(MAX(target_id::bigint), 0) FROM outbox
      WHERE kind = 'workflow_call' AND target_id ~ '^[0-9]{1,18}$'),
    (SELECT COALESCE(MAX((actions::jsonb #>> '{entityRisk,actions,0,workflow,id}')::bigint), 0)
       FROM policy_rules
      WHERE actions::jsonb #>> '{entityRisk,actions,0,workflow,id}' ~ '^[0-9]{1,18}$'));
