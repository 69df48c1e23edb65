-- The Entity Risk Policy: one system policy of type ENTITY_RISK and its
-- ordered rules. Custom rules hold priorities 1..n without gaps; the system
-- Catch-all rule holds 99. Conditions and actions are Okta's rule JSON.
CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    policy_type TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE policy_rules (
    id         TEXT PRIMARY KEY,
    policy_id  TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    priority   BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    is_system  BOOLEAN NOT NULL DEFAULT FALSE,
    conditions TEXT,
    actions    TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX policy_rules_order ON policy_rules (policy_id, priority);

INSERT INTO policies (id, policy_type, name, created_ms, updated_ms)
VALUES ('00pentityrisk0000001', 'ENTITY_RISK', 'Entity Risk Policy',
        CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT),
        CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));

INSERT INTO policy_rules (id, policy_id, name, priority, status, is_system, conditions, actions, created_ms, updated_ms)
VALUES ('0prcatchall000000001', '00pentityrisk0000001', 'Catch-all rule', 99, 'ACTIVE', TRUE, NULL,
        '{"entityRisk":{"actions":[]}}',
        CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT),
        CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));
