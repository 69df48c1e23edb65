-- One row per event of an accepted SET, and per admin report: what it said
-- and what Riskline did with it. This replaces three writes per SET event
-- (a risk_history row, a received_sets row, and two to four stored System
-- Log events with their search text, targets and seven indexes) with one row
-- of a few hundred bytes: the System Log events a SET produced
-- (receive_event, user.risk.detect, policy.entity_risk.evaluate and .action)
-- are rendered from it when read (the view detection_log_events below).
--
-- `seq` comes from the same counter as log_events.seq (the writer takes a
-- block of it per transaction), so the two tables' rows are numbered in one
-- commit order and the System Log reads them as one sequence.
--
-- A risk history entry is a row whose new_level is set. Rows whose event
-- recorded no risk (SKIPPED, or a level mapping that changes nothing) keep
-- new_level NULL; they exist for the System Log and the dedupe.
--
-- There is no foreign key to users: deleting a user keeps the record of what
-- was reported about them, as the System Log keeps its stored events.
CREATE TABLE detections (
    seq            INTEGER PRIMARY KEY,
    at_ms          BIGINT NOT NULL,
    user_id        TEXT,
    -- The user as named then (the rendered events' User target).
    user_login     TEXT,
    user_display_name TEXT,
    detection      TEXT NOT NULL,
    source         TEXT NOT NULL,
    source_name    TEXT NOT NULL,
    -- The SET: issuer, jti, this event's place among its events, the event
    -- type URI, the event as received (JSON) and the txn claim.
    issuer         TEXT,
    jti            TEXT,
    ord            BIGINT,
    event_type     TEXT,
    payload        TEXT,
    txn            TEXT,
    -- The receive_event's outcome: SUCCESS or SKIPPED (with its reason).
    outcome        TEXT NOT NULL DEFAULT 'SUCCESS',
    outcome_reason TEXT,
    previous_level TEXT,
    new_level      TEXT,
    reported_level TEXT,
    reasons        TEXT,
    -- Which System Log events are rendered from this row: 1 receive_event,
    -- 2 user.risk.detect, 4 policy.entity_risk.evaluate, 8 .action. Admin
    -- reports and rows from before this migration have 0: their events are
    -- stored in log_events.
    log_kinds      INTEGER NOT NULL DEFAULT 0,
    -- The stored user.risk.detect event (log_kinds 0 only).
    log_event_uuid TEXT,
    transaction_id TEXT,
    rule_id        TEXT,
    rule_name      TEXT,
    rule_action    TEXT,
    -- The rule as it was (priority, status, workflowId) and the logout's
    -- app selection (mode, apps), for the rendered policy events (JSON).
    policy_detail  TEXT,
    logout_id      TEXT,
    delivery_id    TEXT,
    feedback       TEXT,
    feedback_by    TEXT,
    feedback_ms    BIGINT
);

INSERT INTO detections (seq, at_ms, user_id, detection, source, source_name, event_type,
        previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id,
        rule_id, rule_name, rule_action, logout_id, delivery_id, feedback, feedback_by, feedback_ms)
    SELECT seq, at_ms, user_id, detection, source, source_name, event_type,
        previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id,
        rule_id, rule_name, rule_action, logout_id, delivery_id, feedback, feedback_by, feedback_ms
    FROM risk_history;
DROP TABLE risk_history;

-- The shared counter starts above every seq either table holds.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'log_events', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'log_events');
UPDATE sqlite_sequence
   SET seq = MAX(seq, COALESCE((SELECT MAX(seq) FROM detections), 0), COALESCE((SELECT MAX(seq) FROM log_events), 0))
 WHERE name = 'log_events';

-- SETs accepted before this migration: their events are stored in log_events
-- (log_kinds 0, nothing rendered, no risk recorded); the row keeps the jti
-- so that a replay is still recognised.
INSERT INTO detections (seq, at_ms, detection, source, source_name, issuer, jti, ord, log_kinds)
    SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'log_events')
             + ROW_NUMBER() OVER (ORDER BY r.received_ms, r.issuer, r.jti),
           r.received_ms, 'SECURITY_EVENTS_PROVIDER_REPORTED_RISK',
           COALESCE(p.id, r.issuer), COALESCE(p.name, r.issuer), r.issuer, r.jti, 0, 0
    FROM received_sets r LEFT JOIN providers p ON p.issuer = r.issuer;
UPDATE sqlite_sequence
   SET seq = MAX(seq, COALESCE((SELECT MAX(seq) FROM detections), 0))
 WHERE name = 'log_events';
DROP TABLE received_sets;

-- A person's timeline, and the System Log's `target.id eq` for rendered events.
CREATE INDEX detections_user ON detections (user_id, at_ms);
-- The System Log's window over rendered events (log_kinds: counts read the index alone).
CREATE INDEX detections_at ON detections (at_ms, log_kinds);
-- Reports: as risk_history_detections was (0010).
CREATE INDEX detections_reported ON detections
    (at_ms, seq, source, reported_level, rule_id, rule_action, logout_id, delivery_id)
    WHERE reported_level IS NOT NULL;
-- A SET's events once each (a replay is acknowledged and ignored), and the
-- System Log's `transaction.id eq "set:<jti>"`.
CREATE UNIQUE INDEX detections_set ON detections (jti, issuer, ord);
-- Stream health: each provider's events by time, and `actor.id eq`.
CREATE INDEX detections_source ON detections (source, at_ms, outcome)
    WHERE log_kinds <> 0;

-- The System Log events a detection row renders, by bit of log_kinds.
CREATE TABLE detection_log_kinds (
    kind            INTEGER PRIMARY KEY,
    bit             INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    display_message TEXT NOT NULL
);
INSERT INTO detection_log_kinds (kind, bit, event_type, display_message) VALUES
    (0, 1, 'security.events.provider.receive_event', 'Security Events Provider Reported Risk'),
    (1, 2, 'user.risk.detect', 'User risk detected'),
    (2, 4, 'policy.entity_risk.evaluate', 'Evaluate entity risk policy'),
    (3, 8, 'policy.entity_risk.action', 'Entity risk policy action');

-- The rendered events, with the columns of log_events (plus `kind`, the
-- SET's jti, and the ids their targets name). Their uuid is derived from (seq, kind): version 8,
-- with 8ad7 in its fourth group (core/src/detection_log.rs parses it).
CREATE VIEW detection_log_events AS
SELECT
    d.seq AS seq,
    k.kind AS kind,
    d.at_ms AS published_ms,
    printf('00000000-%04x-8%03x-8ad7-%012x', (d.seq >> 48) & 65535, k.kind, d.seq & 281474976710655) AS uuid,
    k.event_type AS event_type,
    'INFO' AS severity,
    d.source AS actor_id,
    CASE WHEN k.kind = 0 THEN d.outcome ELSE 'SUCCESS' END AS outcome_result,
    d.transaction_id AS transaction_id,
    d.jti AS jti,
    d.user_id AS target_user,
    CASE WHEN k.kind >= 2 THEN d.rule_id END AS target_rule,
    json_object(
        'uuid', printf('00000000-%04x-8%03x-8ad7-%012x', (d.seq >> 48) & 65535, k.kind, d.seq & 281474976710655),
        'published', strftime('%Y-%m-%dT%H:%M:%S', d.at_ms / 1000, 'unixepoch') || printf('.%03dZ', d.at_ms % 1000),
        'eventType', k.event_type,
        'version', '0',
        'severity', 'INFO',
        'legacyEventType', NULL,
        'displayMessage', k.display_message,
        'actor', json_object('id', d.source, 'type', 'SecurityEventProvider', 'alternateId', d.issuer,
                             'displayName', d.source_name, 'detailEntry', NULL),
        'outcome', CASE WHEN k.kind = 0 THEN json_object('result', d.outcome, 'reason', d.outcome_reason)
                        ELSE json_object('result', 'SUCCESS', 'reason', NULL) END,
        'target', CASE
            WHEN k.kind >= 2 THEN json_array(
                json_object('id', d.user_id, 'type', 'User', 'alternateId', d.user_login,
                            'displayName', d.user_display_name, 'detailEntry', NULL),
                json_object('id', '00pentityrisk0000001', 'type', 'PolicyEntity', 'alternateId', NULL,
                            'displayName', 'Entity Risk Policy', 'detailEntry', json_object('policyType', 'ENTITY_RISK')),
                json_object('id', d.rule_id, 'type', 'PolicyRule', 'alternateId', '00pentityrisk0000001',
                            'displayName', d.rule_name,
                            'detailEntry', json_patch(
                                json_object('policyType', 'ENTITY_RISK',
                                            'priority', json_extract(d.policy_detail, '$.priority'),
                                            'status', json_extract(d.policy_detail, '$.status'),
                                            'RuleAction', d.rule_action),
                                CASE WHEN json_extract(d.policy_detail, '$.workflowId') IS NULL THEN '{}'
                                     ELSE json_object('WorkflowId', json_extract(d.policy_detail, '$.workflowId')) END)))
            WHEN d.user_id IS NOT NULL THEN json_array(
                json_object('id', d.user_id, 'type', 'User', 'alternateId', d.user_login,
                            'displayName', d.user_display_name, 'detailEntry', NULL))
            ELSE json_array() END,
        'transaction', json_object('type', 'JOB', 'id', d.transaction_id, 'detail', json_object()),
        'debugContext', json_object('debugData', CASE k.kind
            WHEN 0 THEN json_patch(
                json_object('jti', d.jti, 'issuer', d.issuer, 'eventType', d.event_type,
                            'partnerRiskReportData', json(d.payload)),
                CASE WHEN d.txn IS NULL THEN '{}' ELSE json_object('txn', d.txn) END)
            WHEN 1 THEN json_object('risk', json_object('level', d.new_level, 'previousLevel', d.previous_level,
                            'detectionName', 'Security Events Provider Reported Risk', 'issuer', d.issuer,
                            'reasons', d.reasons))
            WHEN 2 THEN json_object('Risk', json_object('level', d.new_level, 'detectionName', d.detection))
            ELSE json_patch(
                json_object('PolicyAction', d.rule_action,
                            'Risk', json_object('level', d.new_level, 'detectionName', d.detection)),
                CASE
                    WHEN d.logout_id IS NOT NULL THEN json_object(
                        'PolicySingleLogOutEnabled', json('true'),
                        'PolicySingleLogOutSelectionMode', json_extract(d.policy_detail, '$.mode'),
                        'PolicySingleLogoutAppInstanceIds', json(COALESCE(json_extract(d.policy_detail, '$.apps'), '[]')),
                        'TraceId', d.logout_id)
                    WHEN d.delivery_id IS NOT NULL THEN json_object(
                        'PolicyWorkflowId', json_extract(d.policy_detail, '$.workflowId'),
                        'TraceId', d.delivery_id)
                    ELSE '{}' END)
            END)
    ) AS body,
    lower(concat_ws(' ',
        k.display_message, k.event_type, d.source_name, d.issuer, d.source,
        d.user_display_name, d.user_login, d.user_id,
        CASE WHEN k.kind >= 2 THEN concat_ws(' ', 'Entity Risk Policy', '00pentityrisk0000001',
                                             d.rule_name, '00pentityrisk0000001', d.rule_id) END,
        CASE k.kind
            WHEN 0 THEN concat_ws(' ', d.outcome_reason, d.jti, d.issuer, d.event_type,
                (SELECT group_concat(t.value, ' ') FROM json_tree(d.payload) AS t
                  WHERE t.type IN ('text', 'integer', 'real')),
                d.txn)
            WHEN 1 THEN concat_ws(' ', d.new_level, d.previous_level,
                'Security Events Provider Reported Risk', d.issuer, d.reasons)
            WHEN 2 THEN concat_ws(' ', d.new_level, d.detection)
            ELSE concat_ws(' ', d.rule_action, d.new_level, d.detection,
                json_extract(d.policy_detail, '$.mode'),
                (SELECT group_concat(a.value, ' ') FROM json_each(d.policy_detail, '$.apps') AS a),
                json_extract(d.policy_detail, '$.workflowId'), d.logout_id, d.delivery_id)
        END)) AS search_text
FROM detections AS d
JOIN detection_log_kinds AS k ON (d.log_kinds & k.bit) <> 0
-- Implied by the join; spelt out so that queries may use the partial index.
WHERE d.log_kinds <> 0;

-- Each source's say on a user's risk moves onto the user's row, as a JSON
-- object {source: [level, since_ms]}: a detection then rewrites one row (and
-- page) of the user's, not two.
ALTER TABLE users ADD COLUMN risk_contributions TEXT NOT NULL DEFAULT '{}';
UPDATE users SET risk_contributions = (
        SELECT json_group_object(c.source, json_array(c.level, c.updated_ms))
        FROM risk_contributions c WHERE c.user_id = users.id)
 WHERE id IN (SELECT user_id FROM risk_contributions);
DROP TABLE risk_contributions;
