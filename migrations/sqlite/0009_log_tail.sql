-- System Log live tail (GET /api/v1/logs/stream). SQLite runs one write
-- transaction at a time and `seq` is AUTOINCREMENT, so `seq` order is commit
-- order and the tail reads by the primary key: nothing to add here. (The
-- PostgreSQL migration of the same number adds the writing transaction's id.)
SELECT 1;
