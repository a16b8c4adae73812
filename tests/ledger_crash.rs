//! Whole `invitoken` processes crashing and racing on one durable mint ledger, against the fake
//! CodeSignal server (a real GraphQL server on 127.0.0.1) — no mocks:
//!
//! * a `batch` killed with SIGKILL at several points (between the first create reaching the fake
//!   and its record, mid-batch, between the last-but-one create and its record, while writing
//!   files), then run again to completion: the dead run's intents are reconciled once their
//!   lease (2 s) has run out, adopted from CodeSignal's look-up or minted if never created; a
//!   third run changes nothing and calls CodeSignal not once;
//! * four `resolve` processes at once on one request and one SQLite ledger;
//! * the four processes and one killed batch on the PostgreSQL server of
//!   `INVITOKEN_POSTGRES_URL`, each in a fresh database (created, then dropped); these two are
//!   `#[ignore]`d (run them with `cargo test -- --ignored`, where an unset variable fails).
//!
//! Every verdict comes from the fake's own record: one session per planned key, per candidate
//! exactly the sessions the candidate's interview needs, and every URL written a session of the
//! fake.
#![cfg(unix)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use futures::FutureExt;
use invitoken::State;
use serde_json::{Value, json};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig, Fault, Op, Session};

const BIN: &str = env!("CARGO_BIN_EXE_invitoken");

/// What the fake adds to every request: enough for a batch to take seconds, and for a kill to
/// land while creates are in flight.
const LATENCY: Duration = Duration::from_millis(200);

/// The lease the CLI holds intents with (`INVITOKEN_LEDGER_LEASE`), in seconds.
const LEASE_SECS: u64 = 2;

/// How long the fake holds back the reply of the create a [`KillAt::HeldReply`] kill follows:
/// under the client's time limit (5 s), far over the time the kill takes to land.
const HELD: Duration = Duration::from_secs(1);

/// A generous bound on any one CLI run here.
const RUN_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The batch's input: 12 interviews, one calendar per candidate, some interviewers' copies.

struct Interview {
    id: String,
    name: String,
    email: String,
    /// The UIDs of its events (2 or 3).
    events: Vec<String>,
    /// Whether an interviewer's copy of its first event is in the batch too.
    interviewer_copy: bool,
}

impl Interview {
    /// The sessions it needs: its own live link and one per event.
    fn sessions(&self) -> usize {
        1 + self.events.len()
    }
}

fn interviews() -> Vec<Interview> {
    (1..=12)
        .map(|n: usize| Interview {
            id: format!("int-{n:02}"),
            name: format!("Name {n}"),
            email: format!("cand-{n}@example.org"),
            events: (1..=2 + n % 2)
                .map(|i| format!("int-{n:02}-evt-{i}@crash.example"))
                .collect(),
            interviewer_copy: n.is_multiple_of(3),
        })
        .collect()
}

fn planned(interviews: &[Interview]) -> usize {
    interviews.iter().map(Interview::sessions).sum()
}

/// `line` folded at 75 octets (ASCII only here), with CRLF after each piece. Folds may fall
/// inside a token: the rewriter unfolds at the byte level.
fn fold(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut at = 0;
    let mut width = 75;
    while at < bytes.len() {
        let end = (at + width).min(bytes.len());
        if at > 0 {
            out.push(' ');
        }
        out.push_str(&line[at..end]);
        out.push_str("\r\n");
        at = end;
        width = 74;
    }
    out
}

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The VEVENT of event `i` of `iv`: the candidate's (both links) or an interviewer's (the
/// event's link only).
fn vevent(iv: &Interview, i: usize, n: usize, interviewer: bool) -> String {
    // A few days ahead: well inside CodeSignal's 336 hours, so no clamp or warning.
    let start = Utc::now()
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc()
        + TimeDelta::days(3)
        + TimeDelta::hours(n as i64 % 6)
        + TimeDelta::minutes(90 * i as i64);
    let mut lines = vec![
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", iv.events[i]),
        "DTSTAMP:20260101T000000Z".to_owned(),
        format!("DTSTART:{}", stamp(start)),
        format!("DTEND:{}", stamp(start + TimeDelta::hours(1))),
        format!("SUMMARY:{} with {}: round {}", iv.id, iv.name, i + 1),
        format!("X-INTERVIEW-ID:{}", iv.id),
        format!("X-CANDIDATE;CN={}:mailto:{}", iv.name, iv.email),
    ];
    if interviewer {
        lines.push("LOCATION:$Event.CodeSignal.Live.Link".to_owned());
        lines.push("DESCRIPTION:Your session: $Event.CodeSignal.Live.Link".to_owned());
    } else {
        lines.push(
            "DESCRIPTION:Panel room: $Interview.CodeSignal.Live.Link\\nYour session: \
             $Event.CodeSignal.Live.Link"
                .to_owned(),
        );
    }
    lines.push("END:VEVENT".to_owned());
    lines.iter().map(|l| fold(l)).collect()
}

fn vcalendar(events: &[String]) -> String {
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//invitoken//crash test//EN",
        "METHOD:REQUEST",
    ] {
        out.push_str(&fold(l));
    }
    for e in events {
        out.push_str(e);
    }
    out.push_str(&fold("END:VCALENDAR"));
    out
}

/// Writes the batch's input under `dir`: `candidates/int-NN.ics` (every event) and
/// `interviewers/int-NN-evt-1.ics` (a copy of the first event) for every third interview.
/// Returns the relative paths written.
fn write_inputs(dir: &Path, interviews: &[Interview]) -> Vec<PathBuf> {
    let mut written = Vec::new();
    for (n, iv) in interviews.iter().enumerate() {
        let events: Vec<String> = (0..iv.events.len())
            .map(|i| vevent(iv, i, n, false))
            .collect();
        let rel = PathBuf::from(format!("candidates/{}.ics", iv.id));
        written.push(rel.clone());
        std::fs::create_dir_all(dir.join("candidates")).unwrap();
        std::fs::write(dir.join(&rel), vcalendar(&events)).unwrap();
        if iv.interviewer_copy {
            let rel = PathBuf::from(format!("interviewers/{}-evt-1.ics", iv.id));
            written.push(rel.clone());
            std::fs::create_dir_all(dir.join("interviewers")).unwrap();
            std::fs::write(dir.join(&rel), vcalendar(&[vevent(iv, 0, n, true)])).unwrap();
        }
    }
    written
}

// ---------------------------------------------------------------------------------------------
// Running the CLI.

/// `invitoken` set up for `fake` and the ledger at `ledger` (a path or a PostgreSQL URL).
fn invitoken(fake: &FakeCodeSignal, ledger: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("CODESIGNAL_ENDPOINT", fake.endpoint())
        .env("CODESIGNAL_API_KEY", fake.api_key())
        .env("INVITOKEN_LEDGER", ledger)
        .env("INVITOKEN_LEDGER_LEASE", LEASE_SECS.to_string())
        // A killed create cannot land later than its reply was held back here.
        .env("INVITOKEN_SETTLE_AFTER", "1")
        .env("NO_COLOR", "1")
        .env("CODESIGNAL_TIMEOUT", "5")
        .env_remove("INVITOKEN_CORPUS");
    cmd
}

/// `batch IN --out OUT --report REPORT`, its output captured in files under `logs`.
fn batch_command(fake: &FakeCodeSignal, ledger: &str, w: &Work, run: &str) -> Command {
    let mut cmd = invitoken(fake, ledger);
    cmd.arg("batch")
        .arg(&w.input)
        .arg("--out")
        .arg(&w.out)
        .arg("--report")
        .arg(&w.report)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(w.logs.join(format!("{run}.stdout"))).unwrap())
        .stderr(std::fs::File::create(w.logs.join(format!("{run}.stderr"))).unwrap());
    cmd
}

fn log(w: &Work, run: &str) -> String {
    std::fs::read_to_string(w.logs.join(format!("{run}.stderr"))).unwrap_or_default()
}

/// Waits for `child` without blocking the runtime the fake serves on.
async fn wait(mut child: Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("an invitoken run took over {RUN_LIMIT:?}; killed");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading what came out.

/// The files under `dir`, recursively, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// Whether `path` is a temp file (tempfile's `.tmpXXXX`, or the writer's `.invitoken-*.tmp`).
fn is_temp(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.starts_with(".tmp") || name.starts_with(".invitoken-") || name.ends_with(".tmp")
}

/// What one written calendar says: per VEVENT its UID with the interview and event URLs it
/// shows.
#[derive(Debug)]
struct Written {
    events: Vec<WrittenEvent>,
}

#[derive(Debug)]
struct WrittenEvent {
    uid: String,
    interview: String,
    interview_url: Option<String>,
    event_url: String,
}

/// Checks that `bytes` is a whole calendar as the batch writes it (CRLF lines of at most 75
/// octets, BEGIN/END balanced, no token left) and reads its links. `name` is for messages.
fn read_written(name: &str, bytes: &[u8]) -> Written {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{name}: not UTF-8: {e}"));
    assert!(text.ends_with("\r\n"), "{name}: cut short: {text:?}");
    for (i, line) in text.split_inclusive('\n').enumerate() {
        assert!(
            line.ends_with("\r\n"),
            "{name}:{}: not CRLF: {line:?}",
            i + 1
        );
        assert!(
            line.len() - 2 <= 75,
            "{name}:{}: longer than 75 octets: {line:?}",
            i + 1
        );
    }
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "");
    for token in ["$Interview", "$Event", "CodeSignal.Live.Link"] {
        assert!(!unfolded.contains(token), "{name}: `{token}` left: {text}");
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut events = Vec::new();
    let mut current: Option<BTreeMap<&str, &str>> = None;
    for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
        let (head, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: not a content line: {line:?}"));
        let prop = head.split(';').next().unwrap();
        match prop {
            "BEGIN" => {
                stack.push(value);
                if value == "VEVENT" {
                    current = Some(BTreeMap::new());
                }
            }
            "END" => {
                assert_eq!(stack.pop(), Some(value), "{name}: END:{value} unbalanced");
                if value == "VEVENT" {
                    let props = current.take().unwrap();
                    events.push(written_event(name, &props));
                }
            }
            _ => {
                if let Some(props) = current.as_mut() {
                    props.insert(prop, value);
                }
            }
        }
    }
    assert!(stack.is_empty(), "{name}: {stack:?} never closed");
    assert!(
        unfolded.starts_with("BEGIN:VCALENDAR\r\n") && unfolded.ends_with("END:VCALENDAR\r\n"),
        "{name}: not one VCALENDAR"
    );
    Written { events }
}

fn written_event(name: &str, props: &BTreeMap<&str, &str>) -> WrittenEvent {
    let get = |p: &str| -> &str {
        props
            .get(p)
            .unwrap_or_else(|| panic!("{name}: a VEVENT without {p}: {props:?}"))
    };
    let description = get("DESCRIPTION");
    let (interview_url, event_url) = if let Some(rest) = description.strip_prefix("Panel room: ") {
        let (interview, event) = rest
            .split_once("\\nYour session: ")
            .unwrap_or_else(|| panic!("{name}: DESCRIPTION rewritten wrongly: {description}"));
        (Some(interview.to_owned()), event.to_owned())
    } else {
        let event = description
            .strip_prefix("Your session: ")
            .unwrap_or_else(|| panic!("{name}: DESCRIPTION rewritten wrongly: {description}"));
        assert_eq!(
            get("LOCATION"),
            event,
            "{name}: LOCATION and DESCRIPTION differ"
        );
        (None, event.to_owned())
    };
    WrittenEvent {
        uid: get("UID").to_owned(),
        interview: get("X-INTERVIEW-ID").to_owned(),
        interview_url,
        event_url,
    }
}

/// Checks every `.ics` present under `out` (all of `expected` when `complete`) against the
/// fake's sessions; returns the URL of each key (interview id, or event UID) seen.
fn check_outputs(
    out: &Path,
    expected: &[PathBuf],
    interviews: &[Interview],
    sessions: &[Session],
    complete: bool,
) -> BTreeMap<String, String> {
    let present: Vec<PathBuf> = files_under(out)
        .into_iter()
        .filter(|p| !is_temp(p))
        .collect();
    if complete {
        let mut want = expected.to_vec();
        want.sort();
        assert_eq!(present, want, "the output holds exactly the inputs' files");
    } else {
        for p in &present {
            assert!(
                expected.contains(p),
                "{} is not an input's file",
                p.display()
            );
        }
    }
    let email_of: BTreeMap<&str, &str> = interviews
        .iter()
        .map(|iv| (iv.id.as_str(), iv.email.as_str()))
        .collect();
    let mut urls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut candidate_of_url: BTreeMap<String, String> = BTreeMap::new();
    for rel in &present {
        let name = rel.display().to_string();
        let written = read_written(&name, &std::fs::read(out.join(rel)).unwrap());
        let iv = interviews
            .iter()
            .find(|iv| name.contains(&iv.id))
            .unwrap_or_else(|| panic!("{name}: whose file is it?"));
        let want_events = if name.starts_with("interviewers") {
            1
        } else {
            iv.events.len()
        };
        assert_eq!(written.events.len(), want_events, "{name}: VEVENTs lost");
        for e in written.events {
            assert_eq!(e.interview, iv.id, "{name}");
            urls.entry(e.uid.clone())
                .or_default()
                .insert(e.event_url.clone());
            candidate_of_url.insert(e.event_url, iv.email.clone());
            if let Some(u) = e.interview_url {
                urls.entry(e.interview.clone())
                    .or_default()
                    .insert(u.clone());
                candidate_of_url.insert(u, iv.email.clone());
            }
        }
    }
    // One URL per key across every file, and never one URL for two keys.
    let mut by_key = BTreeMap::new();
    for (key, set) in urls {
        assert_eq!(set.len(), 1, "{key} shows several URLs: {set:?}");
        by_key.insert(key, set.into_iter().next().unwrap());
    }
    let distinct: BTreeSet<&String> = by_key.values().collect();
    assert_eq!(
        distinct.len(),
        by_key.len(),
        "two keys share a URL: {by_key:#?}"
    );
    // Each URL is a live session of the fake, made for that interview's candidate.
    for (url, email) in &candidate_of_url {
        let s = sessions
            .iter()
            .find(|s| &s.url == url)
            .unwrap_or_else(|| panic!("{url} is no session of the fake"));
        assert_eq!(s.candidate_email.as_deref(), Some(email.as_str()), "{url}");
        assert_eq!(s.status, "pending", "{url}");
        assert!(email_of.values().any(|e| e == email));
    }
    by_key
}

/// The fake's sessions per candidate email.
fn sessions_per_candidate(sessions: &[Session]) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for s in sessions {
        *per.entry(s.candidate_email.clone().unwrap_or_default())
            .or_default() += 1;
    }
    per
}

fn creates_received(fake: &FakeCodeSignal) -> usize {
    fake.received()
        .iter()
        .filter(|r| r.field == "createLiveInterview")
        .count()
}

/// Copies the `.ics` files written into `INVITOKEN_ICS_OUT`, when it is set, for CI's
/// independent reader (Python's icalendar).
fn emit(label: &str, out: &Path, files: &[PathBuf]) {
    let Some(dir) = std::env::var_os("INVITOKEN_ICS_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    for rel in files {
        let flat = rel.to_string_lossy().replace('/', "-");
        std::fs::copy(
            out.join(rel),
            dir.join(format!("ledger_crash-{prefix}-{flat}")),
        )
        .unwrap();
    }
}

/// What the ledger at `location` holds, read as another process would.
async fn ledger_records(location: &str) -> Vec<invitoken::MintRecord> {
    let ledger = invitoken::Ledger::open(location)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let records = ledger.list(None).await.unwrap();
    ledger.close().await;
    records
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL mid-batch, then a run to completion.

/// Where one crash scenario works.
struct Work {
    _dir: tempfile::TempDir,
    input: PathBuf,
    out: PathBuf,
    report: PathBuf,
    logs: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        Work {
            input,
            out: dir.path().join("out"),
            report: dir.path().join("report.json"),
            logs,
            _dir: dir,
        }
    }
}

/// When the first run is killed.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// As soon as the fake has made this many sessions: the last create has reached the fake,
    /// its reply may not have reached the process, nor its session the ledger.
    Creates(usize),
    /// About the `n`th create is executed by the fake but its reply held back ([`HELD`]), and
    /// the process is killed then: certainly between the create and its record.
    HeldReply(usize),
    /// As soon as the batch starts writing files (the output folder appears).
    Writing,
}

/// Runs the batch, kills it at `kill_at`, checks what it left, runs it to completion and checks
/// the result; a third run must change nothing. Returns how many of the dead run's intents had
/// a session made but not recorded (the kill fell between the two), `None` when the batch ended
/// before the kill could land (possible only for [`KillAt::Writing`]).
///
/// Temp files the dead run left are tolerated (and reported) if they are the writer's hidden
/// `.invitoken-*.tmp` ones; after the completing run none may remain (a batch removes those of
/// an interrupted run from the folders it writes to).
async fn crash_then_complete(ledger: &str, kill_at: KillAt, label: &str) -> Option<usize> {
    let interviews = interviews();
    let planned = planned(&interviews);
    let fake = FakeCodeSignal::start(FakeConfig {
        latency: LATENCY,
        ..FakeConfig::default()
    })
    .await;
    let w = Work::new();
    let expected = write_inputs(&w.input, &interviews);

    // The first run, killed.
    let mut child = batch_command(&fake, ledger, &w, "first").spawn().unwrap();
    let started = Instant::now();
    let mut held_since: Option<(usize, Instant)> = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            if matches!(kill_at, KillAt::Writing) && status.success() {
                eprintln!("{label}: the batch was done writing before the kill landed; skipped");
                return None;
            }
            panic!(
                "{label}: the batch ended ({status}) before the kill point {kill_at:?}, after \
                 {} creates; stderr:\n{}",
                fake.creates(),
                log(&w, "first")
            );
        }
        let now = match kill_at {
            KillAt::Creates(n) => fake.creates() >= n,
            KillAt::HeldReply(n) => match held_since {
                None => {
                    if fake.creates() + 1 >= n {
                        // The next create to reach the fake is made at once, answered late.
                        fake.push_fault(Op::Create, Fault::LoseReplyAfter(HELD));
                        held_since = Some((fake.creates(), Instant::now()));
                    }
                    false
                }
                // Taken, and so executed (the fake makes the session right after taking it);
                // a moment more for the session to be stored.
                Some((before, _)) if fake.pending_faults() == 0 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    assert!(fake.creates() > before);
                    true
                }
                Some((_, since)) => {
                    assert!(
                        since.elapsed() < RUN_LIMIT,
                        "{label}: the held reply was never taken"
                    );
                    false
                }
            },
            KillAt::Writing => w.out.exists(),
        };
        if now {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("{label}: the kill point {kill_at:?} never came");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    assert_eq!(
        status.signal(),
        Some(9),
        "{label}: killed by SIGKILL: {status}"
    );
    // A create sent just before the kill may still be served, and a held reply is recorded when
    // the fake is done with it: wait until the fake is quiet.
    let mut creates = fake.creates();
    loop {
        tokio::time::sleep(LATENCY * 2).await;
        let now = fake.creates();
        if now == creates && creates_received(&fake) >= creates {
            break;
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "{label}: the fake never settled"
        );
        creates = now;
    }
    assert!(
        creates <= planned,
        "{label}: {creates} creates for {planned} keys"
    );
    assert!(!w.report.exists(), "{label}: the dead run wrote its report");

    // What the dead run left: no output before the writing stage; whole files only.
    match kill_at {
        KillAt::Creates(_) | KillAt::HeldReply(_) => assert!(
            files_under(&w.out).is_empty(),
            "{label}: files written while minting: {:?}",
            files_under(&w.out)
        ),
        KillAt::Writing => {
            check_outputs(&w.out, &expected, &interviews, &fake.sessions(), false);
        }
    }
    let left: Vec<PathBuf> = files_under(&w.out)
        .into_iter()
        .filter(|p| is_temp(p))
        .collect();
    for p in &left {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with(".invitoken-") && name.ends_with(".tmp"),
            "{label}: {} is not the writer's temp file",
            p.display()
        );
    }
    if !left.is_empty() {
        eprintln!(
            "{label}: NOTE the dead run left {} temp file(s) under the output: {left:?}",
            left.len()
        );
    }

    // The ledger as the kill left it.
    let records = ledger_records(ledger).await;
    let known: BTreeSet<&str> = records.iter().filter_map(|r| r.url.as_deref()).collect();
    let sessions = fake.sessions();
    let pending: Vec<&invitoken::MintRecord> = records
        .iter()
        .filter(|r| r.state == State::Pending)
        .collect();
    let lost = pending
        .iter()
        .filter(|r| {
            sessions.iter().any(|s| {
                s.candidate_email.as_deref() == Some(r.candidate_email.as_str())
                    && !known.contains(s.url.as_str())
            })
        })
        .count();
    let minted = records.iter().filter(|r| r.state == State::Minted).count();
    assert_eq!(
        minted + lost,
        creates,
        "{label}: every session made is recorded, or pending with its intent: {records:#?}"
    );
    assert!(
        records
            .iter()
            .all(|r| matches!(r.state, State::Minted | State::Pending)),
        "{records:#?}"
    );
    let (pending, killed_after) = (pending.len(), started.elapsed());
    if let KillAt::HeldReply(_) = kill_at {
        assert!(
            lost >= 1,
            "{label}: the held create is not pending: {records:#?}"
        );
    }

    // The second run, to completion: the dead intents are reconciled after their lease.
    let second = batch_command(&fake, ledger, &w, "second").spawn().unwrap();
    let status = wait(second).await;
    let stderr = log(&w, "second");
    assert!(status.success(), "{label}: {status}\n{stderr}");
    assert!(!stderr.contains("warning"), "{label}: {stderr}");

    // The fake's record: one session per planned key, per candidate what its interview needs.
    let sessions = fake.sessions();
    assert_eq!(fake.creates(), planned, "{label}: {:#?}", fake.received());
    assert_eq!(sessions.len(), planned, "{label}");
    assert_eq!(
        creates_received(&fake),
        planned,
        "{label}: a create was sent twice"
    );
    let per = sessions_per_candidate(&sessions);
    let want: BTreeMap<String, usize> = interviews
        .iter()
        .map(|iv| (iv.email.clone(), iv.sessions()))
        .collect();
    assert_eq!(per, want, "{label}: sessions per candidate");

    // Every file written whole, each token a session of the fake, one URL per key.
    let by_key = check_outputs(&w.out, &expected, &interviews, &sessions, true);
    assert_eq!(by_key.len(), planned, "{label}: {by_key:#?}");
    // No temp file anywhere in the work folder (the report is written atomically too): not
    // even those the dead run left, which this run removed.
    let temps: Vec<PathBuf> = files_under(w.out.parent().unwrap())
        .into_iter()
        .filter(|p| is_temp(p))
        .collect();
    if !left.is_empty() {
        assert!(
            stderr.contains(&format!("removed {} temporary file(s)", left.len())),
            "{label}: the dead run's temp files were removed without a note"
        );
    }
    assert!(temps.is_empty(), "{label}: temp files remain: {temps:?}");
    let lookups = fake
        .received()
        .iter()
        .filter(|r| r.field == "liveInterviews")
        .count();
    let report: Value = serde_json::from_slice(&std::fs::read(&w.report).unwrap()).unwrap();
    assert_eq!(report["minted"], json!(planned), "{label}: {report:#}");
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), expected.len());
    assert!(
        files.iter().all(|f| f["status"] == "rewritten"),
        "{label}: {report:#}"
    );

    // The ledger knows each session, minted, under its key.
    let records = ledger_records(ledger).await;
    assert_eq!(records.len(), planned, "{label}: {records:#?}");
    assert!(
        records.iter().all(|r| r.state == State::Minted),
        "{records:#?}"
    );
    let recorded: BTreeSet<&str> = records.iter().filter_map(|r| r.url.as_deref()).collect();
    let made: BTreeSet<&str> = sessions.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(recorded, made, "{label}");

    // A third run changes nothing and asks CodeSignal nothing.
    let before: BTreeMap<PathBuf, Vec<u8>> = expected
        .iter()
        .map(|p| (p.clone(), std::fs::read(w.out.join(p)).unwrap()))
        .collect();
    let requests = fake.received().len();
    let status = wait(batch_command(&fake, ledger, &w, "third").spawn().unwrap()).await;
    let stderr = log(&w, "third");
    assert!(status.success(), "{label}: {status}\n{stderr}");
    assert!(!stderr.contains("warning"), "{label}: {stderr}");
    assert_eq!(
        fake.received().len(),
        requests,
        "{label}: a warm re-run called CodeSignal: {:#?}",
        &fake.received()[requests..]
    );
    emit(label, &w.out, &expected);
    for (p, bytes) in &before {
        assert_eq!(
            &std::fs::read(w.out.join(p)).unwrap(),
            bytes,
            "{}",
            p.display()
        );
    }
    eprintln!(
        "{label}: killed at {kill_at:?} after {killed_after:?}: {creates}/{planned} sessions \
         made; the ledger held {minted} minted and {pending} pending, {lost} of them with a \
         session made but not recorded; the next run looked up {lookups} time(s)"
    );
    Some(lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_killed_while_minting_completes_on_the_next_run_with_one_session_per_key() {
    let planned = planned(&interviews());
    let started = Instant::now();
    let mut lost = 0;
    for (i, kill_at) in [
        KillAt::HeldReply(1),
        KillAt::Creates(planned / 2),
        KillAt::HeldReply(planned - 1),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.sqlite3");
        let label = format!("sqlite #{i}");
        lost += crash_then_complete(ledger.to_str().unwrap(), kill_at, &label)
            .await
            .expect("a kill while minting always lands");
    }
    eprintln!(
        "sqlite: {lost} kill(s) fell between a create reaching the fake and its record; {:?} \
         in all",
        started.elapsed()
    );
}

/// Killed while writing: every file present is whole, and the next run completes, removing the
/// temp files the dead run left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_killed_while_writing_leaves_whole_files_and_completes_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    crash_then_complete(ledger.to_str().unwrap(), KillAt::Writing, "sqlite writing").await;
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Several processes resolving one request at once on one ledger.

/// The panel fixture, moved so that it starts `days` from now.
fn panel_in(days: i64) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/panel.json");
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let base = Utc::now() + TimeDelta::days(days);
    for (i, e) in r["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let start = base + TimeDelta::hours(i as i64 * 2);
        e["start"] = json!(start.to_rfc3339());
        e["end"] = json!((start + TimeDelta::hours(1)).to_rfc3339());
    }
    r
}

/// `processes` `invitoken resolve -` at once on `request`, all on the ledger at `ledger`.
async fn resolve_at_once(
    fake: &FakeCodeSignal,
    ledger: &str,
    request: &Value,
    processes: usize,
) -> Vec<Output> {
    let text = request.to_string();
    let children: Vec<Child> = (0..processes)
        .map(|_| {
            let mut child = invitoken(fake, ledger)
                .args(["resolve", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Small enough for the pipe's buffer; dropping the handle closes stdin.
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    })
    .await
    .unwrap()
}

/// Four processes at once on one request and the ledger at `ledger`: all succeed with the same
/// links and invites, and the fake makes exactly the planned sessions.
async fn four_processes_mint_once(ledger: &str, label: &str) {
    let fake = FakeCodeSignal::start(FakeConfig {
        latency: LATENCY,
        ..FakeConfig::default()
    })
    .await;
    let request = panel_in(3);
    let planned = invitoken::plan(&invitoken::Request::from_json(&request.to_string()).unwrap())
        .unwrap()
        .mints
        .len();
    let started = Instant::now();
    let outputs = resolve_at_once(&fake, ledger, &request, 4).await;
    let mut printed = Vec::new();
    for out in &outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{label}: {stderr}");
        assert!(!stderr.contains("warning"), "{label}: {stderr}");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let bodies: Vec<(Value, Value)> = json["invites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["subject"].clone(), i["body"].clone()))
            .collect();
        printed.push((json["links"].clone(), bodies));
    }
    for p in &printed[1..] {
        assert_eq!(
            p.0, printed[0].0,
            "{label}: every process prints the same links"
        );
        assert_eq!(p.1, printed[0].1, "{label}: and the same invites");
    }
    let links = printed[0].0.as_array().unwrap();
    assert_eq!(links.len(), planned, "{label}");
    assert_eq!(fake.creates(), planned, "{label}: {:#?}", fake.received());
    assert_eq!(creates_received(&fake), planned, "{label}");
    let sessions = fake.sessions();
    let made: BTreeSet<&str> = sessions.iter().map(|s| s.url.as_str()).collect();
    let shown: BTreeSet<&str> = links.iter().map(|l| l["url"].as_str().unwrap()).collect();
    assert_eq!(
        shown, made,
        "{label}: the links are the fake's sessions, each once"
    );
    let records = ledger_records(ledger).await;
    assert_eq!(records.len(), planned, "{label}");
    assert!(
        records.iter().all(|r| r.state == State::Minted),
        "{records:#?}"
    );
    eprintln!(
        "{label}: 4 processes, {planned} sessions, {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_one_sqlite_ledger_mint_each_session_once() {
    let dir = tempfile::tempdir().unwrap();
    // A file none of them has created yet: they race on creating it too.
    let ledger = dir.path().join("nested/ledger.sqlite3");
    four_processes_mint_once(ledger.to_str().unwrap(), "sqlite").await;
}

/// A fresh PostgreSQL database on the server of `INVITOKEN_POSTGRES_URL`, dropped after `body`
/// ran on its URL (also when it panics). The variable unset is a failure: the tests that call
/// this are ignored unless asked for, and asking for them without a server must not pass.
async fn with_fresh_postgres<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let base = match std::env::var("INVITOKEN_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "INVITOKEN_POSTGRES_URL is not set: this test needs a PostgreSQL server; run it as \
             INVITOKEN_POSTGRES_URL=postgres://... cargo test -- --ignored"
        ),
    };
    let name = format!(
        "invitoken_crash_{}_{:012x}",
        std::process::id(),
        fastrand::u64(..1 << 48)
    );
    let admin = sqlx::PgPool::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("INVITOKEN_POSTGRES_URL is set but unreachable: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    let outcome = std::panic::AssertUnwindSafe(body(url.to_string()))
        .catch_unwind()
        .await;
    let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    dropped.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn four_processes_on_one_postgres_ledger_mint_each_session_once() {
    with_fresh_postgres(|url| async move {
        four_processes_mint_once(&url, "postgres").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn a_batch_killed_while_minting_on_postgres_completes_on_the_next_run() {
    with_fresh_postgres(|url| async move {
        let planned = planned(&interviews());
        crash_then_complete(&url, KillAt::HeldReply(planned / 3), "postgres").await;
    })
    .await;
}
