DROP TABLE attachments;
DROP TABLE messages;
DROP TABLE inboxes;
DROP TABLE domains;
