//! A real ephemail for the tests: the binary the workspace builds, on ports it picks itself
//! (and keeps across a restart), with its embedded PostgreSQL in a fresh data directory; mail
//! goes to it over SMTP (lettre).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
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
    smtp_addr: SocketAddr,
    http_addr: SocketAddr,
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

impl Server {
    pub fn start(extra_args: &[&str]) -> Self {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        // Under /tmp and world-readable: as root, the cluster runs as the `postgres` user.
        let data_dir = std::env::temp_dir().join(format!(
            "ephemail-sdk-rs-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let permissions = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&data_dir, permissions).expect("data dir mode");
        let extra_args: Vec<String> = extra_args.iter().map(ToString::to_string).collect();
        let any_port = "127.0.0.1:0".parse().expect("address");
        let started = run(&data_dir, any_port, any_port, &extra_args);
        Self {
            url: format!("http://{}", started.http_addr),
            api_key: started.api_key.expect("the first start prints the admin key"),
            data_dir,
            smtp_addr: started.smtp_addr,
            http_addr: started.http_addr,
            extra_args,
            process: started.process,
        }
    }

    /// Stops the server and starts it again on the same data directory and ports.
    pub fn restart(&mut self) {
        self.halt();
        self.process =
            run(&self.data_dir, self.smtp_addr, self.http_addr, &self.extra_args).process;
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
            .port(self.smtp_addr.port())
            .build()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.halt();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let _ = std::fs::remove_file(self.data_dir.with_extension("log"));
    }
}

/// A server that printed that it is ready.
struct Started {
    process: Child,
    smtp_addr: SocketAddr,
    http_addr: SocketAddr,
    api_key: Option<String>,
}

/// Starts the server and waits until it is ready; returns it with the addresses it serves and
/// the admin key it printed (at its first start). Its log goes beside the data directory, and
/// into the panic if it does not start.
fn run(data_dir: &Path, smtp_addr: SocketAddr, http_addr: SocketAddr, extra: &[String]) -> Started {
    let log_path = data_dir.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut process = Command::new(binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--smtp-addr", &smtp_addr.to_string()])
        .args(["--http-addr", &http_addr.to_string()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
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
    let (mut smtp, mut http, mut api_key) = (None, None, None);
    loop {
        let line = match received.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => line,
            Err(ended) => {
                let _ = process.kill();
                let status = process.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("ephemail did not start ({ended:?}, {status:?}); its log:\n{log}");
            }
        };
        if let Some(addr) = line.strip_prefix("smtp      ") {
            smtp = addr.parse().ok();
        }
        if let Some(url) = line.strip_prefix("graphql   http://") {
            http = url.trim_end_matches("/graphql").parse().ok();
        }
        // The admin key of tenant `dev` is printed once, at the first start.
        if let Some(key) = line.strip_prefix("api key") {
            api_key = key.split_whitespace().next().map(str::to_owned);
        }
        if line.contains("ephemail is ready") {
            return Started {
                process,
                smtp_addr: smtp.expect("the SMTP address printed"),
                http_addr: http.expect("the HTTP address printed"),
                api_key,
            };
        }
    }
}
