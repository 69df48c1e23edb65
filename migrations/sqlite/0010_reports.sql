-- Reports (Entity risk, dashboard). Detections are the risk history entries
-- that reported a level; this partial index holds only those, in time order,
-- with every column the reports aggregate, so a report over a time range is
-- an index-only range scan and its list pages by (at_ms, seq) without a sort.
-- Queries spell the predicate exactly `reported_level IS NOT NULL`.
CREATE INDEX risk_history_detections ON risk_history
    (at_ms, seq, source, reported_level, rule_id, rule_action, logout_id, delivery_id)
    WHERE reported_level IS NOT NULL;

-- Stream health on the dashboard: each stream's latest received event and
-- its accepted and refused events of the last 24 hours, read from this index
-- alone (the queries spell the event type out so the planner can use it).
CREATE INDEX log_events_receive ON log_events (actor_id, published_ms, outcome_result)
    WHERE event_type = 'security.events.provider.receive_event';
