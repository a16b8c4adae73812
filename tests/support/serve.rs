//! Real `invitoken serve` processes on a PostgreSQL database of their own, for the tests that
//! run replicas and outages against the fake CodeSignal (`tests/replicas.rs`, `tests/db_down.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::fake_codesignal::FakeCodeSignal;

const BIN: &str = env!("CARGO_BIN_EXE_invitoken");
const PANEL: &str = include_str!("../../fixtures/panel.json");

/// `INVITOKEN_POSTGRES_URL`; unset fails the (ignored) test that needs it.
pub fn postgres() -> String {
    match std::env::var("INVITOKEN_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "INVITOKEN_POSTGRES_URL is not set: this test needs a PostgreSQL server; run it as \
             INVITOKEN_POSTGRES_URL=postgres://... cargo test -- --ignored"
        ),
    }
}

/// A database of its own on `server`, named after `prefix` (the fake numbers its sessions from
/// 1 in every run, so a ledger shared with other tests would hold the same session ids for
/// other keys): its URL and name.
pub async fn fresh_database(server: &str, prefix: &str) -> (url::Url, String) {
    use sqlx::Connection as _;
    let name = format!(
        "invitoken_{prefix}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let mut conn = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&format!("/{name}"));
    (url, name)
}

pub async fn drop_database(server: &str, name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::PgConnection::connect(server).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// The panel fixture as interview `id` with a candidate of its own, starting tomorrow at a
/// fixed hour (the same body whenever it is sent).
pub fn panel(id: &str, n: usize) -> String {
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    r["interview"]["id"] = json!(id);
    r["interview"]["candidate"]["email"] = json!(format!("cand-{n}@example.org"));
    let base = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    for (i, e) in r["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let start = base + chrono::TimeDelta::hours(2 * i as i64);
        e["start"] = json!(start.to_rfc3339());
        e["end"] = json!((start + chrono::TimeDelta::hours(1)).to_rfc3339());
    }
    r.to_string()
}

/// One `invitoken serve` process, listening on a free port of 127.0.0.1; killed when dropped.
pub struct ServeProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// Everything it wrote on stderr so far.
    pub log: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// `serve --config config --ledger ledger` with `args` besides (the refresher off), its
    /// environment `env` besides, waiting until it says where it listens.
    pub fn start(
        config: &std::path::Path,
        ledger: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--ledger", ledger])
            .args(["--refresh-every", "0", "--shutdown-grace", "10"])
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("INVITOKEN_LEDGER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening")
                    && let Some(at) = line.split("addr=").nth(1)
                {
                    let _ = tx.send(at.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = keep.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(at) => at.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("the service did not start:\n{}", log.lock().unwrap());
            }
        };
        ServeProcess { child, addr, log }
    }

    pub fn sigterm(&self) {
        // SAFETY: a plain kill(2) of our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The links of a resolution: key (event/product) → URL; a resolution without links fails.
pub fn urls(resolution: &Value) -> BTreeMap<String, String> {
    let links = resolution["links"].as_array().expect("links");
    assert!(!links.is_empty(), "{resolution}");
    links
        .iter()
        .map(|l| {
            (
                format!(
                    "{}/{}",
                    l["event_id"].as_str().unwrap_or("-"),
                    l["product"].as_str().unwrap()
                ),
                l["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The fake's live sessions are exactly the links handed out (interview → its links): one per
/// key, no orphan.
pub fn one_session_per_key(
    fake: &FakeCodeSignal,
    seen: &BTreeMap<usize, BTreeMap<String, String>>,
) {
    let handed: BTreeSet<&String> = seen.values().flat_map(|m| m.values()).collect();
    let keys: usize = seen.values().map(|m| m.len()).sum();
    assert_eq!(handed.len(), keys, "two keys were given one URL");
    let sessions: Vec<_> = fake
        .sessions()
        .into_iter()
        .filter(|s| s.status != "deleted")
        .collect();
    for s in &sessions {
        assert!(
            handed.contains(&s.url) || handed.contains(&s.shortened_url),
            "session {} ({}) was never handed out: an orphan",
            s.id,
            s.url
        );
    }
    assert_eq!(
        sessions.len(),
        keys,
        "sessions at CodeSignal vs keys handed out (an extra one is an orphan or a double mint)"
    );
}
