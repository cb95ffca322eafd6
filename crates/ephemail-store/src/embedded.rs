//! The embedded default: a private PostgreSQL cluster run from the machine's own binaries under a
//! data directory, listening only on a Unix socket inside that directory (no TCP port to collide
//! with). It is created on first use, reused afterwards, and stopped by whoever started it; a
//! cluster whose starter died (`kill -9`) is adopted by the next ephemail that finds it, and
//! stopped by that one. The owner holds a lock on a file in the data directory for as long as it
//! lives: the kernel releases it however the process ends, so a live owner is never mistaken
//! for a dead one (whatever its executable is called) and a dead one never for a live one.
//!
//! PostgreSQL refuses to run as root; when we are root the cluster belongs to the `postgres`
//! account (created by the distribution's packages) and its commands run as that account.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    os::unix::fs::{chown, DirBuilderExt},
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::{bail, Context};
use diesel::{
    sql_types::{Bool, Text},
    QueryableByName,
};
use diesel_async::RunQueryDsl;
use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
    unistd::{Gid, Uid, User},
};

use crate::connect::ConnectionSettings;

/// Superuser created by `initdb`, and the user ephemail connects as.
const SUPERUSER: &str = "ephemail";
/// Only names the socket file; nothing listens on TCP.
const PORT: u16 = 5432;
/// Longest Unix socket path the kernel accepts (`sun_path` minus the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;
/// In the data directory: locked by the ephemail that owns (and will stop) the cluster, and
/// holding its process id.
const OWNER_FILE: &str = "cluster-owner.pid";

#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    run_as: Option<(Uid, Gid)>,
    /// Held when this process started the cluster, or adopted it from one that died: it stops
    /// it. The lock on the owner file tells the others that its owner lives.
    owner: Option<Flock<File>>,
}

impl EmbeddedPostgres {
    /// Initializes the cluster under `data_dir` if needed and starts it unless it already runs.
    pub async fn start(data_dir: &Path, bin_dir: Option<&Path>) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir(bin_dir)?;
        let data_dir = std::path::absolute(data_dir)
            .with_context(|| format!("resolving data directory {}", data_dir.display()))?;
        let pgdata = data_dir.join("postgres");
        let socket = pgdata.join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            bail!(
                "the data directory path {} is too long for a Unix socket ({} bytes at most for {}); choose a shorter --data-dir",
                data_dir.display(),
                MAX_SOCKET_PATH,
                socket.display()
            );
        }
        if pgdata.to_string_lossy().contains('\'') {
            bail!("the data directory path must not contain a single quote");
        }
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .context("looking up the `postgres` account")?
                .context(
                    "running as root, but there is no `postgres` account to run PostgreSQL as \
                     (PostgreSQL refuses to run as root); install PostgreSQL's packages or run \
                     ephemail as an ordinary user",
                )?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        let mut cluster = Self {
            bin_dir,
            pgdata,
            run_as,
            owner: None,
        };
        cluster.init(&data_dir).await?;
        let owner_file = data_dir.join(OWNER_FILE);
        if !cluster.is_running().await? {
            cluster.run_pg_ctl_start().await?;
            cluster.owner = Some(own(&owner_file)?);
        } else if !owner_alive(&owner_file) {
            tracing::info!(pgdata = %cluster.pgdata.display(), "adopting an embedded PostgreSQL whose ephemail is gone");
            cluster.owner = Some(own(&owner_file)?);
        }
        cluster.create_database(SUPERUSER, None).await?;
        Ok(cluster)
    }

    /// The cluster's data directory (`PGDATA`).
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// URL of `database` over the cluster's Unix socket. No host before the path: tokio-postgres
    /// would try it first (libpq lets `host=` replace it), so a PostgreSQL on localhost:5432
    /// that knows the role would be used instead of this cluster.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@/{database}?host={}&port={PORT}",
            percent_encode(&self.pgdata.to_string_lossy())
        )
    }

    /// Creates `name` (optionally as a copy of `template`) unless it exists.
    pub async fn create_database(&self, name: &str, template: Option<&str>) -> anyhow::Result<()> {
        #[derive(QueryableByName)]
        struct Exists {
            #[diesel(sql_type = Bool)]
            exists: bool,
        }
        let mut conn = ConnectionSettings::parse(&self.database_url("postgres"))?
            .connect()
            .await
            .context("connecting to the embedded PostgreSQL")?;
        let found: Exists =
            diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind::<Text, _>(name)
                .get_result(&mut conn)
                .await?;
        if !found.exists {
            let template = template
                .map(|t| format!(" TEMPLATE {}", quote_ident(t)))
                .unwrap_or_default();
            diesel::sql_query(format!("CREATE DATABASE {}{template}", quote_ident(name)))
                .execute(&mut conn)
                .await
                .with_context(|| format!("creating database {name}"))?;
        }
        Ok(())
    }

    /// Stops the cluster if this process owns it; one that another live ephemail started is
    /// left running.
    pub async fn stop(self) -> anyhow::Result<()> {
        if self.owner.is_some() {
            self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"])
                .await
                .context("stopping the embedded PostgreSQL")?;
            tracing::info!(pgdata = %self.pgdata.display(), "embedded PostgreSQL stopped");
        }
        Ok(())
    }

    async fn init(&self, data_dir: &Path) -> anyhow::Result<()> {
        if self.pgdata.join("PG_VERSION").exists() {
            return Ok(());
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.pgdata)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            })
            .with_context(|| format!("creating {}", self.pgdata.display()))?;
        if let Some((uid, gid)) = self.run_as {
            chown(&self.pgdata, Some(uid.as_raw()), Some(gid.as_raw()))
                .with_context(|| format!("handing {} to postgres", self.pgdata.display()))?;
        }
        tracing::info!(pgdata = %self.pgdata.display(), "initializing embedded PostgreSQL");
        let pgdata = self.pgdata.to_string_lossy();
        self.run(
            "initdb",
            &[
                "-D",
                &pgdata,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
        )
        .await
        .context(
            "initdb failed; when running as root, the `postgres` account must be able to reach \
             the data directory (choose a --data-dir outside /root)",
        )?;
        Ok(())
    }

    async fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .command("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.pgdata)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .context("running pg_ctl status")?;
        Ok(status.success())
    }

    async fn run_pg_ctl_start(&self) -> anyhow::Result<()> {
        let pgdata = self.pgdata.to_string_lossy();
        // Sized for a mail store that bulk-deletes while it ingests: after each checkpoint a
        // mass delete logs a full image of every page it touches, and each ingest commit waits
        // for the WAL written before it; compressed images and fewer checkpoints keep that
        // small, and more shared buffers keep ingest's index pages from the sweeper's scans.
        let options = format!(
            "-c listen_addresses='' -k '{pgdata}' -p {PORT} -c shared_buffers=512MB \
             -c wal_compression=lz4 -c max_wal_size=4GB"
        );
        let log = self.pgdata.join("server.log");
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            &log.to_string_lossy(),
            "-o",
            &options,
        ])
        .await
        .with_context(|| format!("starting PostgreSQL (its log: {})", log.display()))?;
        tracing::info!(pgdata = %pgdata, "embedded PostgreSQL started");
        Ok(())
    }

    async fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let pgdata = self.pgdata.to_string_lossy();
        let mut all = vec!["-D", &pgdata];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all).await
    }

    async fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .await
            .with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} exited with {}: {}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            );
        }
        Ok(())
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.bin_dir.join(program));
        // Neutral working directory: the postgres account may not be able to enter ours.
        command
            .current_dir("/")
            .stdin(Stdio::null())
            .env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }
}

/// The directory holding `initdb` and `pg_ctl`: the one given, else PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep them off PATH).
/// Takes the owner file's lock (held until the returned lock is dropped, or the process ends)
/// and writes this process's id into it.
fn own(owner_file: &Path) -> anyhow::Result<Flock<File>> {
    let writing = || format!("writing {}", owner_file.display());
    // Not truncated before it is locked: another owner's id stays until this one holds it.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(owner_file)
        .with_context(writing)?;
    let mut locked = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("{} is locked by a live ephemail", owner_file.display()))?;
    locked.set_len(0).with_context(writing)?;
    write!(locked, "{}", std::process::id()).with_context(writing)?;
    Ok(locked)
}

/// Whether the ephemail that owns the cluster still runs: it holds the owner file's lock. An
/// owner from before the lock is recognised by its process id (a recycled one that now belongs
/// to another program does not count).
fn owner_alive(owner_file: &Path) -> bool {
    let Ok(file) = File::open(owner_file) else {
        return false;
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Err((_, Errno::EWOULDBLOCK)) => true,
        _ => owner_pid_alive(owner_file),
    }
}

fn owner_pid_alive(owner_file: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(owner_file)
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
    else {
        return false;
    };
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .split(|b| *b == 0)
            .next()
            .is_some_and(|program| program.ends_with(b"ephemail"))
    })
}

pub fn find_bin_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = explicit {
        if has_tools(dir) {
            return Ok(dir.to_owned());
        }
        bail!("--pg-bin-dir {} holds no initdb and pg_ctl", dir.display());
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort();
    on_path
        .into_iter()
        .chain(versioned.into_iter().rev().map(|(_, dir)| dir))
        .find(|dir| has_tools(dir))
        .context(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under \
             /usr/lib/postgresql/*/bin: install PostgreSQL (e.g. `apt-get install postgresql`) \
             or set DATABASE_URL to use an existing server",
        )
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_directory_is_percent_encoded_in_the_url() {
        let cluster = EmbeddedPostgres {
            bin_dir: PathBuf::new(),
            pgdata: PathBuf::from("/var/lib/e mail/postgres"),
            run_as: None,
            owner: None,
        };
        assert_eq!(
            cluster.database_url("ephemail"),
            "postgres://ephemail@/ephemail?host=%2Fvar%2Flib%2Fe%20mail%2Fpostgres&port=5432"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }
}
