//! Generated artefacts must match the code, and database-wide rules must hold.

use std::process::Command;

use diesel::{sql_types::BigInt, sql_types::Text, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::helpers::fresh_database;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn schema_graphql_matches_the_code() {
    let checked_in = std::fs::read_to_string(format!("{MANIFEST_DIR}/schema.graphql"))
        .expect("schema.graphql at the top level");
    assert!(
        checked_in == ephemail::graphql::schema::sdl(),
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn descriptions_are_for_clients_and_date_times_name_their_format() {
    let sdl = ephemail::graphql::schema::sdl();
    // A rustdoc link (`[`NAME`]`) means nothing to a client reading the schema.
    assert!(!sdl.contains("[`"), "a description shows a rustdoc link");
    assert!(sdl.contains(
        r#"scalar DateTime @specifiedBy(url: "https://datatracker.ietf.org/doc/html/rfc3339")"#
    ));
    let scope = &sdl[sdl.find("enum Scope").expect("Scope")..];
    let described = &sdl[..sdl.find("enum Scope").unwrap()];
    assert!(described.ends_with(
        "\"\"\"\nWhat a key may do: `READ`, `WRITE` (which includes `READ`) or `ADMIN` (which includes\nboth, and is the operator's scope).\n\"\"\"\n"
    ), "{}", &described[described.len() - 200..]);
    assert!(scope.starts_with("enum Scope {"));
}

#[test]
fn ephemail_schema_command_prints_the_checked_in_sdl() {
    let output = Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .arg("schema")
        .output()
        .expect("running ephemail schema");
    assert!(output.status.success());
    let checked_in = std::fs::read(format!("{MANIFEST_DIR}/schema.graphql")).unwrap();
    assert!(
        output.stdout == checked_in,
        "`ephemail schema` differs from schema.graphql"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diesel_schema_rs_matches_the_migrations() {
    let url = fresh_database().await;
    let output = Command::new("diesel")
        .args(["print-schema", "--database-url", &url])
        .current_dir(MANIFEST_DIR)
        .output()
        .expect(
            "the diesel CLI is needed to check crates/ephemail-store/src/schema.rs: \
             cargo install diesel_cli --no-default-features --features postgres",
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checked_in = std::fs::read(format!(
        "{MANIFEST_DIR}/crates/ephemail-store/src/schema.rs"
    ))
    .unwrap();
    assert!(
        output.stdout == checked_in,
        "crates/ephemail-store/src/schema.rs is out of date: run `diesel print-schema > crates/ephemail-store/src/schema.rs` against a migrated database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ownership_foreign_key_cascades_on_delete() {
    #[derive(QueryableByName)]
    struct Constraint {
        #[diesel(sql_type = Text)]
        constraint_name: String,
    }
    let mut conn = AsyncPgConnection::establish(&fresh_database().await)
        .await
        .unwrap();
    let offending: Vec<Constraint> = diesel::sql_query(
        "SELECT constraint_name::text FROM information_schema.referential_constraints \
         WHERE delete_rule <> 'CASCADE'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    // The one exception points the other way: a message at its raw source, shared by the
    // messages of one mail, which must never take messages with it (the sweeper deletes
    // sources no message points at).
    let names: Vec<&str> = offending
        .iter()
        .map(|c| c.constraint_name.as_str())
        .filter(|&name| name != "messages_raw_sha256_fkey")
        .collect();
    assert!(
        names.is_empty(),
        "foreign keys that do not cascade: {names:?}"
    );
}

/// (messages, attachments) rows in the database at `url`.
pub async fn query_counts(url: &str) -> (i64, i64) {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        messages: i64,
        #[diesel(sql_type = BigInt)]
        attachments: i64,
    }
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM messages) AS messages, \
                (SELECT count(*) FROM attachments) AS attachments",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    (counts.messages, counts.attachments)
}

#[test]
fn every_setting_is_documented_in_the_readme_and_env_example() {
    let help = Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args(["serve", "--help"])
        .output()
        .expect("running ephemail serve --help");
    let help = String::from_utf8(help.stdout).unwrap();
    let readme = std::fs::read_to_string(format!("{MANIFEST_DIR}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{MANIFEST_DIR}/.env.example")).unwrap();
    let variables: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .collect();
    assert!(variables.len() > 20, "{help}");
    for variable in variables {
        assert!(
            example.contains(variable),
            "{variable} is missing from .env.example"
        );
        assert!(
            readme.contains(variable),
            "{variable} is missing from the README"
        );
    }
}
