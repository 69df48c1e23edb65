-- The search text of the events rendered from detections, folded to lower
-- case with Riskline's `rl_fold` (core/src/sqlite_text.rs) instead of
-- SQLite's `lower()`, which knows ASCII only: a keyword "éva" now finds
-- "Éva" on SQLite as it does on PostgreSQL. The view is otherwise as 0012
-- made it. (`rl_fold` is added to every connection Riskline opens; the
-- sqlite3 shell does not have it, so it cannot read this view.)
DROP VIEW detection_log_events;

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
    rl_fold(concat_ws(' ',
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
