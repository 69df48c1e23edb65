-- Admins who sign in to the console. Emails are stored lower-cased.
CREATE TABLE admins (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('SUPER_ADMIN', 'READ_ONLY_ADMIN')),
    status          TEXT NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
    created_ms      BIGINT NOT NULL,
    last_sign_in_ms BIGINT
);

-- API tokens: only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('SUPER_ADMIN', 'READ_ONLY_ADMIN')),
    created_by   TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    created_ms   BIGINT NOT NULL,
    last_used_ms BIGINT
);

-- Security events providers (transmitters / streams).
CREATE TABLE providers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    provider_type  TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    well_known_url TEXT,
    issuer         TEXT NOT NULL UNIQUE,
    jwks_url       TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    updated_ms     BIGINT NOT NULL
);

-- The System Log. `seq` orders events by persistence and is the cursor;
-- `body` is the whole Okta-shaped LogEvent as JSON.
CREATE TABLE log_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT NOT NULL UNIQUE,
    published_ms   BIGINT NOT NULL,
    event_type     TEXT NOT NULL,
    severity       TEXT NOT NULL,
    actor_id       TEXT,
    outcome_result TEXT,
    transaction_id TEXT,
    body           TEXT NOT NULL
);
CREATE INDEX log_events_published ON log_events (published_ms, seq);
CREATE INDEX log_events_type ON log_events (event_type, published_ms);
CREATE INDEX log_events_actor ON log_events (actor_id, published_ms);

-- One row per target of a log event, so `target.id eq` is an index lookup.
CREATE TABLE log_event_targets (
    seq       BIGINT NOT NULL REFERENCES log_events(seq) ON DELETE CASCADE,
    target_id TEXT NOT NULL,
    PRIMARY KEY (target_id, seq)
);

-- Console sessions (tower-sessions records as JSON).
CREATE TABLE sessions (
    id        TEXT PRIMARY KEY,
    data      TEXT NOT NULL,
    expiry_ms BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_ms);
