//! Logs on stderr: text lines for a person, or one JSON object per line (with the fields of
//! every enclosing span: the SMTP session, the HTTP request and its id, the GraphQL operation)
//! for a log pipeline. `EPHEMAIL_LOG` filters them (`EnvFilter` syntax, `info` by default).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("EPHEMAIL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only for a person at a terminal, not in files, pipes and CI logs.
        LogFormat::Pretty => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
