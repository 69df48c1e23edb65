-- System Log search: `q` keywords match substrings of `search_text`, the
-- lower-cased, space-separated displayMessage, eventType, actor and target
-- names and ids, outcome.reason and debugData values (filled by syslog::append).
-- Rows written before this column existed are backfilled here; a NULL is
-- still searched through the lower-cased body.
ALTER TABLE log_events ADD COLUMN search_text TEXT;

UPDATE log_events AS e SET search_text = lower(concat_ws(' ',
    x.b #>> '{displayMessage}',
    e.event_type,
    x.b #>> '{actor,displayName}',
    x.b #>> '{actor,alternateId}',
    x.b #>> '{actor,id}',
    (SELECT string_agg(concat_ws(' ',
                t.v #>> '{displayName}',
                t.v #>> '{alternateId}',
                t.v #>> '{id}'), ' ')
       FROM jsonb_path_query(x.b, '$.target[*]') AS t(v)),
    x.b #>> '{outcome,reason}',
    (SELECT string_agg(d.v #>> '{}', ' ')
       FROM jsonb_path_query(x.b, 'strict $.debugContext.debugData.**', '{}', true) AS d(v)
      WHERE jsonb_typeof(d.v) IN ('string', 'number'))
))
FROM (SELECT seq, body::jsonb AS b FROM log_events WHERE search_text IS NULL) AS x
WHERE e.seq = x.seq;

-- Filters on transaction.id and outcome.result (log_events_published,
-- log_events_type, log_events_actor and log_event_targets exist already).
CREATE INDEX log_events_transaction ON log_events (transaction_id);
CREATE INDEX log_events_outcome ON log_events (outcome_result, published_ms);
