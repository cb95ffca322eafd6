use ephemail_client::{Client, CreateInbox, Wait};
#[tokio::main]
async fn main() -> ephemail_client::Result<()> {
    let client = Client::from_env()?; // EPHEMAIL_URL, EPHEMAIL_API_KEY
    let inbox = client.create_inbox(CreateInbox::on("localhost").ttl_seconds(600)).await?;
    println!("send the mail to {}", inbox.address);
    let code = client.wait_for_code(Wait::inbox(&inbox.id).timeout_ms(30_000)).await?;
    println!("{code}");
    client.delete_inbox(&inbox.id).await
}
