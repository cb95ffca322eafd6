//! The files of `deploy/` that `docs/deployment.md` tells operators to use: the systemd unit
//! passes `systemd-analyze verify`, the example configuration file is accepted, every metric the
//! Grafana dashboard queries is exposed, and the compose file and Dockerfile use only flags and
//! variables `ephemail serve` knows. (The image itself is not built here: that needs Docker and
//! an image registry.)

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::{scrape_metrics, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_ephemail");

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap()
}

/// What `ephemail ARGS` printed; the test fails if the command does.
fn ephemail(args: &[&str], envs: &[(&str, &str)]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ephemail {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    // verify checks that ExecStart's binary exists: the unit runs the one just built instead of
    // /usr/local/bin/ephemail, and is otherwise as shipped.
    let installed = "ExecStart=/usr/local/bin/ephemail ";
    let unit = read("ephemail.service");
    assert_eq!(
        unit.matches(installed).count(),
        1,
        "one ExecStart, installed"
    );
    let dir = std::env::temp_dir().join(format!("ephemail-unit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("ephemail.service");
    std::fs::write(&path, unit.replace(installed, &format!("ExecStart={BIN} "))).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test.sh installs it)");
    std::fs::remove_dir_all(&dir).unwrap();
    // A line it cannot parse is only a warning with exit code 0: any output is a failure.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && said.is_empty(), "{said}");
}

#[test]
fn the_example_configuration_file_is_accepted_and_takes_effect() {
    let example: toml::Table = read("ephemail.toml").parse().unwrap();
    let path = deploy("ephemail.toml");
    let password = "hunter2-never-printed";
    let url = format!("postgres://ephemail:{password}@db.example.com/ephemail");
    let printed = ephemail(
        &["config", "print", "--config", path.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    assert!(
        !printed.contains(password),
        "a secret was printed:\n{printed}"
    );
    assert!(printed.contains("# database-url = [redacted]"), "{printed}");
    let effective: toml::Table = printed.parse().unwrap();
    for (key, value) in &example {
        assert_eq!(effective.get(key), Some(value), "{key}");
    }
}

/// The `ephemail_*` series a dashboard query names, with a histogram's `_bucket`, `_sum` and
/// `_count` taken off.
fn queried_metrics(node: &Value, found: &mut BTreeSet<String>) {
    let name = regex::Regex::new(r"ephemail_[a-z0-9_]+").unwrap();
    match node {
        Value::String(text) => {
            for metric in name.find_iter(text) {
                let metric = metric.as_str();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| metric.strip_suffix(suffix))
                    .unwrap_or(metric);
                found.insert(base.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| queried_metrics(item, found)),
        Value::Object(fields) => fields.values().for_each(|v| queried_metrics(v, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_dashboard_and_the_alerts_query_is_exposed() {
    let dashboard: Value = serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    let mut queried = BTreeSet::new();
    queried_metrics(&dashboard, &mut queried);
    queried_metrics(&Value::String(guide_alert_rules()), &mut queried);
    assert!(queried.contains("ephemail_smtp_mails_stored_total"));

    // A server with some traffic, as a dashboard watches: a mail, and a query.
    let app = TestApp::spawn().await;
    app.send_mail("dashboard@localhost", "watched", "body")
        .await;
    app.data("{ domains { name } }", serde_json::json!({}))
        .await;
    let scrape = scrape_metrics(&app.url("/metrics")).await;
    app.stop().await;
    // Every registered family has a HELP line, samples or not; a counter's lacks `_total`.
    let mut exposed: BTreeSet<String> = scrape.samples.iter().map(|s| s.metric.clone()).collect();
    for family in scrape.docs.keys() {
        exposed.insert(family.clone());
        exposed.insert(format!("{family}_total"));
    }
    let missing: Vec<_> = queried.difference(&exposed).collect();
    assert!(missing.is_empty(), "queried but not exposed: {missing:?}");
}

/// The long flags (`--name`) in `ephemail COMMAND --help`, and the variables (`[env: NAME`).
fn known_settings(command: &str) -> BTreeSet<String> {
    let help = ephemail(&[command, "--help"], &[]);
    let setting = regex::Regex::new(r"(--[a-z0-9-]+)|\[env: ([A-Z0-9_]+)").unwrap();
    setting
        .captures_iter(&help)
        .filter_map(|found| found.get(1).or(found.get(2)))
        .map(|name| name.as_str().to_owned())
        .collect()
}

fn yaml(file: &str) -> Yaml {
    let mut documents = YamlLoader::load_from_str(&read(file))
        .unwrap_or_else(|error| panic!("deploy/{file}: {error}"));
    assert_eq!(documents.len(), 1, "deploy/{file}");
    documents.remove(0)
}

#[test]
fn compose_and_the_dockerfile_use_only_what_ephemail_knows() {
    for file in [
        "prometheus.yml",
        "grafana/provisioning/datasources/prometheus.yaml",
        "grafana/provisioning/dashboards/ephemail.yaml",
    ] {
        yaml(file);
    }
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_hash().expect("services");
    let mut ephemails = 0;
    for (name, service) in services {
        let name = name.as_str().unwrap();
        if service["image"].as_str() != Some("ephemail:local") {
            continue;
        }
        ephemails += 1;
        let command: Vec<&str> = service["command"]
            .as_vec()
            .unwrap_or_else(|| panic!("{name}: command as a list"))
            .iter()
            .map(|word| word.as_str().unwrap())
            .collect();
        let known = known_settings(command[0]);
        for word in &command[1..] {
            let flag = word.split('=').next().unwrap();
            assert!(
                !flag.starts_with("--") || known.contains(flag),
                "{name}: ephemail {} has no {flag}",
                command[0]
            );
        }
        let environment = service["environment"].as_hash().expect("environment");
        for variable in environment.keys().map(|key| key.as_str().unwrap()) {
            assert!(
                known.contains(variable),
                "{name}: ephemail {} reads no {variable}",
                command[0]
            );
        }
    }
    assert_eq!(ephemails, 3, "migrate, smtp and api");

    let serve = known_settings("serve");
    let dockerfile = read("Dockerfile");
    let variable = regex::Regex::new(r"\b(EPHEMAIL_[A-Z0-9_]+)=").unwrap();
    let set: Vec<&str> = variable
        .captures_iter(&dockerfile)
        .map(|found| found.get(1).unwrap().as_str())
        .collect();
    assert!(!set.is_empty());
    for variable in set {
        assert!(
            serve.contains(variable),
            "Dockerfile: serve reads no {variable}"
        );
    }
}

/// The alert rules of docs/deployment.md: its `yaml` block that starts with `groups:`.
fn guide_alert_rules() -> String {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deployment.md"))
        .unwrap();
    guide
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .find(|block| block.starts_with("groups:"))
        .expect("docs/deployment.md has alert rules")
        .to_owned()
}

/// The guide's alert rules are valid Prometheus rules (the series they watch are checked with
/// the dashboard's).
#[test]
fn the_guides_alert_rules_pass_promtool() {
    let rules = guide_alert_rules();
    let dir = std::env::temp_dir().join(format!("ephemail-rules-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ephemail.rules.yaml");
    std::fs::write(&path, rules).unwrap();
    let checked = std::process::Command::new(crate::helpers::promtool())
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
