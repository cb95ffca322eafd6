//! ESMTP as real senders speak it: extensions, parameters, trace headers, limits, smuggling,
//! STARTTLS and implicit TLS, with our raw client, Python's smtplib, lettre and swaks.

use std::process::Command;

use serde_json::json;

use crate::helpers::{metric_value, parse_metrics, without_trace_header, TestApp, TestCertificate};

/// The raw source of the newest message of `address`.
async fn raw_of(app: &TestApp, address: &str) -> Vec<u8> {
    let data = app
        .data(
            "query($a: String!) { inbox(address: $a) { messages(first: 1) { edges { node { rawUrl } } } } }",
            json!({ "a": address }),
        )
        .await;
    let url = data["inbox"]["messages"]["edges"][0]["node"]["rawUrl"]
        .as_str()
        .expect("a message")
        .to_owned();
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    response.bytes().await.unwrap().to_vec()
}

/// A server with a fresh self-signed certificate for `localhost`: `STARTTLS` on its SMTP port
/// and implicit TLS on a second one.
async fn spawn_with_tls() -> (TestCertificate, TestApp) {
    let certificate = TestCertificate::generate();
    let (cert, key) = (certificate.cert(), certificate.key());
    let app = TestApp::spawn_with(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--smtps-addr",
        "127.0.0.1:0",
    ])
    .await;
    (certificate, app)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_received_header_traces_client_helo_host_and_protocol() {
    let app = TestApp::spawn_with(&["--hostname", "mx.ephemail.test"]).await;
    app.send_mail("trace@localhost", "traced", "body").await;
    let raw = raw_of(&app, "trace@localhost").await;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with(
            "Received: from client.test ([127.0.0.1])\r\n\tby mx.ephemail.test (ephemail) with ESMTP\r\n\tfor <trace@localhost>;\r\n\tSat, 28 Nov 2026 12:00:00 +0000\r\n"
        ),
        "{text}"
    );
    assert_eq!(
        without_trace_header(&raw),
        b"Subject: traced\r\n\r\nbody\r\n"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_from_parameters_are_checked_before_data() {
    let app = TestApp::spawn_with(&["--max-message-size", "10000"]).await;
    let mut smtp = app.smtp().await;
    assert!(smtp
        .command("EHLO client.test")
        .await
        .contains("SIZE 10000"));
    let table = [
        ("MAIL FROM:<a@example.com> SIZE=10001", "552 5.3.4"),
        ("MAIL FROM:<a@example.com> SIZE=many", "555 5.5.4"),
        ("MAIL FROM:<a@example.com> FROBNICATE=1", "555 5.5.4"),
        (
            "MAIL FROM:<a@example.com> SIZE=10000 BODY=8BITMIME SMTPUTF8",
            "250 2.1.0",
        ),
    ];
    for (line, expected) in table {
        let reply = smtp.command(line).await;
        assert!(reply.starts_with(expected), "{line}: {reply}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn utf8_addresses_and_8bit_bodies_are_stored_intact() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let mail = "From: Jürgen <jürgen@bücher.example>\r\nSubject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDein Code lautet 482913. Schöne Grüße\r\n";
    assert!(smtp
        .command("MAIL FROM:<jürgen@bücher.example> BODY=8BITMIME SMTPUTF8")
        .await
        .starts_with("250"));
    assert!(smtp
        .command("RCPT TO:<prüfung@localhost>")
        .await
        .starts_with("250 2.1.5"));
    assert!(smtp.command("DATA").await.starts_with("354"));
    smtp.send(mail.as_bytes()).await;
    assert!(smtp.command(".").await.starts_with("250 2.0.0"));
    let raw = raw_of(&app, "prüfung@localhost").await;
    assert!(String::from_utf8_lossy(&raw).contains("with UTF8SMTP\r\n"));
    assert_eq!(without_trace_header(&raw), mail.as_bytes());
    let messages = app.messages_of("prüfung@localhost").await;
    assert_eq!(messages[0]["subject"], "Grüße");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smuggled_terminators_stay_inside_one_message_byte_for_byte() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    // The 2023 SMTP smuggling payloads: each would end DATA on a lax server, and the
    // `MAIL FROM` after it would start a second, forged message.
    for (n, terminator) in ["\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n"].iter().enumerate() {
        let body = format!(
            "Subject: smuggle {n}\r\n\r\nbefore{terminator}MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@localhost>\r\nDATA\r\nforged\r\n"
        );
        let reply = smtp
            .deliver("a@example.com", &[&format!("s{n}@localhost")], &body)
            .await;
        assert!(reply.starts_with("250 2.0.0"), "{terminator:?}: {reply}");
        let raw = raw_of(&app, &format!("s{n}@localhost")).await;
        // Sent unstuffed, as an attacker would: the dot opening a CRLF line is transparency
        // (RFC 5321 4.5.2) and goes; every other byte is kept.
        let expected = body.replace("\r\n.\n", "\r\n\n");
        assert_eq!(
            String::from_utf8_lossy(without_trace_header(&raw)),
            expected,
            "{terminator:?}"
        );
    }
    assert!(smtp.command("NOOP").await.starts_with("250 2.0.0"));
    assert!(
        app.messages_of("victim@localhost").await.is_empty(),
        "no second message was smuggled in"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_commands_get_their_replies_in_order() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    smtp.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<p1@localhost>\r\nRCPT TO:<nobody@elsewhere.example>\r\nRCPT TO:<p2@localhost>\r\nDATA\r\n")
        .await;
    for expected in ["250 2.1.0", "250 2.1.5", "550 5.7.1", "250 2.1.5", "354"] {
        let reply = smtp.reply().await;
        assert!(reply.starts_with(expected), "expected {expected}: {reply}");
    }
    smtp.send(b"Subject: piped\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        .await;
    assert!(smtp.reply().await.starts_with("250 2.0.0"));
    assert!(smtp.reply().await.starts_with("221 2.0.0"));
    assert_eq!(app.messages_of("p1@localhost").await.len(), 1);
    assert_eq!(app.messages_of("p2@localhost").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_errors_close_the_session_with_421() {
    let app = TestApp::spawn_with(&["--smtp-max-errors", "3"]).await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    assert!(smtp.command("BOGUS").await.starts_with("500 5.5.1"));
    assert!(smtp
        .command("RCPT TO:<a@localhost>")
        .await
        .starts_with("503 5.5.1"));
    smtp.command("MAIL FROM:<a@example.com>").await;
    assert!(smtp
        .command("RCPT TO:<x@elsewhere.example>")
        .await
        .starts_with("550 5.7.1"));
    assert!(smtp.command("NOOP").await.starts_with("421 4.7.0"));
    assert!(smtp.closed().await, "the server hung up");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_client_is_told_421_before_the_connection_closes() {
    let app = TestApp::spawn_with(&["--smtp-command-timeout", "1"]).await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    // A real wait: the timeout is the crate's wall-clock timer, not our injected clock.
    assert!(smtp.reply().await.starts_with("421 4.4.2"));
    assert!(smtp.closed().await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_smtplib_sends_a_message() {
    let app = TestApp::spawn().await;
    let script = "import smtplib, sys\n\
        s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\n\
        s.ehlo('py.test')\n\
        assert s.has_extn('pipelining') and s.has_extn('smtputf8')\n\
        s.sendmail('a@example.com', ['py@localhost'], b'Subject: from python\\r\\n\\r\\ncode 771234\\r\\n')\n\
        s.quit()\n";
    run_python(script, &[&app.smtp_addr.port().to_string()]);
    let messages = app.messages_of("py@localhost").await;
    assert_eq!(messages[0]["subject"], "from python");
    app.stop().await;
}

fn run_python(script: &str, args: &[&str]) {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_implicit_tls_deliver_with_a_configured_certificate() {
    let (certificate, app) = spawn_with_tls().await;
    let cert = certificate.cert();
    let mut smtp = app.smtp().await;
    assert!(smtp.command("EHLO client.test").await.contains("STARTTLS"));

    // Python's ssl verifies the chain and the host name against our certificate.
    let script = "import smtplib, ssl, sys\n\
        ctx = ssl.create_default_context(cafile=sys.argv[1])\n\
        s = smtplib.SMTP('localhost', int(sys.argv[2]))\n\
        s.starttls(context=ctx)\n\
        s.ehlo('py.test')\n\
        assert not s.has_extn('starttls'), 'STARTTLS is offered only once'\n\
        s.sendmail('a@example.com', ['tls@localhost'], b'Subject: over starttls\\r\\n\\r\\nhi\\r\\n')\n\
        s.quit()\n\
        s = smtplib.SMTP_SSL('localhost', int(sys.argv[3]), context=ctx)\n\
        s.sendmail('a@example.com', ['tls@localhost'], b'Subject: over implicit tls\\r\\n\\r\\nhi\\r\\n')\n\
        s.quit()\n";
    let smtps = app.smtps_addr.expect("an SMTPS port").port().to_string();
    run_python(script, &[&cert, &app.smtp_addr.port().to_string(), &smtps]);

    let messages = app.messages_of("tls@localhost").await;
    let subjects: Vec<_> = messages.iter().map(|m| m["subject"].clone()).collect();
    assert_eq!(
        subjects,
        [json!("over implicit tls"), json!("over starttls")]
    );
    let raw = String::from_utf8(raw_of(&app, "tls@localhost").await).unwrap();
    assert!(raw.contains("with ESMTPS\r\n"), "{raw}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lettre_delivers_over_starttls_and_implicit_tls_verifying_our_certificate() {
    use lettre::{
        transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters},
        AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    };
    let (certificate, app) = spawn_with_tls().await;
    let cert = certificate.cert();
    // Only our certificate is trusted (no system roots), and it is checked for `localhost`.
    let tls = TlsParameters::builder("localhost".to_owned())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .build_rustls()
        .unwrap();
    let smtps = app.smtps_addr.expect("an SMTPS port").port();
    for (port, mode, subject) in [
        (
            app.smtp_addr.port(),
            Tls::Required(tls.clone()),
            "lettre starttls",
        ),
        (smtps, Tls::Wrapper(tls.clone()), "lettre implicit tls"),
    ] {
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
            .port(port)
            .tls(mode)
            .build();
        let mail = Message::builder()
            .from("a@example.com".parse().unwrap())
            .to("lettre-tls@localhost".parse().unwrap())
            .subject(subject)
            .body("hi".to_owned())
            .unwrap();
        let response = mailer.send(mail).await.expect("mail accepted over TLS");
        assert_eq!(response.code().to_string(), "250");
    }
    let messages = app.messages_of("lettre-tls@localhost").await;
    let subjects: Vec<_> = messages.iter().map(|m| m["subject"].clone()).collect();
    assert_eq!(
        subjects,
        [json!("lettre implicit tls"), json!("lettre starttls")]
    );
    let raw = String::from_utf8(raw_of(&app, "lettre-tls@localhost").await).unwrap();
    assert!(raw.contains("with ESMTPS\r\n"), "{raw}");
    app.stop().await;
}

/// Reads one SMTP reply (its last line) from a TLS stream.
async fn tls_reply<R: futures::AsyncBufRead + Unpin>(reader: &mut R) -> String {
    use futures::AsyncBufReadExt;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("a reply line");
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.trim_end().to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_says_421_inside_tls_to_idle_encrypted_sessions() {
    use futures::AsyncWriteExt;
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt as _, BufReader};
    use tokio_util::compat::TokioAsyncReadCompatExt;

    let (certificate, app) = spawn_with_tls().await;
    let cert = certificate.cert();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert).unwrap())
        .unwrap();
    let connector = futures_rustls::TlsConnector::from(std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    ));
    let localhost = || ServerName::try_from("localhost").unwrap();

    // One session upgraded with STARTTLS, one on the implicit-TLS port; both idle after EHLO.
    let mut plain = BufReader::new(tokio::net::TcpStream::connect(app.smtp_addr).await.unwrap());
    let mut line = String::new();
    plain.read_line(&mut line).await.unwrap();
    plain.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    line.clear();
    plain.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220 2.0.0"), "{line}");
    let upgraded = connector
        .connect(localhost(), plain.into_inner().compat())
        .await
        .unwrap();
    let implicit = tokio::net::TcpStream::connect(app.smtps_addr.expect("an SMTPS port"))
        .await
        .unwrap();
    let implicit = connector
        .connect(localhost(), implicit.compat())
        .await
        .unwrap();
    let mut sessions = Vec::new();
    for (stream, greeted) in [(upgraded, false), (implicit, true)] {
        let mut stream = futures::io::BufReader::new(stream);
        if greeted {
            assert!(tls_reply(&mut stream).await.starts_with("220 "));
        }
        stream
            .get_mut()
            .write_all(b"EHLO tls.test\r\n")
            .await
            .unwrap();
        assert!(tls_reply(&mut stream).await.starts_with("250 "));
        sessions.push(stream);
    }

    let exposition = app.app.metrics.clone();
    let stopping = tokio::spawn(app.stop());
    for mut session in sessions {
        assert_eq!(
            tls_reply(&mut session).await,
            "421 4.3.2 Service shutting down"
        );
    }
    stopping.await.unwrap();
    // Counted per listener, and each `421` as the shutdown's.
    let scrape = parse_metrics(&exposition.encode());
    for listener in ["smtp", "smtps"] {
        let listener = [("listener", listener)];
        let sessions = metric_value(&scrape, "ephemail_smtp_sessions_total", &listener);
        assert_eq!(sessions, Some(1.0));
        let open = metric_value(&scrape, "ephemail_smtp_sessions_open", &listener);
        assert_eq!(open, Some(0.0));
    }
    let replies = |class, reason| {
        let labels = [("class", class), ("reason", reason)];
        metric_value(&scrape, "ephemail_smtp_replies_total", &labels)
    };
    // Two banners, `220` to STARTTLS, two EHLOs.
    assert_eq!(replies("2xx", "ok"), Some(5.0));
    assert_eq!(replies("4xx", "shutdown"), Some(2.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn swaks_delivers_over_tls_and_is_refused_for_a_foreign_domain() {
    let certificate = TestCertificate::generate();
    let (cert, key) = (certificate.cert(), certificate.key());
    let app = TestApp::spawn_with(&["--tls-cert", &cert, "--tls-key", &key]).await;
    let server = app.smtp_addr.to_string();
    let swaks = |to: &str, tls: bool| {
        let mut command = Command::new("swaks");
        command.args(["--server", &server, "--to", to, "--from", "a@example.com"]);
        command.args(["--helo", "swaks.test", "--header", "Subject: swaks"]);
        if tls {
            command.arg("--tls");
        }
        command
            .output()
            .expect("swaks (scripts/test.sh installs it)")
    };
    let delivered = swaks("swaks@localhost", true);
    let transcript = String::from_utf8_lossy(&delivered.stdout);
    assert!(delivered.status.success(), "{transcript}");
    assert!(transcript.contains("TLS started"), "{transcript}");
    assert_eq!(app.messages_of("swaks@localhost").await.len(), 1);

    let refused = swaks("someone@gmail.com", false);
    let transcript = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success());
    assert!(transcript.contains("<** 550 5.7.1"), "{transcript}");
    app.stop().await;
}
