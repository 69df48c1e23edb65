-- System Log search: `q` keywords match substrings of `search_text`, the
-- lower-cased, space-separated displayMessage, eventType, actor and target
-- names and ids, outcome.reason and debugData values (filled by syslog::append).
-- Rows written before this column existed are backfilled here; a NULL is
-- still searched through the lower-cased body.
ALTER TABLE log_events ADD COLUMN search_text TEXT;

UPDATE log_events SET search_text = lower(concat_ws(' ',
    json_extract(body, '$.displayMessage'),
    event_type,
    json_extract(body, '$.actor.displayName'),
    json_extract(body, '$.actor.alternateId'),
    json_extract(body, '$.actor.id'),
    (SELECT group_concat(concat_ws(' ',
                json_extract(t.value, '$.displayName'),
                json_extract(t.value, '$.alternateId'),
                json_extract(t.value, '$.id')), ' ')
       FROM json_each(log_events.body, '$.target') AS t),
    json_extract(body, '$.outcome.reason'),
    (SELECT group_concat(d.value, ' ')
       FROM json_tree(log_events.body, '$.debugContext.debugData') AS d
      WHERE d.type IN ('text', 'integer', 'real'))
))
WHERE search_text IS NULL;

-- Filters on transaction.id and outcome.result (log_events_published,
-- log_events_type, log_events_actor and log_event_targets exist already).
CREATE INDEX log_events_transaction ON log_events (transaction_id);
CREATE INDEX log_events_outcome ON log_events (outcome_result, published_ms);
