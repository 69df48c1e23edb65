-- Delegated workflows: webhooks Riskline calls when a rule says RUN_WORKFLOW.
-- The numeric id is what rules name (`workflow.id`).
CREATE TABLE workflows (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
