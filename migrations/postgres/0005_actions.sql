-- Riskline's own signing keys (Universal Logout bearer JWTs), newest active.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_der TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    active      BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL
);

-- Apps Riskline logs users out of, over Global Token Revocation.
CREATE TABLE logout_apps (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    endpoint_url   TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    auth_type      TEXT NOT NULL CHECK (auth_type IN ('signed_jwt', 'bearer')),
    bearer_token   TEXT,
    subject_format TEXT NOT NULL CHECK (subject_format IN ('email', 'iss_sub')),
    status         TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    created_ms     BIGINT NOT NULL,
    updated_ms     BIGINT NOT NULL
);

-- One Universal Logout of one user, and how it ended.
CREATE TABLE logouts (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    rule_id      TEXT,
    trigger_kind TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    completed_ms BIGINT
);
CREATE INDEX logouts_user ON logouts (user_id, created_ms);

-- Actions owed, written in the transaction that decided them and delivered
-- by the workers: a lease (owner + until) keeps each with one worker.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    logout_id       TEXT,
    target_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    deadline_ms     BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  BIGINT,
    last_result     TEXT,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_ms);
CREATE INDEX outbox_logout ON outbox (logout_id);
