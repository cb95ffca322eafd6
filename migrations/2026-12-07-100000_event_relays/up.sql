-- The processes whose event relays listen on this database (`events::relay`): ingest tells the
-- others about its batches only while there are others (`EventBus::notify_listening_others`).
CREATE TABLE event_relays (
    origin UUID PRIMARY KEY,
    -- The relay's LISTEN session: a row whose session has ended is a process that has gone.
    backend_pid INT NOT NULL
);
