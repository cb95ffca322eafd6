//! Reading DATA with our own limits. The `smtp-server` crate hands us the still dot-stuffed
//! stream up to and including the terminating `.<CRLF>` and applies no size limit or timeout.
//! Only `<CRLF>.<CRLF>` ends the data (the crate's reader enforces that), so a bare `<LF>.<LF>`
//! can never end one message and smuggle in another.

use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt};
use smtp_message::EscapedDataReader;

/// What arrived between `354` and the final dot.
#[derive(Debug, PartialEq, Eq)]
pub enum Data {
    /// The message, unescaped, exactly as the client meant it.
    Complete(Vec<u8>),
    /// Over the size limit; it was read to the end and discarded.
    TooLarge,
    /// The client did not finish within the DATA timeout.
    TimedOut,
    /// The connection closed before the final dot.
    Aborted,
}

/// Reads one message after `prefix` (our trace header), keeping at most `limit` bytes of the
/// client's and giving up after `timeout`.
pub async fn read<R>(
    stream: &mut EscapedDataReader<'_, R>,
    prefix: Vec<u8>,
    limit: u64,
    timeout: Duration,
) -> Data
where
    R: AsyncRead + Unpin,
{
    let limit = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_add(prefix.len());
    let read_all = async {
        let mut unstuffer = Unstuffer::default();
        let mut message = prefix;
        message.reserve(16 * 1024);
        let mut too_large = false;
        let mut chunk = vec![0; smtp_server::RDBUF_SIZE];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) if !too_large => {
                    unstuffer.push(&chunk[..n], &mut message);
                    // +2: the CRLF of the terminating line is still in `message`.
                    if message.len() > limit.saturating_add(2) {
                        too_large = true;
                        message = Vec::new();
                    }
                }
                Ok(_) => {}
                Err(_) => return Data::Aborted,
            }
        }
        if !stream.is_finished() {
            return Data::Aborted;
        }
        stream.complete();
        if too_large {
            return Data::TooLarge;
        }
        // The terminating `.<CRLF>` left its CRLF behind (its dot was taken as stuffing).
        message.truncate(message.len().saturating_sub(2));
        Data::Complete(message)
    };
    tokio::time::timeout(timeout, read_all)
        .await
        .unwrap_or(Data::TimedOut)
}

/// Removes the dot that RFC 5321 4.5.2 puts in front of every line starting with a dot.
/// Works across chunk boundaries; lines end only at CRLF.
#[derive(Debug)]
struct Unstuffer {
    at_line_start: bool,
    after_cr: bool,
}

impl Default for Unstuffer {
    fn default() -> Self {
        Self {
            at_line_start: true,
            after_cr: false,
        }
    }
}

impl Unstuffer {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        let mut rest = input;
        while let Some((&first, after_first)) = rest.split_first() {
            if self.at_line_start && first == b'.' {
                rest = after_first;
                self.at_line_start = false;
                self.after_cr = false;
                continue;
            }
            // Whole lines at a time: only the byte after a CRLF can be a stuffing dot.
            let Some(lf) = memchr::memchr(b'\n', rest) else {
                out.extend_from_slice(rest);
                self.at_line_start = false;
                self.after_cr = rest.last() == Some(&b'\r');
                return;
            };
            let (line, after) = rest.split_at(lf + 1);
            out.extend_from_slice(line);
            self.at_line_start = match lf {
                0 => self.after_cr,
                _ => line[lf - 1] == b'\r',
            };
            self.after_cr = false;
            rest = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstuff_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut unstuffer = Unstuffer::default();
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            unstuffer.push(part, &mut out);
        }
        out
    }

    #[test]
    fn leading_dots_are_unstuffed_across_chunk_boundaries() {
        let escaped = b"..hidden\r\nline\r\n...two\r\nbare\n.lf stays\r\n.\r\n";
        for chunk in 1..escaped.len() {
            assert_eq!(
                unstuff_in_chunks(escaped, chunk),
                b".hidden\r\nline\r\n..two\r\nbare\n.lf stays\r\n\r\n",
                "chunk size {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn a_message_is_read_up_to_the_final_dot() {
        let mut buf = vec![0; smtp_server::RDBUF_SIZE];
        let wire: &[u8] = b"Subject: x\r\n\r\n..dot\r\nbare\n.\nstill body\r\n.\r\nQUIT\r\n";
        let mut reader = EscapedDataReader::new(&mut buf, 0..0, wire);
        let data = read(&mut reader, Vec::new(), 1024, Duration::from_secs(5)).await;
        assert_eq!(
            data,
            Data::Complete(b"Subject: x\r\n\r\n.dot\r\nbare\n.\nstill body\r\n".to_vec())
        );
    }

    #[tokio::test]
    async fn oversize_data_is_drained_and_refused() {
        let mut buf = vec![0; smtp_server::RDBUF_SIZE];
        let mut wire = vec![b'a'; 5000];
        wire.extend_from_slice(b"\r\n.\r\n");
        let mut reader = EscapedDataReader::new(&mut buf, 0..0, wire.as_slice());
        assert_eq!(
            read(&mut reader, Vec::new(), 1024, Duration::from_secs(5)).await,
            Data::TooLarge
        );
        assert!(
            reader.get_unhandled().is_some(),
            "the reader must be completed"
        );
    }

    #[tokio::test]
    async fn a_connection_closed_mid_data_is_aborted() {
        let mut buf = vec![0; smtp_server::RDBUF_SIZE];
        let wire: &[u8] = b"Subject: x\r\n\r\nno end";
        let mut reader = EscapedDataReader::new(&mut buf, 0..0, wire);
        assert_eq!(
            read(&mut reader, Vec::new(), 1024, Duration::from_secs(5)).await,
            Data::Aborted
        );
    }

    /// Hands out its bytes in the given chunk sizes, as TCP segments would arrive.
    struct Segmented {
        bytes: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
    }

    impl AsyncRead for Segmented {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let size = self.sizes.pop().unwrap_or(usize::MAX).max(1);
            let n = size.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    /// What a conforming client puts on the wire: dot-stuffed, then `.<CRLF>`.
    fn wire_form(body: &[u8]) -> Vec<u8> {
        let mut wire = Vec::with_capacity(body.len() + 8);
        let mut line_start = true;
        for (i, &byte) in body.iter().enumerate() {
            if line_start && byte == b'.' {
                wire.push(b'.');
            }
            wire.push(byte);
            line_start = byte == b'\n' && i > 0 && body[i - 1] == b'\r';
        }
        wire.extend_from_slice(b".\r\n");
        wire
    }

    proptest::proptest! {
        /// Any body (bare CR, bare LF, `\n.\n`, `\r.\r`, lines of dots), however the bytes are
        /// split into segments, comes back exactly: nothing before the real terminator ends it.
        #[test]
        fn any_body_in_any_segmentation_comes_back_byte_for_byte(
            mut body in proptest::collection::vec(
                proptest::sample::select(vec![b'\r', b'\n', b'.', b'a', b' ', 0xc3]),
                0..400,
            ),
            sizes in proptest::collection::vec(1usize..64, 0..64),
        ) {
            body.extend_from_slice(b"\r\n");
            let mut wire = wire_form(&body);
            wire.extend_from_slice(b"QUIT\r\n");
            let mut buf = vec![0; smtp_server::RDBUF_SIZE];
            let mut segmented = Segmented { bytes: wire, at: 0, sizes };
            let mut reader = EscapedDataReader::new(&mut buf, 0..0, &mut segmented);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            let data = runtime.block_on(read(
                &mut reader,
                Vec::new(),
                1 << 20,
                Duration::from_secs(5),
            ));
            proptest::prop_assert_eq!(data, Data::Complete(body));
            let rest = reader.get_unhandled().expect("completed");
            proptest::prop_assert!(
                b"QUIT\r\n".starts_with(&buf[rest]),
                "only the next command is left"
            );
        }
    }
}
