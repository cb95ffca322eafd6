//! The `Received:` trace header that RFC 5321 section 4.4 asks every SMTP server to prepend.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

/// How the mail came in, for the `with` clause (RFC 3848 and RFC 6531 protocol names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// `EHLO` rather than `HELO`.
    pub extended: bool,
    pub tls: bool,
    /// `MAIL FROM` carried `SMTPUTF8`.
    pub utf8: bool,
}

impl Transport {
    fn protocol(self) -> &'static str {
        match (self.utf8, self.extended, self.tls) {
            (true, _, true) => "UTF8SMTPS",
            (true, _, false) => "UTF8SMTP",
            (false, true, true) => "ESMTPS",
            (false, true, false) => "ESMTP",
            (false, false, _) => "SMTP",
        }
    }
}

/// The header, folded and ending in CRLF. `helo` is the name the client gave (already parsed
/// as a hostname or address literal, so it cannot break the header); `recipient` is named
/// only when the mail has exactly one, so no inbox learns another's address.
pub fn received(
    helo: &str,
    peer: IpAddr,
    host: &str,
    transport: Transport,
    recipient: Option<&str>,
    at: DateTime<Utc>,
) -> String {
    let literal = match peer {
        IpAddr::V4(ip) => format!("[{ip}]"),
        IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
    };
    let recipient = recipient
        .map(|address| format!("\r\n\tfor <{address}>"))
        .unwrap_or_default();
    format!(
        "Received: from {helo} ({literal})\r\n\tby {host} (ephemail) with {}{recipient};\r\n\t{}\r\n",
        transport.protocol(),
        at.to_rfc2822(),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_header_names_client_server_protocol_recipient_and_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 5).unwrap();
        let transport = Transport {
            extended: true,
            tls: true,
            utf8: false,
        };
        assert_eq!(
            received(
                "client.example",
                "192.0.2.7".parse().unwrap(),
                "mx.ephemail.test",
                transport,
                Some("box@ephemail.test"),
                at
            ),
            "Received: from client.example ([192.0.2.7])\r\n\tby mx.ephemail.test (ephemail) \
             with ESMTPS\r\n\tfor <box@ephemail.test>;\r\n\tSat, 28 Nov 2026 12:00:05 +0000\r\n"
        );
    }

    #[test]
    fn ipv6_plain_helo_and_several_recipients() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 5).unwrap();
        let transport = Transport {
            extended: false,
            tls: false,
            utf8: false,
        };
        let header = received("[::1]", "::1".parse().unwrap(), "mx", transport, None, at);
        assert!(
            header
                .starts_with("Received: from [::1] ([IPv6:::1])\r\n\tby mx (ephemail) with SMTP;"),
            "{header}"
        );
    }

    #[test]
    fn utf8_transports_are_named_per_rfc_6531() {
        let utf8 = |tls| Transport {
            extended: true,
            tls,
            utf8: true,
        };
        assert_eq!(utf8(false).protocol(), "UTF8SMTP");
        assert_eq!(utf8(true).protocol(), "UTF8SMTPS");
    }
}
