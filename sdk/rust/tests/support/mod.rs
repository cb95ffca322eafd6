//! A real ephemail for the tests: the binary the workspace builds, on free ports, with its
//! embedded PostgreSQL in a fresh data directory; mail goes to it over SMTP (lettre).

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use lettre::{
    address::Envelope, message::header::ContentType, AsyncSmtpTransport, AsyncTransport, Message,
    Tokio1Executor,
};

pub struct Server {
    pub url: String,
    pub api_key: String,
    data_dir: PathBuf,
    smtp_port: u16,
    http_port: u16,
    extra_args: Vec<String>,
    process: Child,
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EPHEMAIL_BIN") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("debug/ephemail")
}

/// Two free ports, held open together while they are picked: a probe closed before the next
/// one opens can be handed the same port twice.
fn two_free_ports() -> (u16, u16) {
    let probe = || TcpListener::bind("127.0.0.1:0").expect("binding a probe");
    let (first, second) = (probe(), probe());
    let port = |listener: &TcpListener| listener.local_addr().expect("probe address").port();
    (port(&first), port(&second))
}

impl Server {
    pub fn start(extra_args: &[&str]) -> Self {
        // Under /tmp and world-readable: as root, the cluster runs as the `postgres` user.
        let data_dir = std::env::temp_dir().join(format!(
            "ephemail-sdk-rs-{}-{}",
            std::process::id(),
            two_free_ports().0
        ));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let permissions = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&data_dir, permissions).expect("data dir mode");
        let (smtp_port, http_port) = two_free_ports();
        let extra_args: Vec<String> = extra_args.iter().map(ToString::to_string).collect();
        let (process, api_key) = run(&data_dir, smtp_port, http_port, &extra_args);
        Self {
            url: format!("http://127.0.0.1:{http_port}"),
            api_key: api_key.expect("the first start prints the admin key"),
            data_dir,
            smtp_port,
            http_port,
            extra_args,
            process,
        }
    }

    pub fn restart(&mut self) {
        self.halt();
        self.process = run(&self.data_dir, self.smtp_port, self.http_port, &self.extra_args).0;
    }

    fn halt(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.process.id().to_string()]).status();
        let _ = self.process.wait();
    }

    pub async fn send(&self, to: &str, subject: &str, text: &str) {
        let message = Message::builder()
            .from("Sender <sender@example.com>".parse().expect("from"))
            .to(to.parse().expect("to"))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
            .expect("message");
        self.smtp().send(message).await.expect("SMTP delivery");
    }

    pub async fn send_raw(&self, to: &str, raw: &[u8]) {
        let envelope = Envelope::new(
            Some("sender@example.com".parse().expect("from")),
            vec![to.parse().expect("to")],
        )
        .expect("envelope");
        self.smtp().send_raw(&envelope, raw).await.expect("SMTP delivery");
    }

    fn smtp(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .build()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.halt();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Starts the server and waits until it is ready; returns it with the admin key it printed.
fn run(
    data_dir: &PathBuf,
    smtp_port: u16,
    http_port: u16,
    extra: &[String],
) -> (Child, Option<String>) {
    let mut process = Command::new(binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--smtp-addr", &format!("127.0.0.1:{smtp_port}")])
        .args(["--http-addr", &format!("127.0.0.1:{http_port}")])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting ephemail (build it first)");
    let (lines, received) = mpsc::channel();
    if let Some(stdout) = process.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    let mut api_key = None;
    loop {
        let Ok(line) = received.recv_timeout(Duration::from_secs(90)) else {
            let _ = process.kill();
            let _ = process.wait();
            panic!("ephemail did not start in 90 s");
        };
        // The admin key of tenant `dev` is printed once, at the first start.
        if let Some(key) = line.strip_prefix("api key") {
            api_key = key.split_whitespace().next().map(str::to_owned);
        }
        if line.contains("ephemail is ready") {
            return (process, api_key);
        }
    }
}
