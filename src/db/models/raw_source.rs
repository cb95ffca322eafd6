//! Raw sources: the exact bytes of each received mail, stored once per mail (its messages in
//! every recipient inbox point at it by SHA-256) and compressed by ephemail with zstd. The raw
//! source is the source of truth: attachment bytes are decoded from it on download.

use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{Array, BigInt, Bytea},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::{
    prepared::{column, Prepared},
    schema::raw_sources,
};

/// zstd's default level: about as fast as lz4 to decompress, and it entropy-codes base64.
const ZSTD_LEVEL: i32 = 3;

/// A stored raw source, still encoded.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = raw_sources, check_for_backend(Pg))]
pub struct RawSource {
    pub encoding: String,
    pub content: Vec<u8>,
}

impl RawSource {
    /// The exact bytes received (CPU work for large mails: call it off the async reactor).
    pub fn decode(self) -> std::io::Result<Vec<u8>> {
        match self.encoding.as_str() {
            "zstd" => zstd::decode_all(self.content.as_slice()),
            // Moved as they were by the migration that introduced this table.
            _ => Ok(self.content),
        }
    }
}

/// A raw source to store: its SHA-256 and its zstd-compressed bytes (see [`compress`]).
#[derive(Debug)]
pub struct NewRawSource<'a> {
    pub sha256: &'a [u8],
    pub zstd: &'a [u8],
}

/// `raw` compressed for [`NewRawSource`] (CPU work: call it off the async reactor).
pub fn compress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        // A compression context is a few hundred KiB to allocate and clear: one per thread,
        // reused for every mail (one per call was 2-3% of ingest's CPU).
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with_borrow_mut(|compressor| {
        let compressor = match compressor {
            Some(compressor) => compressor,
            None => compressor.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress(raw)
    })
}

/// Stores the sources not stored yet, in one prepared statement. Call before inserting the
/// messages that point at them; takes a shared connection so that it can be pipelined with them.
pub async fn insert_all(
    mut conn: &AsyncPgConnection,
    sources: &mut [NewRawSource<'_>],
) -> QueryResult<()> {
    // One order for every writer, so that concurrent inserts of one source cannot deadlock.
    sources.sort_unstable_by(|a, b| a.sha256.cmp(b.sha256));
    Prepared::new(
        "INSERT INTO raw_sources (sha256, encoding, content)
         SELECT sha256, 'zstd', content FROM unnest($1::bytea[], $2::bytea[]) AS t(sha256, content)
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<Bytea>, _>(column(sources, |source| source.sha256))
    .bind::<Array<Bytea>, _>(column(sources, |source| source.zstd))
    .execute(&mut conn)
    .await
    .map(drop)
}

/// Deletes those of `sources` that no message points at any more; returns how many.
pub async fn delete_unreferenced_among(
    conn: &mut AsyncPgConnection,
    sources: &[Vec<u8>],
) -> QueryResult<usize> {
    if sources.is_empty() {
        return Ok(0);
    }
    Prepared::new(
        "DELETE FROM raw_sources r WHERE r.sha256 = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.raw_sha256 = r.sha256)",
    )
    .bind::<Array<Bytea>, _>(sources)
    .execute(conn)
    .await
}

/// Deletes at most `limit` sources no message points at; returns how many. It reads the whole
/// table to find them: the sweeper runs it once a sweep, for sources left by deletions made
/// through the API (its own deletions use [`delete_unreferenced_among`]).
pub async fn delete_unreferenced(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<usize> {
    Prepared::new(
        "DELETE FROM raw_sources WHERE sha256 IN (
             SELECT r.sha256 FROM raw_sources r
             WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.raw_sha256 = r.sha256)
             LIMIT $1)",
    )
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_source_decodes_to_the_bytes_received() {
        let raw = b"Subject: hi\r\n\r\nbody with \x00 and \xff bytes\r\n".repeat(50);
        let stored = RawSource {
            encoding: "zstd".into(),
            content: compress(&raw).unwrap(),
        };
        assert!(stored.content.len() < raw.len());
        assert_eq!(stored.decode().unwrap(), raw);
        let plain = RawSource {
            encoding: "plain".into(),
            content: raw.clone(),
        };
        assert_eq!(plain.decode().unwrap(), raw);
    }
}
