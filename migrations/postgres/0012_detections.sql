-- One row per event of an accepted SET, and per admin report: what it said
-- and what Riskline did with it. This replaces three writes per SET event
-- (a risk_history row, a received_sets row, and two to four stored System
-- Log events with their search text, targets and seven indexes) with one row
-- of a few hundred bytes: the System Log events a SET produced
-- (receive_event, user.risk.detect, policy.entity_risk.evaluate and .action)
-- are rendered from it when read (the view detection_log_events below).
--
-- `seq` comes from log_events' sequence, so the two tables' rows are
-- numbered from one counter and the System Log reads them as one sequence;
-- `commit_xid` orders them for the live tail, as in log_events (0009).
--
-- A risk history entry is a row whose new_level is set. Rows whose event
-- recorded no risk (SKIPPED, or a level mapping that changes nothing) keep
-- new_level NULL; they exist for the System Log and the dedupe.
--
-- There is no foreign key to users: deleting a user keeps the record of what
-- was reported about them, as the System Log keeps its stored events.
CREATE TABLE detections (
    seq            BIGINT PRIMARY KEY DEFAULT nextval('log_events_seq_seq'),
    at_ms          BIGINT NOT NULL,
    user_id        TEXT,
    user_login     TEXT,
    user_display_name TEXT,
    detection      TEXT NOT NULL,
    source         TEXT NOT NULL,
    source_name    TEXT NOT NULL,
    issuer         TEXT,
    jti            TEXT,
    ord            BIGINT,
    event_type     TEXT,
    payload        TEXT,
    txn            TEXT,
    outcome        TEXT NOT NULL DEFAULT 'SUCCESS',
    outcome_reason TEXT,
    previous_level TEXT,
    new_level      TEXT,
    reported_level TEXT,
    reasons        TEXT,
    log_kinds      BIGINT NOT NULL DEFAULT 0,
    log_event_uuid TEXT,
    transaction_id TEXT,
    rule_id        TEXT,
    rule_name      TEXT,
    rule_action    TEXT,
    policy_detail  TEXT,
    logout_id      TEXT,
    delivery_id    TEXT,
    feedback       TEXT,
    feedback_by    TEXT,
    feedback_ms    BIGINT,
    commit_xid     BIGINT DEFAULT (pg_current_xact_id()::text::bigint)
);

INSERT INTO detections (seq, at_ms, user_id, detection, source, source_name, event_type,
        previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id,
        rule_id, rule_name, rule_action, logout_id, delivery_id, feedback, feedback_by, feedback_ms, commit_xid)
    SELECT seq, at_ms, user_id, detection, source, source_name, event_type,
        previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id,
        rule_id, rule_name, rule_action, logout_id, delivery_id, feedback, feedback_by, feedback_ms, NULL
    FROM risk_history;
DROP TABLE risk_history;

-- The shared counter continues above every seq either table holds.
SELECT setval('log_events_seq_seq', GREATEST(
    (SELECT COALESCE(MAX(seq), 0) FROM detections),
    (SELECT COALESCE(MAX(seq), 0) FROM log_events),
    (SELECT last_value FROM log_events_seq_seq)));

-- SETs accepted before this migration: their events are stored in log_events
-- (log_kinds 0, nothing rendered, no risk recorded); the row keeps the jti
-- so that a replay is still recognised.
INSERT INTO detections (at_ms, detection, source, source_name, issuer, jti, ord, log_kinds, commit_xid)
    SELECT r.received_ms, 'SECURITY_EVENTS_PROVIDER_REPORTED_RISK',
           COALESCE(p.id, r.issuer), COALESCE(p.name, r.issuer), r.issuer, r.jti, 0, 0, NULL
    FROM received_sets r LEFT JOIN providers p ON p.issuer = r.issuer
    ORDER BY r.received_ms, r.issuer, r.jti;
DROP TABLE received_sets;

CREATE INDEX detections_user ON detections (user_id, at_ms, seq);
CREATE INDEX detections_at ON detections (at_ms, seq, log_kinds);
CREATE INDEX detections_reported ON detections
    (at_ms, seq, source, reported_level, rule_id, rule_action, logout_id, delivery_id)
    WHERE reported_level IS NOT NULL;
CREATE UNIQUE INDEX detections_set ON detections (jti, issuer, ord);
CREATE INDEX detections_source ON detections (source, at_ms, outcome)
    WHERE log_kinds <> 0;
CREATE INDEX detections_commit_xid ON detections (commit_xid, seq)
    WHERE log_kinds <> 0;
ALTER TABLE detections SET (autovacuum_vacuum_insert_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0.0);

CREATE TABLE detection_log_kinds (
    kind            BIGINT PRIMARY KEY,
    bit             BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    display_message TEXT NOT NULL
);
INSERT INTO detection_log_kinds (kind, bit, event_type, display_message) VALUES
    (0, 1, 'security.events.provider.receive_event', 'Security Events Provider Reported Risk'),
    (1, 2, 'user.risk.detect', 'User risk detected'),
    (2, 4, 'policy.entity_risk.evaluate', 'Evaluate entity risk policy'),
    (3, 8, 'policy.entity_risk.action', 'Entity risk policy action');

-- The rendered events, as the SQLite view of the same name builds them.
CREATE VIEW detection_log_events AS
SELECT
    d.seq AS seq,
    k.kind AS kind,
    d.at_ms AS published_ms,
    '00000000-' || lpad(to_hex((d.seq >> 48) & 65535), 4, '0') || '-8' || lpad(to_hex(k.kind), 3, '0')
        || '-8ad7-' || lpad(to_hex(d.seq & 281474976710655), 12, '0') AS uuid,
    k.event_type AS event_type,
    'INFO'::text AS severity,
    d.source AS actor_id,
    CASE WHEN k.kind = 0 THEN d.outcome ELSE 'SUCCESS' END AS outcome_result,
    d.transaction_id AS transaction_id,
    d.jti AS jti,
    d.user_id AS target_user,
    CASE WHEN k.kind >= 2 THEN d.rule_id END AS target_rule,
    d.commit_xid AS commit_xid,
    json_build_object(
        'uuid', '00000000-' || lpad(to_hex((d.seq >> 48) & 65535), 4, '0') || '-8' || lpad(to_hex(k.kind), 3, '0')
                || '-8ad7-' || lpad(to_hex(d.seq & 281474976710655), 12, '0'),
        'published', to_char(timestamp 'epoch' + d.at_ms * interval '1 millisecond', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'eventType', k.event_type,
        'version', '0',
        'severity', 'INFO',
        'legacyEventType', NULL,
        'displayMessage', k.display_message,
        'actor', json_build_object('id', d.source, 'type', 'SecurityEventProvider', 'alternateId', d.issuer,
                                   'displayName', d.source_name, 'detailEntry', NULL),
        'outcome', CASE WHEN k.kind = 0 THEN json_build_object('result', d.outcome, 'reason', d.outcome_reason)
                        ELSE json_build_object('result', 'SUCCESS', 'reason', NULL) END,
        'target', CASE
            WHEN k.kind >= 2 THEN json_build_array(
                json_build_object('id', d.user_id, 'type', 'User', 'alternateId', d.user_login,
                                  'displayName', d.user_display_name, 'detailEntry', NULL),
                json_build_object('id', '00pentityrisk0000001', 'type', 'PolicyEntity', 'alternateId', NULL,
                                  'displayName', 'Entity Risk Policy', 'detailEntry', json_build_object('policyType', 'ENTITY_RISK')),
                json_build_object('id', d.rule_id, 'type', 'PolicyRule', 'alternateId', '00pentityrisk0000001',
                                  'displayName', d.rule_name,
                                  'detailEntry', (jsonb_build_object('policyType', 'ENTITY_RISK',
                                      'priority', d.policy_detail::jsonb -> 'priority',
                                      'status', d.policy_detail::jsonb -> 'status',
                                      'RuleAction', d.rule_action)
                                    || CASE WHEN d.policy_detail::jsonb -> 'workflowId' IS NULL THEN '{}'::jsonb
                                            ELSE jsonb_build_object('WorkflowId', d.policy_detail::jsonb -> 'workflowId') END)::json))
            WHEN d.user_id IS NOT NULL THEN json_build_array(
                json_build_object('id', d.user_id, 'type', 'User', 'alternateId', d.user_login,
                                  'displayName', d.user_display_name, 'detailEntry', NULL))
            ELSE json_build_array() END,
        'transaction', json_build_object('type', 'JOB', 'id', d.transaction_id, 'detail', json_build_object()),
        'debugContext', json_build_object('debugData', CASE k.kind
            WHEN 0 THEN (jsonb_build_object('jti', d.jti, 'issuer', d.issuer, 'eventType', d.event_type,
                                            'partnerRiskReportData', d.payload::jsonb)
                         || CASE WHEN d.txn IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('txn', d.txn) END)::json
            WHEN 1 THEN json_build_object('risk', json_build_object('level', d.new_level, 'previousLevel', d.previous_level,
                            'detectionName', 'Security Events Provider Reported Risk', 'issuer', d.issuer,
                            'reasons', d.reasons))
            WHEN 2 THEN json_build_object('Risk', json_build_object('level', d.new_level, 'detectionName', d.detection))
            ELSE (jsonb_build_object('PolicyAction', d.rule_action,
                                     'Risk', jsonb_build_object('level', d.new_level, 'detectionName', d.detection))
                  || CASE
                       WHEN d.logout_id IS NOT NULL THEN jsonb_build_object(
                           'PolicySingleLogOutEnabled', true,
                           'PolicySingleLogOutSelectionMode', d.policy_detail::jsonb -> 'mode',
                           'PolicySingleLogoutAppInstanceIds', COALESCE(d.policy_detail::jsonb -> 'apps', '[]'::jsonb),
                           'TraceId', d.logout_id)
                       WHEN d.delivery_id IS NOT NULL THEN jsonb_build_object(
                           'PolicyWorkflowId', d.policy_detail::jsonb -> 'workflowId',
                           'TraceId', d.delivery_id)
                       ELSE '{}'::jsonb END)::json
            END)
    )::text AS body,
    lower(concat_ws(' ',
        k.display_message, k.event_type, d.source_name, d.issuer, d.source,
        d.user_display_name, d.user_login, d.user_id,
        CASE WHEN k.kind >= 2 THEN concat_ws(' ', 'Entity Risk Policy', '00pentityrisk0000001',
                                             d.rule_name, '00pentityrisk0000001', d.rule_id) END,
        CASE k.kind
            WHEN 0 THEN concat_ws(' ', d.outcome_reason, d.jti, d.issuer, d.event_type,
                (SELECT string_agg(x.v #>> '{}', ' ')
                   FROM jsonb_path_query(d.payload::jsonb, 'strict $.**') AS x(v)
                  WHERE jsonb_typeof(x.v) IN ('string', 'number')),
                d.txn)
            WHEN 1 THEN concat_ws(' ', d.new_level, d.previous_level,
                'Security Events Provider Reported Risk', d.issuer, d.reasons)
            WHEN 2 THEN concat_ws(' ', d.new_level, d.detection)
            ELSE concat_ws(' ', d.rule_action, d.new_level, d.detection,
                d.policy_detail::jsonb ->> 'mode',
                (SELECT string_agg(a.v, ' ') FROM jsonb_array_elements_text(d.policy_detail::jsonb -> 'apps') AS a(v)),
                d.policy_detail::jsonb ->> 'workflowId', d.logout_id, d.delivery_id)
        END)) AS search_text
FROM detections AS d
JOIN detection_log_kinds AS k ON (d.log_kinds & k.bit) <> 0
-- Implied by the join; spelt out so that queries may use the partial indexes.
WHERE d.log_kinds <> 0;

-- Each source's say on a user's risk moves onto the user's row, as a JSON
-- object {source: [level, since_ms]}: a detection then rewrites one row of
-- the user's, not two.
ALTER TABLE users ADD COLUMN risk_contributions TEXT NOT NULL DEFAULT '{}';
UPDATE users AS u SET risk_contributions = c.j
FROM (SELECT user_id, json_object_agg(source, json_build_array(level, updated_ms))::text AS j
      FROM risk_contributions GROUP BY user_id) AS c
WHERE c.user_id = u.id;
DROP TABLE risk_contributions;
