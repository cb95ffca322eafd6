CREATE TRIGGER inboxes_made_by_mail_counted AFTER INSERT ON inboxes
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_inboxes_made_by_mail();
