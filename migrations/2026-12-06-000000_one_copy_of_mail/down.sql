-- The columns come back empty: a release before this one shows the messages stored meanwhile
-- without text or HTML (their raw sources, headers and attachments are whole).
ALTER TABLE messages ADD COLUMN text_body text, ADD COLUMN html_body text;
