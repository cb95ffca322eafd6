//! Property test of the whole SMTP session input: random mixes of valid and broken commands,
//! DATA bodies, over-long lines and raw bytes, cut into random TCP segments, sent to a real
//! server. Whatever comes in, every reply is a well-formed line with an enhanced status code of
//! its class, the session ends (no hang), and the server keeps serving.

use std::time::Duration;

use proptest::{collection::vec, prelude::*, sample::select};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{SmtpConversation, TestApp};

fn command() -> impl Strategy<Value = Vec<u8>> {
    select(vec![
        "EHLO client.test",
        "HELO client.test",
        "EHLO",
        "MAIL FROM:<a@example.com>",
        "MAIL FROM:<a@example.com> SIZE=99999999999",
        "MAIL FROM:<> BODY=8BITMIME SMTPUTF8",
        "MAIL FROM:<a@example.com> FOO=bar",
        "MAIL FROM:a@example.com",
        "RCPT TO:<fuzz@localhost>",
        "RCPT TO:<fuzz+tag@localhost>",
        "RCPT TO:<x@foreign.test>",
        "RCPT TO:<üñî@localhost>",
        "RCPT TO:<>",
        "DATA",
        "BDAT 10 LAST",
        "RSET",
        "NOOP",
        "VRFY x",
        "HELP",
        "STARTTLS",
        ".",
    ])
    .prop_map(|line| format!("{line}\r\n").into_bytes())
}

fn input_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => command(),
        1 => Just(b"Subject: fuzz\r\n\r\nbody\r\n.\r\n".to_vec()),
        // Bytes that matter to line and DATA parsing, and some that are never valid.
        1 => vec(select(vec![b'\r', b'\n', b'.', b'a', b' ', b':', b'<', b'>', 0, 0xff, 0xc3]), 0..200),
        // Over the command-line limit, some over the read buffer as well.
        1 => (17_000usize..20_000).prop_map(|n| {
            let mut line = vec![b'A'; n];
            line.extend_from_slice(b"\r\n");
            line
        }),
    ]
}

/// Checks every reply in `output`: whole CRLF lines with a three-digit code, and an enhanced
/// status code of the reply's class on every final line except the greeting, `354` and the
/// `HELO`/`EHLO` answers (RFC 2034 exempts them).
fn check_replies(output: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(output);
    prop_assert!(
        text.is_empty() || text.ends_with("\r\n"),
        "cut reply: {text:?}"
    );
    let mut first_line_of_reply = true;
    let mut greeting = true;
    let mut hello = false;
    for line in text.split_terminator("\r\n") {
        let bytes = line.as_bytes();
        prop_assert!(
            bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit),
            "not a reply line: {line:?}"
        );
        prop_assert!(bytes[3] == b' ' || bytes[3] == b'-', "{line:?}");
        if first_line_of_reply {
            hello = line[4..].starts_with("localhost");
        }
        let last = bytes[3] == b' ';
        first_line_of_reply = last;
        if !last || std::mem::take(&mut greeting) || hello || line.starts_with("354 ") {
            continue;
        }
        let enhanced = line[4..].split(' ').next().unwrap_or_default();
        let parts: Vec<&str> = enhanced.split('.').collect();
        prop_assert!(
            parts.len() == 3
                && parts[0] == &line[..1]
                && parts[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())),
            "no enhanced status code of its class: {line:?}"
        );
    }
    Ok(())
}

#[test]
fn any_session_input_gets_well_formed_replies_and_never_hangs_the_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Every case is a connection from one address: no rate limit may stand in for the session.
    let app = runtime.block_on(TestApp::spawn_with(&[
        "--smtp-connections-per-minute-per-ip",
        "1000000",
        "--smtp-messages-per-minute-per-ip",
        "1000000",
    ]));
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(pieces in vec(input_piece(), 0..30), cuts in vec(1usize..700, 1..24))| {
        let input = pieces.concat();
        let output = runtime.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(app.smtp_addr).await.unwrap();
            let (mut read, mut write) = stream.split();
            let send = async {
                let mut rest = input.as_slice();
                for &cut in cuts.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (now, later) = rest.split_at(cut.min(rest.len()));
                    // The server may close first (QUIT, too many errors): that is fine.
                    if write.write_all(now).await.is_err() {
                        return;
                    }
                    rest = later;
                }
                let _ = write.shutdown().await;
            };
            let mut output = Vec::new();
            let receive = tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut output));
            let ((), received) = tokio::join!(send, receive);
            // A reset after the server closed on unread input still leaves what it said.
            let _ = received.expect("the session ends once the client stops sending");
            output
        });
        prop_assert!(output.starts_with(b"220 "), "{:?}", String::from_utf8_lossy(&output));
        check_replies(&output)?;
    });
    // Still serving, and still storing.
    runtime.block_on(async {
        let mut smtp = SmtpConversation::connect(app.smtp_addr).await;
        smtp.command("EHLO client.test").await;
        let reply = smtp
            .deliver(
                "a@example.com",
                &["after-fuzz@localhost"],
                "Subject: after\r\n\r\nok\r\n",
            )
            .await;
        assert!(reply.starts_with("250 2.0.0"), "{reply}");
        app.stop().await;
    });
}
