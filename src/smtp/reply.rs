//! Every reply ephemail sends after the greeting carries an RFC 3463 enhanced status code.

use smtp_message::{EnhancedReplyCode, EnhancedReplyCodeClass, MaybeUtf8, Reply, ReplyCode};

fn reply(code: &[u8; 3], (subject, detail): (u16, u16), text: String) -> Reply {
    let class = match code[0] {
        b'2' => EnhancedReplyCodeClass::Success,
        b'4' => EnhancedReplyCodeClass::PersistentTransient,
        _ => EnhancedReplyCodeClass::PermanentFailure,
    };
    Reply {
        code: ReplyCode(*code),
        ecode: Some(EnhancedReplyCode {
            raw: format!("{}.{subject}.{detail}", char::from(code[0])),
            class,
            raw_subject: subject,
            raw_detail: detail,
        }),
        text: vec![MaybeUtf8::Utf8(text)],
    }
}

pub fn sender_ok() -> Reply {
    reply(b"250", (1, 0), "Sender OK".into())
}

pub fn recipient_ok() -> Reply {
    reply(b"250", (1, 5), "Recipient OK".into())
}

pub fn reset() -> Reply {
    reply(b"250", (0, 0), "Reset OK".into())
}

pub fn stored(id: &str) -> Reply {
    reply(b"250", (0, 0), format!("OK: stored as {id}"))
}

pub fn bad_recipient_syntax(reason: &str) -> Reply {
    reply(
        b"501",
        (1, 3),
        format!("Bad recipient address syntax: {reason}"),
    )
}

/// A known command whose arguments do not parse: the address's enhanced code for `MAIL FROM`
/// and `RCPT TO` (RFC 3463 X.1.7, X.1.3), invalid arguments for the others (X.5.4).
pub fn bad_arguments(verb: &str) -> Reply {
    match verb {
        "MAIL" => reply(b"501", (1, 7), "Bad sender address syntax".into()),
        "RCPT" => bad_recipient_syntax("not an address"),
        _ => reply(b"501", (5, 4), format!("Syntax error in {verb} arguments")),
    }
}

pub fn relay_denied() -> Reply {
    reply(
        b"550",
        (7, 1),
        "Relaying denied: we do not serve that domain".into(),
    )
}

pub fn no_such_mailbox() -> Reply {
    reply(b"550", (1, 1), "No such mailbox".into())
}

pub fn too_many_recipients() -> Reply {
    reply(b"452", (5, 3), "Too many recipients".into())
}

pub fn too_large(limit: u64) -> Reply {
    reply(
        b"552",
        (3, 4),
        format!("Message too large (limit is {limit} bytes)"),
    )
}

pub fn too_large_for_recipient() -> Reply {
    reply(
        b"552",
        (3, 4),
        "Message too large for this recipient".into(),
    )
}

/// Temporary: the sender retries, and the mail goes through once the quota allows it.
pub fn over_quota() -> Reply {
    reply(b"452", (2, 2), "Mailbox over quota; try again later".into())
}

pub fn too_many_messages() -> Reply {
    reply(
        b"450",
        (7, 1),
        "Too many messages from your address; try again later".into(),
    )
}

pub fn local_error() -> Reply {
    reply(b"451", (3, 0), "Local error; please try again later".into())
}

pub fn bad_parameter(name: &str) -> Reply {
    reply(
        b"555",
        (5, 4),
        format!("MAIL FROM parameter {name} not recognized or malformed"),
    )
}

pub fn line_too_long() -> Reply {
    reply(b"500", (5, 6), "Command line too long".into())
}

pub fn too_many_errors() -> Reply {
    reply(b"421", (7, 0), "Too many errors; closing connection".into())
}

pub fn shutting_down() -> Reply {
    reply(b"421", (3, 2), "Service shutting down".into())
}

pub fn command_timeout() -> Reply {
    reply(
        b"421",
        (4, 2),
        "Timeout waiting for a command; closing connection".into(),
    )
}

pub fn data_timeout() -> Reply {
    reply(
        b"421",
        (4, 2),
        "Timeout while receiving data; closing connection".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_with_enhanced_codes() {
        let rendered: Vec<u8> = too_large(1024)
            .as_io_slices()
            .flat_map(|slice| slice.to_vec())
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&rendered),
            "552 5.3.4 Message too large (limit is 1024 bytes)\r\n"
        );
    }
}
