-- The directory: users (matched by SET subjects) and groups.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    status        TEXT NOT NULL,
    risk_level    TEXT NOT NULL DEFAULT 'NONE',
    risk_since_ms BIGINT,
    risk_reason   TEXT,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX users_email ON users (email);
CREATE INDEX users_risk ON users (risk_level);

-- External identities (iss + sub) that SET subjects may name.
CREATE TABLE user_external_ids (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    iss     TEXT NOT NULL,
    sub     TEXT NOT NULL,
    PRIMARY KEY (iss, sub)
);
CREATE INDEX user_external_ids_user ON user_external_ids (user_id);

CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Each source's current say on a user's risk: a provider id, or 'admin'.
-- The user's level is the highest of these.
CREATE TABLE risk_contributions (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    level      TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, source)
);

-- Every change to a user's risk, newest last.
CREATE TABLE risk_history (
    seq            BIGSERIAL PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at_ms          BIGINT NOT NULL,
    detection      TEXT NOT NULL,
    source         TEXT NOT NULL,
    source_name    TEXT NOT NULL,
    event_type     TEXT,
    previous_level TEXT NOT NULL,
    new_level      TEXT NOT NULL,
    reported_level TEXT,
    reasons        TEXT,
    jti            TEXT,
    log_event_uuid TEXT
);
CREATE INDEX risk_history_user ON risk_history (user_id, seq);
CREATE INDEX risk_history_at ON risk_history (at_ms);

-- The jti of every accepted SET per issuer: a duplicate is accepted and ignored.
CREATE TABLE received_sets (
    issuer      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);

-- Per-provider overrides of the level given to events that carry none.
CREATE TABLE provider_level_mappings (
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    mapping_key TEXT NOT NULL,
    level       TEXT NOT NULL,
    PRIMARY KEY (provider_id, mapping_key)
);
