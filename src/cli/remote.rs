//! Commands that talk to a running server over its public API, with the Rust SDK: for shell
//! scripts (`wait` prints just the code or the link, and fails on timeout) and for people
//! (`tail` prints each mail as it lands).

use clap::Args;
use ephemail_client::{Client, Message, Subscribe, Wait};
use futures::StreamExt;

/// Where the server is, and the credential to use.
#[derive(Debug, Args)]
pub struct ServerOptions {
    /// The server's base URL.
    #[arg(long, env = "EPHEMAIL_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API key, or an inbox token.
    #[arg(long, env = "EPHEMAIL_API_KEY", hide_env_values = true)]
    api_key: String,
}

impl ServerOptions {
    fn client(&self) -> Client {
        Client::new(self.url.clone(), self.api_key.clone())
    }
}

#[derive(Debug, Args)]
pub struct WaitCommand {
    /// The address to wait on (`local+tag@domain` narrows to that tag); on a catch-all domain
    /// it may have no inbox yet.
    #[arg(long)]
    address: String,
    /// Print only the message's best one-time code (waiting for a message that has one).
    #[arg(long, conflicts_with = "link")]
    code: bool,
    /// Print only a link's URL (waiting for a message that has one).
    #[arg(long)]
    link: bool,
    /// With --link: the first link whose URL matches this regular expression.
    #[arg(long = "match", requires = "link")]
    pattern: Option<regex::Regex>,
    /// Seconds to wait before failing.
    #[arg(long, default_value_t = 30)]
    timeout: u32,
    #[command(flatten)]
    server: ServerOptions,
}

#[derive(Debug, Args)]
pub struct TailCommand {
    /// The address to follow; on a catch-all domain it may have no inbox yet.
    #[arg(long)]
    address: String,
    #[command(flatten)]
    server: ServerOptions,
}

/// Waits for the next mail to `--address` (see the server's rule for waits without a cursor)
/// and prints its code, a link, or its subject line.
pub async fn wait(command: WaitCommand) -> anyhow::Result<()> {
    let client = command.server.client();
    let mut wait = Wait::address(&command.address).timeout_ms(command.timeout.saturating_mul(1000));
    if let Some(pattern) = command.pattern {
        wait = wait.link_matching(pattern);
    }
    let printed = if command.code {
        client.wait_for_code(wait).await?
    } else if command.link {
        client.wait_for_link(wait).await?
    } else {
        summary(&client.wait_for_message(wait).await?)
    };
    println!("{printed}");
    Ok(())
}

/// Prints every mail to `--address` as it lands, one line each, until interrupted; a dropped
/// connection is resumed without losing or repeating a mail.
pub async fn tail(command: TailCommand) -> anyhow::Result<()> {
    let client = command.server.client();
    let mut messages = std::pin::pin!(client.subscribe(Subscribe::address(&command.address)));
    eprintln!("following {} (Ctrl-C stops)", command.address);
    loop {
        tokio::select! {
            next = messages.next() => match next {
                Some(message) => println!("{}", summary(&message?)),
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// One line: when, from whom, the subject, and the code if there is one.
fn summary(message: &Message) -> String {
    let from = message
        .from
        .as_ref()
        .and_then(|from| from.address.as_deref())
        .unwrap_or("-");
    let code = message
        .codes
        .first()
        .map(|code| format!("  code {code}"))
        .unwrap_or_default();
    format!(
        "{}  {from}  {}{code}",
        message.received_at.format("%Y-%m-%d %H:%M:%S"),
        message.subject.as_deref().unwrap_or("(no subject)")
    )
}
