-- users.session_id still holds each account's newest session, so the previous release finds
-- it; the other sessions end.
DROP TABLE sessions;
