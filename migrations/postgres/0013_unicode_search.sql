-- `rl_fold(text)`: lower case for searches. On SQLite it is Riskline's
-- Unicode lower case (core/src/sqlite_text.rs; SQLite's lower() knows ASCII
-- only); here it is lower(), which already folds every script in a UTF-8
-- database. With one name on both engines, a search's SQL is the same text.
CREATE FUNCTION rl_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS 'SELECT lower($1)';
