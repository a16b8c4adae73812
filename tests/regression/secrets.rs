//! Regressions: secrets in URLs (issue 9, class 8), errors that are short and terminal-safe
//! (class 15), and ledgers that never touch someone else's database (class 16).
//!
//! Every CLI run gets a ledger of its own, and every assertion on output reads both streams
//! whole.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::support::scratch::fresh_ledger;

const PANEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/panel.json");

/// A secret that must never be shown, whichever part of a URL it is in.
const SECRET: &str = "hunter2-sekrit";

/// `invitoken` with a fresh ledger, no CodeSignal settings and no colour.
fn invitoken() -> Command {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.env("INVITOKEN_LEDGER", fresh_ledger())
        .env_remove("CODESIGNAL_API_KEY")
        .env_remove("CODESIGNAL_ENDPOINT")
        .env_remove("CODESIGNAL_TIMEOUT")
        .env("NO_COLOR", "1");
    cmd
}

/// What one run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(cmd: &mut Command) -> Run {
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Neither stream holds `secret`.
    fn hides(&self, secret: &str) -> &Run {
        assert!(
            !self.all().contains(secret),
            "`{secret}` was shown:\n{}",
            self.all()
        );
        self
    }

    /// Nothing on stderr can drive a terminal: no control character but line breaks, and no
    /// line a quoted value forged.
    fn terminal_safe(&self) -> &Run {
        for c in self.stderr.chars() {
            assert!(
                c == '\n'
                    || !(c.is_control()
                        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}')),
                "raw {:?} on stderr:\n{}",
                c,
                self.stderr
            );
        }
        assert!(
            !self.stderr.lines().any(|l| l.starts_with("error: forged")),
            "a forged line:\n{}",
            self.stderr
        );
        self
    }
}

/// A local port nothing listens on: connections to it are refused at once.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// Class 8: secrets in URLs are never printed.

#[test]
fn postgres_password_in_ledger_url_query_or_userinfo_is_printed() {
    let port = closed_port();
    for url in [
        format!("postgres://user@127.0.0.1:{port}/db?password={SECRET}"),
        format!("postgres://user:{SECRET}@127.0.0.1:{port}/db"),
        format!("postgresql://{SECRET}@127.0.0.1:{port}/db?sslmode=prefer"),
        format!("postgres://u@127.0.0.1:{port}/db?sslpassword={SECRET}&application_name=x"),
        // Does not parse (bad port): never echoed at all.
        format!("postgres://user:{SECRET}@127.0.0.1:notaport/db"),
    ] {
        for args in [
            vec!["links"],
            vec!["resolve", PANEL, "--sandbox"],
            vec!["refresh", "--sandbox"],
        ] {
            let run = Run::of(invitoken().args(&args).args(["--ledger", &url]));
            assert_eq!(run.code, 2, "{args:?} {url}: {}", run.stderr);
            assert!(run.stderr.contains("mint ledger"), "{}", run.stderr);
            run.hides(SECRET).terminal_safe();
        }
    }
}

#[test]
fn ledger_errors_debug_shows_the_password() {
    let port = closed_port();
    for url in [
        format!("postgres://user:{SECRET}@127.0.0.1:{port}/db?password={SECRET}"),
        format!("postgres://user:{SECRET}@127.0.0.1:notaport/db"),
        format!("mysql://user:{SECRET}@127.0.0.1/db"),
    ] {
        let err = block_on(invitoken::Ledger::open(&url)).unwrap_err();
        let shown = format!("{err}\n{err:?}");
        assert!(!shown.contains(SECRET), "{shown}");
    }
}

#[test]
fn credentials_in_ledger_urls_of_other_schemes_are_printed() {
    for url in [
        format!("mysql://root:{SECRET}@db.example/app"),
        format!("redis://:{SECRET}@cache.example/0"),
        format!("https://api.example/x?token={SECRET}"),
        format!("mysql://{SECRET}@db.example/app\u{1b}[2J"),
    ] {
        let run = Run::of(invitoken().args(["links", "--ledger", &url]));
        assert_eq!(run.code, 2, "{url}: {}", run.stderr);
        assert!(
            run.stderr.contains("only SQLite and PostgreSQL"),
            "{}",
            run.stderr
        );
        run.hides(SECRET).terminal_safe();
    }
}

#[test]
fn codesignal_endpoint_with_credentials_is_echoed_and_used() {
    let key = "sk-live-0123456789abcdef";
    let port = closed_port();
    for endpoint in [
        format!("https://user:{SECRET}@app.codesignal.com/graphql"),
        format!("https://{SECRET}@app.codesignal.com/graphql"),
        format!("https://app.codesignal.com/graphql?key={SECRET}"),
        format!("https://app.codesignal.com/graphql?x=1&api_token={SECRET}"),
        format!("http://user:{SECRET}@127.0.0.1:{port}/graphql"),
    ] {
        // Refused before the request is read: the request does not even exist.
        let run = Run::of(
            invitoken()
                .args(["resolve", "/nonexistent/request.json"])
                .env("CODESIGNAL_API_KEY", key)
                .env("CODESIGNAL_ENDPOINT", &endpoint),
        );
        assert_eq!(run.code, 2, "{endpoint}: {}", run.stderr);
        assert!(run.stderr.contains("carries credentials"), "{}", run.stderr);
        run.hides(SECRET).hides(key).terminal_safe();
        // The same through the flag, for every command that talks to CodeSignal.
        for args in [
            vec!["batch", "/nonexistent", "--out", "/nonexistent-out"],
            vec!["refresh"],
            vec!["cancel", "--interview", "int-1"],
        ] {
            let run = Run::of(
                invitoken()
                    .args(&args)
                    .args(["--codesignal-endpoint", &endpoint])
                    .env("CODESIGNAL_API_KEY", key),
            );
            assert_eq!(run.code, 2, "{args:?} {endpoint}: {}", run.stderr);
            assert!(run.stderr.contains("carries credentials"), "{}", run.stderr);
            run.hides(SECRET).hides(key).terminal_safe();
        }
    }
}

#[test]
fn help_prints_the_ledger_and_endpoint_variables_with_their_passwords() {
    for command in ["resolve", "batch", "links", "refresh", "cancel"] {
        let run = Run::of(
            invitoken()
                .args([command, "--help"])
                .env("INVITOKEN_LEDGER", format!("postgres://u:{SECRET}@db/x"))
                .env(
                    "CODESIGNAL_ENDPOINT",
                    format!("https://u:{SECRET}@app.codesignal.com/graphql"),
                )
                .env("CODESIGNAL_API_KEY", format!("{SECRET}-key")),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("--ledger"), "{}", run.stdout);
        run.hides(SECRET);
    }
}

#[test]
fn codesignal_endpoint_that_does_not_parse_is_echoed() {
    let run = Run::of(
        invitoken()
            .args(["resolve", PANEL])
            .env("CODESIGNAL_API_KEY", "sk-live-0123456789abcdef")
            .env(
                "CODESIGNAL_ENDPOINT",
                format!("https://user:{SECRET}@exa mple.com/graphql\u{1b}[2J"),
            ),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not a URL"), "{}", run.stderr);
    run.hides(SECRET).terminal_safe();
}

// ---------------------------------------------------------------------------------------------
// Class 15: errors are short and terminal-safe.

#[test]
fn cr_only_file_is_quoted_whole_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    // Two megabytes whose only line breaks are CRs: one line to anything that splits on LF.
    let mut text = "Hello,\r".to_owned();
    text.push_str(&"join us\r".repeat(250_000));
    text.push_str("room: $Interview.CodeSignal.Live.Lnk\r");
    let path = dir.path().join("cr-only.txt");
    std::fs::write(&path, &text).unwrap();
    let run = Run::of(invitoken().arg("check").arg(&path));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
    let col = text.find('$').unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("cr-only.txt:1:{col}\n")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("did you mean `$Interview.CodeSignal.Live.Link`?"),
        "{}",
        run.stderr
    );

    // The same in an .ics file that batch reads.
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let ics = format!(
        "BEGIN:VCALENDAR\rVERSION:2.0\rBEGIN:VEVENT\rUID:u-1\rDESCRIPTION:{}\
         $Event.CodeSignal.Live.Link\rEND:VEVENT\rEND:VCALENDAR\r",
        "x".repeat(2_000_000)
    );
    std::fs::write(input.join("cr-only.ics"), ics).unwrap();
    let report = dir.path().join("report.json");
    let run = Run::of(
        invitoken()
            .args(["batch", "--sandbox", "--out"])
            .arg(dir.path().join("out"))
            .arg("--report")
            .arg(&report)
            .arg(&input),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    assert!(run.stderr.len() < 3_000, "{} bytes", run.stderr.len());
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(report.len() < 5_000, "a report of {} bytes", report.len());
}

#[test]
fn megabyte_line_is_quoted_whole_and_the_caret_drifts() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\u{1b}[2J\u{9b}31m\u{85}\t$Interview.CodeSignal.Live.Lnk {}",
        "é".repeat(1_000_000),
        "y".repeat(1_000_000)
    );
    let path = dir.path().join("long.txt");
    std::fs::write(&path, &text).unwrap();
    let run = Run::of(invitoken().arg("check").arg(&path));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
    let col = text[..text.find('$').unwrap()].chars().count() + 1;
    assert!(
        run.stderr.contains(&format!("long.txt:1:{col}\n")),
        "{}",
        run.stderr
    );
    // The caret is under the token as shown: the same column on screen.
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("1 | ") && l.contains("$Interview"))
        .unwrap_or_else(|| panic!("no source line:\n{}", run.stderr));
    let token_col = lines[at][..lines[at].find('$').unwrap()].chars().count();
    let caret_col = lines[at + 1][..lines[at + 1].find('^').unwrap()]
        .chars()
        .count();
    assert_eq!(token_col, caret_col, "{}\n{}", lines[at], lines[at + 1]);
    assert!(
        lines[at].contains("\\u{1b}[2J\\u{9b}31m\\u{85}"),
        "{}",
        lines[at]
    );
}

#[test]
fn control_characters_in_file_names_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\r\nerror: forged by a file name\u{9b}1m";
    // A template with a finding: its origin line names the file.
    let template = dir.path().join(format!("{evil}.txt"));
    std::fs::write(&template, "Hi $Candidate.Nme").unwrap();
    let run = Run::of(invitoken().arg("check").arg(&template));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    assert!(run.stderr.contains("evil\\u{1b}]0;pwned"), "{}", run.stderr);
    // A file that cannot be read, and one that is not UTF-8.
    let missing = dir.path().join(format!("{evil}-missing.txt"));
    let run = Run::of(invitoken().arg("check").arg(&missing));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    let latin1 = dir.path().join(format!("{evil}.json"));
    std::fs::write(&latin1, b"{\"a\": \"caf\xe9\"}").unwrap();
    let run = Run::of(invitoken().arg("plan").arg(&latin1));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    // batch: per-file errors and notes, and the summary.
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join(format!("{evil}.ics")), "not a calendar $X\r\n").unwrap();
    let run = Run::of(
        invitoken()
            .args(["batch", "--sandbox", "--out"])
            .arg(dir.path().join("out"))
            .arg(&input),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
    assert!(run.stderr.contains("evil\\u{1b}]0;pwned"), "{}", run.stderr);
}

#[test]
fn hostile_ids_in_an_ics_file_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // Two copies of one event naming different interviews, with escapes in the ids.
    for (name, interview) in [("a", "int-1\u{1b}[2J"), ("b", "int-2\u{9b}1m\u{85}")] {
        std::fs::write(
            input.join(format!("{name}.ics")),
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u-1\u{7}\r\n\
                 X-INTERVIEW-ID:{interview}\r\nDTSTART:20270302T090000Z\r\n\
                 DTEND:20270302T100000Z\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\n\
                 END:VEVENT\r\nEND:VCALENDAR\r\n"
            ),
        )
        .unwrap();
    }
    let run = Run::of(
        invitoken()
            .args(["batch", "--sandbox", "--out"])
            .arg(dir.path().join("out"))
            .arg(&input),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.terminal_safe();
}

/// A CodeSignal stand-in that answers every request with `response` (a whole HTTP response).
fn hostile_server(response: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/graphql", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            answer(&mut stream, &response);
        }
    });
    endpoint
}

fn answer(stream: &mut TcpStream, response: &str) {
    // Read the request head and its body (Content-Length), then answer and close.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    let _ = stream.write_all(response.as_bytes());
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn server_messages_with_escapes_reach_the_terminal() {
    let forged = "\u{1b}[2J\u{1b}[H\r\nerror: forged by the server\u{9b}31m\u{85}\u{2028}";
    let graphql = serde_json::json!({"data": null, "errors": [{"message": forged}]}).to_string();
    for response in [
        http("200 OK", "application/json", &graphql),
        http("400 Bad Request", "text/plain", forged),
        http(
            "200 OK",
            "application/json",
            &format!("{{\"data\": \"{forged}"),
        ),
    ] {
        let endpoint = hostile_server(response);
        let run = Run::of(
            invitoken()
                .args(["resolve", PANEL])
                .env("CODESIGNAL_API_KEY", "sk-live-0123456789abcdef")
                .env("CODESIGNAL_ENDPOINT", &endpoint)
                .env("CODESIGNAL_TIMEOUT", "5"),
        );
        assert_eq!(run.code, 3, "{}", run.stderr);
        run.terminal_safe().hides("sk-live-0123456789abcdef");
        // Shown, escaped: the message is still there to read.
        assert!(
            run.stderr.contains("\\r\\nerror: forged by the server"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// Class 16: a ledger never mutates someone else's database.

/// Runs `future` to completion on a small runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Makes a SQLite database at `path` (rollback journal, as most applications leave theirs)
/// with `sql` run in it.
fn sqlite_db(path: &Path, sql: &str) {
    use sqlx::Connection as _;
    block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    });
}

/// Every file in `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Every command that opens a ledger, on `ledger`, with what each must exit with when the
/// ledger is refused.
fn ledger_commands(ledger: &str, work: &Path) -> Vec<(Vec<String>, i32)> {
    let input = work.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u-1\r\nX-INTERVIEW-ID:int-1\r\n\
         DTSTART:20270302T090000Z\r\nDTEND:20270302T100000Z\r\n\
         DESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let out = work.join("out");
    vec![
        (s(&["links", "--ledger", ledger]), 2),
        (s(&["resolve", PANEL, "--sandbox", "--ledger", ledger]), 2),
        (
            s(&[
                "batch",
                input.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--sandbox",
                "--ledger",
                ledger,
            ]),
            2,
        ),
        (s(&["refresh", "--sandbox", "--ledger", ledger]), 2),
        (
            s(&[
                "cancel",
                "--interview",
                "int-42",
                "--sandbox",
                "--ledger",
                ledger,
            ]),
            2,
        ),
    ]
}

#[test]
fn ledger_adds_tables_to_another_apps_sqlite_file_and_switches_it_to_wal() {
    for (name, sql) in [
        (
            "other-app.sqlite3",
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); \
             INSERT INTO users (name) VALUES ('ada');",
        ),
        // A table of the ledger's name, not made by its migrations.
        (
            "lookalike.sqlite3",
            "CREATE TABLE mint_records (id INTEGER PRIMARY KEY, url TEXT);",
        ),
        // Another sqlx application's migrations, and nothing else.
        (
            "sqlx-app.sqlite3",
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
             INSERT INTO _sqlx_migrations VALUES (1, 'init', CURRENT_TIMESTAMP, 1, x'00', 1);",
        ),
        // An empty database another application marked as its own.
        ("marked.sqlite3", "PRAGMA application_id = 1234;"),
        ("versioned.sqlite3", "PRAGMA user_version = 3;"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let path = db.join(name);
        sqlite_db(&path, sql);
        let before = snapshot(&db);
        for (args, code) in ledger_commands(path.to_str().unwrap(), dir.path()) {
            let run = Run::of(invitoken().args(&args));
            assert_eq!(run.code, code, "{name}: {args:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("is not a mint ledger")
                    && run.stderr.contains("left untouched"),
                "{name}: {args:?}: {}",
                run.stderr
            );
            assert_eq!(
                snapshot(&db),
                before,
                "{name}: {args:?} changed the database"
            );
            assert!(!dir.path().join("out").exists(), "{args:?} wrote output");
        }
    }
}

#[test]
fn ledger_leaves_wal_and_shm_files_beside_another_apps_wal_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let path = db.join("wal-app.sqlite3");
    // An application that keeps its database in WAL mode, closed cleanly (no `-wal` left).
    sqlite_db(
        &path,
        "PRAGMA journal_mode = WAL; CREATE TABLE users (id INTEGER PRIMARY KEY);",
    );
    let before = snapshot(&db);
    assert_eq!(before.len(), 1, "{before:?}");
    for (args, code) in ledger_commands(path.to_str().unwrap(), dir.path()) {
        let run = Run::of(invitoken().args(&args));
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is not a mint ledger"),
            "{}",
            run.stderr
        );
        let after: Vec<_> = snapshot(&db).into_iter().map(|(p, _)| p).collect();
        assert_eq!(snapshot(&db), before, "{args:?} left {after:?}");
    }
}

#[test]
fn ledger_overwrites_a_file_that_is_not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("notes.txt"), "my notes, not a database\n").unwrap();
    std::fs::create_dir(db.join("folder")).unwrap();
    let before = snapshot(&db);
    for target in ["notes.txt", "folder"] {
        let ledger = db.join(target);
        for (args, code) in ledger_commands(ledger.to_str().unwrap(), dir.path()) {
            let run = Run::of(invitoken().args(&args));
            assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("is not a mint ledger"),
                "{args:?}: {}",
                run.stderr
            );
            assert_eq!(snapshot(&db), before, "{args:?} changed the folder");
        }
    }
}

#[test]
fn read_only_commands_create_an_empty_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("not/yet/ledger.sqlite3");
    let ledger = ledger.to_str().unwrap();
    let run = Run::of(invitoken().args(["links", "--ledger", ledger]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap(),
        serde_json::json!([])
    );
    assert!(run.stderr.contains("no mint ledger"), "{}", run.stderr);
    let run = Run::of(invitoken().args(["refresh", "--sandbox", "--ledger", ledger]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap(),
        serde_json::json!([])
    );
    let run = Run::of(invitoken().args([
        "cancel",
        "--interview",
        "int-42",
        "--sandbox",
        "--ledger",
        ledger,
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing was cancelled"),
        "{}",
        run.stderr
    );
    assert!(
        !dir.path().join("not").exists(),
        "a read made the ledger's folder"
    );
    // An empty file (as `touch` leaves) is no ledger either, and stays empty.
    let empty = dir.path().join("empty.sqlite3");
    std::fs::write(&empty, "").unwrap();
    let run = Run::of(invitoken().args(["links", "--ledger", empty.to_str().unwrap()]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    assert_eq!(snapshot(dir.path()).len(), 1, "{:?}", snapshot(dir.path()));

    // A command that mints makes the ledger, and then links reads it.
    let run = Run::of(invitoken().args(["resolve", PANEL, "--sandbox", "--ledger", ledger]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = Run::of(invitoken().args(["links", "--ledger", ledger]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(records.len(), 7, "{}", run.stdout);
}

#[test]
fn file_and_sqlite_urls_make_literal_folders() {
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().join("abs ledger.sqlite3");
    let abs_url = format!("file://{}", abs.to_str().unwrap().replace(' ', "%20"));
    for (location, made) in [
        (
            "file:rel%20ledger.sqlite3",
            dir.path().join("rel ledger.sqlite3"),
        ),
        ("sqlite:plain.sqlite3", dir.path().join("plain.sqlite3")),
        ("sqlite://sub/x.sqlite3", dir.path().join("sub/x.sqlite3")),
        (abs_url.as_str(), abs.clone()),
    ] {
        let run = Run::of(invitoken().current_dir(dir.path()).args([
            "resolve",
            PANEL,
            "--sandbox",
            "--ledger",
            location,
        ]));
        assert_eq!(run.code, 0, "{location}: {}", run.stderr);
        assert!(made.is_file(), "{location}: no {}", made.display());
    }
    for name in [
        "file:rel%20ledger.sqlite3",
        "file:",
        "sqlite:",
        "sqlite:plain.sqlite3",
    ] {
        assert!(!dir.path().join(name).exists(), "{name} was made");
    }
    // Options SQLite would honour are not silently dropped: refused, nothing made.
    for location in [
        "file:ro.sqlite3?mode=ro",
        "sqlite:ro.sqlite3?mode=ro",
        "file://fileserver/share/ledger.sqlite3",
        "file::memory:",
    ] {
        let before = snapshot(dir.path());
        let run = Run::of(invitoken().current_dir(dir.path()).args([
            "resolve",
            PANEL,
            "--sandbox",
            "--ledger",
            location,
        ]));
        assert_eq!(run.code, 2, "{location}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot use"),
            "{location}: {}",
            run.stderr
        );
        assert_eq!(snapshot(dir.path()), before, "{location}");
        assert!(!dir.path().join("ro.sqlite3").exists());
        assert!(!dir.path().join("file:ro.sqlite3?mode=ro").exists());
    }
}

// PostgreSQL: against INVITOKEN_POSTGRES_URL (set but unreachable fails), each case in a schema
// of its own that the URL selects with `options=-csearch_path=...`. The cases are ignored unless
// asked for (`cargo test -- --ignored`); asked for without the variable, they fail.

fn postgres_url() -> String {
    match std::env::var("INVITOKEN_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "INVITOKEN_POSTGRES_URL is not set: this case needs a PostgreSQL server; run it as \
             INVITOKEN_POSTGRES_URL=postgres://... cargo test -- --ignored"
        ),
    }
}

/// A fresh schema in the database of `url`, set up with `sql`; dropped when dropped.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str, case: &str, sql: &str) -> Schema {
        let name = format!("invitoken_{case}_{}", std::process::id());
        let schema = Schema {
            url: url.to_owned(),
            name,
        };
        let setup = format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}; SET search_path TO {0}; {sql}",
            schema.name
        );
        schema.run(&setup);
        schema
    }

    fn run(&self, sql: &str) {
        self.try_run(sql).unwrap();
    }

    fn try_run(&self, sql: &str) -> Result<(), sqlx::Error> {
        use sqlx::Connection as _;
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            sqlx::raw_sql(sql).execute(&mut conn).await?;
            conn.close().await
        })
    }

    /// The URL that puts the ledger in this schema.
    fn ledger_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.url, self.name)
    }

    /// Every table of the schema with its columns, and the rows of `_sqlx_migrations` if any.
    fn describe(&self) -> Vec<String> {
        use sqlx::Connection as _;
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let mut out: Vec<String> = sqlx::query_scalar(
                "SELECT table_name || '.' || column_name || ':' || data_type \
                 FROM information_schema.columns WHERE table_schema = $1 \
                 ORDER BY table_name, ordinal_position",
            )
            .bind(&self.name)
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let migrations: Option<String> =
                sqlx::query_scalar("SELECT to_regclass($1 || '._sqlx_migrations')::text")
                    .bind(&self.name)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            if migrations.is_some() {
                let rows: Vec<i64> = sqlx::query_scalar(&format!(
                    "SELECT version FROM {}._sqlx_migrations ORDER BY version",
                    self.name
                ))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                out.extend(rows.iter().map(|v| format!("migration {v}")));
            }
            conn.close().await.unwrap();
            out
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Also after a failure; a schema left behind would only be dropped by the next run.
        let _ = self.try_run(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

#[test]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
fn postgres_ledger_alters_a_foreign_mint_records_table_or_another_apps_migrations() {
    let url = postgres_url();
    for (case, sql) in [
        (
            "lookalike",
            "CREATE TABLE mint_records (id BIGINT PRIMARY KEY, url TEXT); \
             INSERT INTO mint_records VALUES (1, 'https://example.com');",
        ),
        (
            "sqlx_app",
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
             checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL); \
             INSERT INTO _sqlx_migrations VALUES (1, 'init', now(), true, '\\x00', 1); \
             CREATE TABLE users (id BIGINT PRIMARY KEY);",
        ),
    ] {
        let schema = Schema::new(&url, case, sql);
        let before = schema.describe();
        let ledger = schema.ledger_url();
        let dir = tempfile::tempdir().unwrap();
        for (args, code) in ledger_commands(&ledger, dir.path()) {
            let run = Run::of(invitoken().args(&args));
            assert_eq!(run.code, code, "{case}: {args:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("is not a mint ledger"),
                "{case}: {args:?}: {}",
                run.stderr
            );
            assert_eq!(
                schema.describe(),
                before,
                "{case}: {args:?} changed the schema"
            );
        }
    }
}

#[test]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
fn postgres_links_creates_the_ledger_tables() {
    let url = postgres_url();
    // Another application's table may share the database: the ledger adds its own beside it.
    let schema = Schema::new(&url, "reads", "CREATE TABLE users (id BIGINT PRIMARY KEY);");
    let before = schema.describe();
    let ledger = schema.ledger_url();
    let run = Run::of(invitoken().args(["links", "--ledger", &ledger]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "[]");
    assert_eq!(schema.describe(), before, "links changed the schema");
    let run = Run::of(invitoken().args(["resolve", PANEL, "--sandbox", "--ledger", &ledger]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = schema.describe();
    assert!(before.iter().all(|c| after.contains(c)), "{after:?}");
    assert!(
        after.iter().any(|c| c.starts_with("mint_records.")),
        "{after:?}"
    );
    let run = Run::of(invitoken().args(["links", "--ledger", &ledger]));
    let records: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(records.len(), 7, "{}", run.stdout);
    // The password of the URL (if it has one) is in neither the output nor the ledger's Debug.
    if let Some(password) = url::Url::parse(&url).unwrap().password() {
        run.hides(password);
        let opened = block_on(invitoken::Ledger::open_existing(&ledger))
            .unwrap()
            .expect("a ledger");
        let shown = format!("{opened:?} {}", opened.location());
        assert!(!shown.contains(password), "{shown}");
    }
}
