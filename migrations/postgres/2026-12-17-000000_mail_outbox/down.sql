-- Mail still waiting is lost with the table (the tokens it would have carried were never made).
DROP TABLE mail_outbox;
