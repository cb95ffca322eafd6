//! The Rust example: signs up through examples/signup-demo (at `DEMO_URL`) and verifies with
//! the code from the mail, in an inbox the guard deletes afterwards.
use ephemail_client::{Client, CreateInbox, Wait};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo = std::env::var("DEMO_URL")?;
    let client = Client::from_env()?;
    let inbox = client.temporary_inbox(CreateInbox::default()).await?;
    let http = reqwest::Client::new();
    let signup = [("email", inbox.address.as_str())];
    http.post(format!("{demo}/signup")).form(&signup).send().await?.error_for_status()?;
    let code = client.wait_for_code(Wait::inbox(&inbox.id).timeout_ms(30_000)).await?;
    let verify = [("email", inbox.address.as_str()), ("code", code.as_str())];
    let page = http.post(format!("{demo}/verify")).form(&verify).send().await?.text().await?;
    assert!(page.contains(&format!("Verified {}", inbox.address)), "{page}");
    println!("signed up {} with code {code}", inbox.address);
    inbox.delete().await?;
    Ok(())
}
