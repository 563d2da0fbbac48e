-- PostgreSQL identity columns never hand out an ID twice; nothing to change (see the SQLite
-- migration of the same number). Kept so both dialects share one version number.
SELECT 1;
