//! The mint ledger's lifecycle end to end: the `invitoken` binary against the fake CodeSignal
//! (a real GraphQL server on 127.0.0.1 that records every request), each test with its own fake
//! and its own ledger file.
//!
//! What is checked is what CodeSignal would see (the fake's record of requests and sessions) and
//! what the ledger says (`invitoken links`): a reschedule reuses and extends, `refresh` extends
//! what is due, `cancel` deletes exactly what it names, a cancelled `.ics` event deletes its own
//! session and nothing else, and no command ever prints the API key.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig, Fault, Op, Received};

const PANEL: &str = include_str!("../fixtures/panel.json");

/// The CLI's default `--grace-minutes`.
const GRACE: TimeDelta = TimeDelta::minutes(120);

/// CodeSignal's longest `expirationTime`: 336 hours.
const MAX_MS: i64 = 1_209_600_000;

/// The seven sessions of the panel: the interview's live link, and each event's live and
/// template links, as `key_name` writes them.
const PANEL_KEYS: [&str; 7] = [
    "-/live",
    "evt-1/live",
    "evt-1/template",
    "evt-2/live",
    "evt-2/template",
    "evt-3/live",
    "evt-3/template",
];

/// Now, cut to the minute: event times in whole seconds make `expires_at` exact.
fn minute() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now.rem_euclid(60), 0).unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a time: {v}: {e}"))
}

/// The panel fixture as interview `id`, its three events (one hour each) starting at `starts`.
fn panel(id: &str, starts: [DateTime<Utc>; 3]) -> Value {
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    r["interview"]["id"] = json!(id);
    for (e, start) in r["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(starts)
    {
        e["start"] = json!(start.to_rfc3339());
        e["end"] = json!((start + TimeDelta::hours(1)).to_rfc3339());
    }
    r
}

/// Event starts like the fixture's (09:00, 10:30, 13:00), from `base`.
fn day(base: DateTime<Utc>) -> [DateTime<Utc>; 3] {
    [
        base,
        base + TimeDelta::minutes(90),
        base + TimeDelta::hours(4),
    ]
}

/// A record's or link's key within its interview: `<event or ->/<product>`.
fn key_name(v: &Value) -> String {
    format!(
        "{}/{}",
        v["event_id"].as_str().unwrap_or("-"),
        v["product"].as_str().unwrap()
    )
}

/// A finished CLI run.
struct Run {
    args: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{}\nstderr: {}", self.args, self.stderr);
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}): {}", self.args, self.stdout))
    }

    /// `links` of a resolve's output, by key name.
    fn urls(&self) -> BTreeMap<String, String> {
        self.json()["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (key_name(l), l["url"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// The JSON outcomes of `cancel` or `refresh`, by key name (of one interview).
    fn outcomes(&self, interview: &str) -> BTreeMap<String, Value> {
        self.json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["interview_id"] == interview)
            .map(|o| (key_name(o), o.clone()))
            .collect()
    }

    fn lines(&self, prefix: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }
}

/// One test's world: a fake CodeSignal and a ledger file of its own.
struct Lab {
    fake: FakeCodeSignal,
    dir: tempfile::TempDir,
    ledger: PathBuf,
}

impl Lab {
    async fn new() -> Lab {
        let fake = FakeCodeSignal::start(FakeConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.sqlite3");
        Lab { fake, dir, ledger }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `invitoken ARGS` on this lab's ledger and fake, off the runtime's threads. With
    /// `offline`, no CodeSignal setting is in the environment. Whatever happens, the API key is
    /// in neither stdout nor stderr.
    async fn run_with(&self, args: &[&str], stdin: Option<String>, offline: bool) -> Run {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let ledger = self.ledger.clone();
        let endpoint = self.fake.endpoint();
        let key = self.fake.api_key().to_owned();
        let run = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::cargo_bin("invitoken").unwrap();
            cmd.args(&args)
                .env("INVITOKEN_LEDGER", &ledger)
                .env("NO_COLOR", "1")
                .env_remove("INVITOKEN_LEDGER_LEASE");
            if offline {
                cmd.env_remove("CODESIGNAL_ENDPOINT")
                    .env_remove("CODESIGNAL_API_KEY")
                    .env_remove("CODESIGNAL_TIMEOUT");
            } else {
                cmd.env("CODESIGNAL_ENDPOINT", endpoint)
                    .env("CODESIGNAL_API_KEY", &key)
                    .env("CODESIGNAL_TIMEOUT", "10");
            }
            if let Some(input) = stdin {
                cmd.write_stdin(input);
            }
            let out = cmd.output().unwrap();
            Run {
                args: format!("invitoken {}", args.join(" ")),
                code: out.status.code().expect("exited, not killed"),
                stdout: String::from_utf8(out.stdout).unwrap(),
                stderr: String::from_utf8(out.stderr).unwrap(),
            }
        })
        .await
        .unwrap();
        let key = self.fake.api_key();
        assert!(
            !run.stdout.contains(key) && !run.stderr.contains(key),
            "{} showed the API key:\n{}\n{}",
            run.args,
            run.stdout,
            run.stderr
        );
        run
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, false).await
    }

    async fn resolve(&self, request: &Value, flags: &[&str]) -> Run {
        let mut args = vec!["resolve", "-"];
        args.extend_from_slice(flags);
        self.run_with(&args, Some(request.to_string()), false).await
    }

    /// What `invitoken links --interview ID` says, by key name (of the CodeSignal vendor).
    async fn links(&self, interview: &str) -> BTreeMap<String, Value> {
        let run = self.run(&["links", "--interview", interview]).await.ok();
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["vendor"] == "codesignal")
            .map(|r| (key_name(r), r.clone()))
            .collect()
    }

    /// Requests the fake received from the `from`th on, of GraphQL field `field`.
    fn received(&self, from: usize, field: &str) -> Vec<Received> {
        self.fake.received()[from..]
            .iter()
            .filter(|r| r.field == field)
            .cloned()
            .collect()
    }

    fn mark(&self) -> usize {
        self.fake.received().len()
    }

    /// Asserts the fake received nothing since `mark`.
    fn assert_quiet_since(&self, mark: usize) {
        let received = self.fake.received();
        assert_eq!(
            received.len(),
            mark,
            "{:#?}",
            &received[mark.min(received.len())..]
        );
    }

    /// The `editLiveInterview` requests from the `from`th on: session id -> `expirationTime`.
    fn edits(&self, from: usize) -> BTreeMap<String, i64> {
        let edits = self.received(from, "editLiveInterview");
        let map: BTreeMap<String, i64> = edits
            .iter()
            .map(|r| {
                assert_eq!(r.status, 200, "{r:?}");
                let fields = &r.variables["fields"];
                assert_eq!(
                    fields.as_object().unwrap().len(),
                    1,
                    "an extension changes the expiry only: {r:?}"
                );
                (
                    r.variables["id"].as_str().unwrap().to_owned(),
                    fields["expirationTime"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(map.len(), edits.len(), "one edit per session: {edits:#?}");
        map
    }

    /// The ids of the sessions deleted (`deleteLiveInterview`) from the `from`th request on.
    fn deletes(&self, from: usize) -> Vec<String> {
        self.received(from, "deleteLiveInterview")
            .iter()
            .map(|r| {
                assert_eq!(r.status, 200, "{r:?}");
                r.variables["id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// The fake's status of session `id`.
    fn status(&self, id: &str) -> String {
        self.fake
            .sessions()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no session {id} at the fake"))
            .status
    }

    /// Sets columns of the ledger rows of `interview`, key name `key`, by hand (as if time had
    /// passed): `set` is an SQL assignment list using `$1` for `at`.
    async fn edit_ledger(&self, interview: &str, key: &str, set: &str, at: DateTime<Utc>) {
        let (event, product) = key.split_once('/').unwrap();
        let event = if event == "-" { "" } else { event };
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.ledger.display()))
            .await
            .unwrap();
        let done = sqlx::query(&format!(
            "UPDATE mint_records SET {set} WHERE interview_id = $2 AND event_id = $3 \
             AND product = $4 AND vendor = 'codesignal'"
        ))
        .bind(at)
        .bind(interview)
        .bind(event)
        .bind(product)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
        pool.close().await;
        assert_eq!(done, 1, "{interview} {key}");
    }
}

/// Checks that `ms`, sent between `before` and `after`, asks for a life until `until` (within
/// the second CodeSignal is given, and a little slack), and is one CodeSignal accepts.
fn assert_life(ms: i64, until: DateTime<Utc>, before: DateTime<Utc>, after: DateTime<Utc>) {
    assert!((3_600_000..=MAX_MS).contains(&ms), "{ms} ms");
    let longest = (until - before).num_milliseconds() + 1_000;
    let shortest = (until - after).num_milliseconds() - 1_000;
    assert!(
        (shortest..=longest).contains(&ms),
        "{ms} ms is not from now until {until} ({shortest}..={longest})"
    );
}

/// Ends of the panel's sessions by key name, for events starting at `starts`.
fn ends(starts: [DateTime<Utc>; 3]) -> BTreeMap<String, DateTime<Utc>> {
    let end = |i: usize| starts[i] + TimeDelta::hours(1);
    let mut m = BTreeMap::new();
    m.insert("-/live".to_owned(), (0..3).map(end).max().unwrap());
    for (i, e) in ["evt-1", "evt-2", "evt-3"].iter().enumerate() {
        m.insert(format!("{e}/live"), end(i));
        m.insert(format!("{e}/template"), end(i));
    }
    m
}

/// Session id by key name, from the ledger.
fn ids(links: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    links
        .iter()
        .map(|(k, r)| (k.clone(), r["session_id"].as_str().unwrap().to_owned()))
        .collect()
}

fn set<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    items.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reschedule_reuses_every_session_and_extends_exactly_those_that_need_it() {
    let lab = Lab::new().await;
    let base = minute() + TimeDelta::days(2);

    // First booked two days ahead: seven sessions, each living until its end plus the grace.
    let first = day(base);
    let minted = lab.resolve(&panel("int-42", first), &[]).await.ok();
    assert_eq!(lab.fake.creates(), 7);
    let urls = minted.urls();
    assert_eq!(set(urls.keys().map(String::as_str)), set(PANEL_KEYS));
    let ledger = lab.links("int-42").await;
    let id = ids(&ledger);
    for (key, end) in ends(first) {
        let r = &ledger[&key];
        assert_eq!(r["state"], "minted", "{key}");
        assert_eq!(time(&r["serves_until"]), end, "{key}");
        assert_eq!(time(&r["expires_at"]), end + GRACE, "{key}");
    }
    assert!(minted.lines("warning:").is_empty(), "{}", minted.stderr);

    // Every event three days later: the same URLs, no create, and every session (each one's new
    // end is past its recorded expiry) extended to its new end plus the grace.
    let moved = day(base + TimeDelta::days(3));
    let mark = lab.mark();
    let before = Utc::now();
    let run = lab.resolve(&panel("int-42", moved), &[]).await.ok();
    let after = Utc::now();
    assert_eq!(run.urls(), urls, "a reschedule keeps every link");
    assert!(lab.received(mark, "createLiveInterview").is_empty());
    assert_eq!(lab.fake.creates(), 7);
    let edits = lab.edits(mark);
    assert_eq!(set(edits.keys().cloned()), set(id.values().cloned()));
    let ledger = lab.links("int-42").await;
    for (key, end) in ends(moved) {
        assert_life(edits[&id[&key]], end + GRACE, before, after);
        let r = &ledger[&key];
        assert_eq!(time(&r["serves_until"]), end, "{key}");
        assert_eq!(time(&r["expires_at"]), end + GRACE, "{key}");
        // The fake holds what was asked.
        let session = lab
            .fake
            .sessions()
            .into_iter()
            .find(|s| s.id == id[&key])
            .unwrap();
        assert_eq!(session.expiration_time_ms, Some(edits[&id[&key]]));
        assert_eq!(session.status, "pending");
    }
    // The invites carry the same links.
    let invites = run.json()["invites"].as_array().unwrap().clone();
    assert_eq!(invites.len(), 5);
    assert!(
        invites
            .iter()
            .all(|i| i["body"].as_str().unwrap().contains(&urls["-/live"]))
    );

    // The same request again: nothing to do, not a single request.
    let mark = lab.mark();
    let again = lab.resolve(&panel("int-42", moved), &[]).await.ok();
    assert_eq!(again.urls(), urls);
    lab.assert_quiet_since(mark);

    // The last event moved twenty days ahead: exactly the sessions serving it (the interview's
    // link and evt-3's two) are extended, to the most CodeSignal allows, and resolve warns that
    // each of those three links expires before its event ends.
    let far = [moved[0], moved[1], base + TimeDelta::days(20)];
    let mark = lab.mark();
    let before = Utc::now();
    let run = lab.resolve(&panel("int-42", far), &[]).await.ok();
    let after = Utc::now();
    assert_eq!(run.urls(), urls);
    assert_eq!(lab.fake.creates(), 7);
    let edits = lab.edits(mark);
    let serving_evt3 = ["-/live", "evt-3/live", "evt-3/template"];
    assert_eq!(
        set(edits.keys().cloned()),
        set(serving_evt3.iter().map(|k| id[*k].clone()))
    );
    assert!(edits.values().all(|&ms| ms == MAX_MS), "{edits:?}");
    let warnings = run.lines("warning:");
    assert_eq!(warnings.len(), 3, "{}", run.stderr);
    for w in &warnings {
        assert!(
            w.contains("expires at") && w.contains("before its last event ends"),
            "{w}"
        );
        assert!(!w.contains("evt-1") && !w.contains("evt-2"), "{w}");
    }
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.contains("event `evt-3`"))
            .count(),
        2
    );
    let ledger = lab.links("int-42").await;
    for (key, end) in ends(far) {
        let r = &ledger[&key];
        assert_eq!(time(&r["serves_until"]), end, "{key}");
        let expires = time(&r["expires_at"]);
        if serving_evt3.contains(&key.as_str()) {
            assert!(expires < end, "{key}: clamped, so before the event ends");
            assert!(
                expires >= before - TimeDelta::seconds(1) + TimeDelta::hours(336)
                    && expires <= after + TimeDelta::hours(336),
                "{key}: {expires}"
            );
        } else {
            assert_eq!(expires, end + GRACE, "{key}");
        }
    }

    // Identical again: still no create and no edit (a clamped link cannot gain a minute yet),
    // and the warnings still stand.
    let mark = lab.mark();
    let again = lab.resolve(&panel("int-42", far), &[]).await.ok();
    assert_eq!(again.urls(), urls);
    lab.assert_quiet_since(mark);
    assert_eq!(again.lines("warning:").len(), 3, "{}", again.stderr);

    // evt-1 thirty minutes later, still inside its links' grace: its two links are extended to
    // keep the full grace after the new end; the interview's link (serving evt-3) is not.
    let nudged = [far[0] + TimeDelta::minutes(30), far[1], far[2]];
    let mark = lab.mark();
    let before = Utc::now();
    lab.resolve(&panel("int-42", nudged), &[]).await.ok();
    let after = Utc::now();
    let edits = lab.edits(mark);
    assert_eq!(
        set(edits.keys().cloned()),
        set([id["evt-1/live"].clone(), id["evt-1/template"].clone()])
    );
    let new_end = nudged[0] + TimeDelta::hours(1);
    for ms in edits.values() {
        assert_life(*ms, new_end + GRACE, before, after);
    }
    let ledger = lab.links("int-42").await;
    assert_eq!(time(&ledger["evt-1/live"]["expires_at"]), new_end + GRACE);

    // evt-2 an hour earlier: its links live long enough already; no request. What a link serves
    // only grows (a batch of some events, or an earlier time, must not cut a link short), so
    // the ledger keeps the later end and the expiry.
    let earlier = [nudged[0], nudged[1] - TimeDelta::hours(1), nudged[2]];
    let expiry = time(&ledger["evt-2/live"]["expires_at"]);
    let mark = lab.mark();
    let run = lab.resolve(&panel("int-42", earlier), &[]).await.ok();
    assert_eq!(run.urls(), urls);
    lab.assert_quiet_since(mark);
    let ledger = lab.links("int-42").await;
    assert_eq!(
        time(&ledger["evt-2/live"]["serves_until"]),
        nudged[1] + TimeDelta::hours(1)
    );
    assert_eq!(time(&ledger["evt-2/live"]["expires_at"]), expiry);
    assert_eq!(lab.fake.creates(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_extends_what_is_due_and_nothing_else() {
    let lab = Lab::new().await;
    // Twenty days ahead: every link clamped to 336 hours. Two days ahead: every link covers
    // its events.
    let far = day(minute() + TimeDelta::days(20));
    let near = day(minute() + TimeDelta::days(2));
    let mut near_request = panel("int-near", near);
    near_request["interview"]["candidate"]["email"] = json!("alan@example.org");
    let far_run = lab.resolve(&panel("int-far", far), &[]).await.ok();
    assert_eq!(far_run.lines("warning:").len(), 7, "{}", far_run.stderr);
    lab.resolve(&near_request, &[]).await.ok();
    assert_eq!(lab.fake.creates(), 14);
    assert!(
        lab.fake
            .sessions()
            .iter()
            .filter(|s| s.candidate_email.as_deref() == Some("ada@example.org"))
            .all(|s| s.expiration_time_ms == Some(MAX_MS))
    );
    let far_ids = ids(&lab.links("int-far").await);
    let near_ids = ids(&lab.links("int-near").await);

    // Right after minting nothing can gain a minute: every session is up to date, no request.
    let mark = lab.mark();
    let run = lab.run(&["refresh"]).await.ok();
    assert_eq!(lab.mark(), mark, "{:#?}", lab.fake.received());
    let all = run.json();
    assert_eq!(all.as_array().unwrap().len(), 14);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|o| o["action"] == "up_to_date"),
        "{all:#}"
    );
    // The far ones say they still expire before their events end.
    assert_eq!(run.lines("note:").len(), 7, "{}", run.stderr);

    // As if minted days ago: two far links expire tomorrow, one near link in half an hour;
    // one near link's last event is over (not upcoming, so not refreshed).
    let now = Utc::now();
    let tomorrow = now + TimeDelta::days(1);
    lab.edit_ledger("int-far", "evt-1/live", "expires_at = $1", tomorrow)
        .await;
    lab.edit_ledger("int-far", "evt-2/template", "expires_at = $1", tomorrow)
        .await;
    lab.edit_ledger(
        "int-near",
        "evt-3/live",
        "expires_at = $1",
        now + TimeDelta::minutes(30),
    )
    .await;
    lab.edit_ledger(
        "int-near",
        "evt-2/template",
        "serves_until = $1",
        now - TimeDelta::hours(1),
    )
    .await;

    let mark = lab.mark();
    let before = Utc::now();
    let run = lab.run(&["refresh"]).await.ok();
    let after = Utc::now();
    let far_out = run.outcomes("int-far");
    let near_out = run.outcomes("int-near");
    assert_eq!(far_out.len(), 7);
    assert_eq!(
        near_out.len(),
        6,
        "a link whose last event is over is left alone"
    );
    assert!(!near_out.contains_key("evt-2/template"));
    let mut extended = BTreeSet::new();
    for (interview, outcomes) in [("int-far", &far_out), ("int-near", &near_out)] {
        for (key, o) in outcomes {
            match o["action"].as_str().unwrap() {
                "extended" => {
                    extended.insert((interview, key.as_str()));
                }
                "up_to_date" => {}
                other => panic!("{interview} {key}: {other}: {o}"),
            }
        }
    }
    assert_eq!(
        extended,
        set([
            ("int-far", "evt-1/live"),
            ("int-far", "evt-2/template"),
            ("int-near", "evt-3/live")
        ])
    );
    let edits = lab.edits(mark);
    assert_eq!(
        set(edits.keys().cloned()),
        set([
            far_ids["evt-1/live"].clone(),
            far_ids["evt-2/template"].clone(),
            near_ids["evt-3/live"].clone()
        ])
    );
    // Far: as long as CodeSignal allows, still short of the event; near: to its end plus grace.
    assert_eq!(edits[&far_ids["evt-1/live"]], MAX_MS);
    assert_eq!(edits[&far_ids["evt-2/template"]], MAX_MS);
    let near_end = ends(near)["evt-3/live"];
    assert_life(
        edits[&near_ids["evt-3/live"]],
        near_end + GRACE,
        before,
        after,
    );
    assert_eq!(
        time(&near_out["evt-3/live"]["expires_at"]),
        near_end + GRACE
    );
    for key in ["evt-1/live", "evt-2/template"] {
        let o = &far_out[key];
        assert_eq!(o["session_id"], far_ids[key].as_str());
        let at = time(&o["expires_at"]);
        assert!(
            at >= before - TimeDelta::seconds(1) + TimeDelta::hours(336)
                && at <= after + TimeDelta::hours(336),
            "{key}: {at}"
        );
    }
    // The ledger holds what refresh printed.
    let ledger = lab.links("int-near").await;
    assert_eq!(time(&ledger["evt-3/live"]["expires_at"]), near_end + GRACE);

    // Again: nothing gains a minute, so no edit at all.
    let mark = lab.mark();
    let run = lab.run(&["refresh"]).await.ok();
    assert!(lab.edits(mark).is_empty(), "{:#?}", lab.fake.received());
    assert!(
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["action"] == "up_to_date")
    );

    // An edit CodeSignal refuses: that session fails (exit 3, said on stderr), the others are
    // still reported, and the ledger keeps the old expiry; the next refresh extends it.
    lab.edit_ledger("int-far", "evt-3/live", "expires_at = $1", tomorrow)
        .await;
    lab.fake.push_fault(Op::Edit, Fault::AccessDenied);
    let run = lab.run(&["refresh"]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    let failed = &run.outcomes("int-far")["evt-3/live"];
    assert_eq!(failed["action"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("LiveInterview permission"),
        "{failed}"
    );
    assert!(run.stderr.contains("1 failed"), "{}", run.stderr);
    let kept = time(&lab.links("int-far").await["evt-3/live"]["expires_at"]);
    assert!(
        (kept - tomorrow).abs() < TimeDelta::milliseconds(1),
        "{kept}"
    );
    let mark = lab.mark();
    let run = lab.run(&["refresh"]).await.ok();
    assert_eq!(run.outcomes("int-far")["evt-3/live"]["action"], "extended");
    assert_eq!(
        lab.edits(mark),
        BTreeMap::from([(far_ids["evt-3/live"].clone(), MAX_MS)])
    );
    assert_eq!(lab.fake.creates(), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_deletes_exactly_what_it_names_and_resolve_will_not_bring_it_back_unasked() {
    let lab = Lab::new().await;
    let request = panel("int-42", day(minute() + TimeDelta::days(2)));
    let urls = lab.resolve(&request, &[]).await.ok().urls();
    let id = ids(&lab.links("int-42").await);

    // One event: its two sessions are deleted, nothing else.
    let mark = lab.mark();
    let run = lab
        .run(&["cancel", "--interview", "int-42", "--event", "evt-2"])
        .await
        .ok();
    let out = run.outcomes("int-42");
    assert_eq!(
        set(out.keys().map(String::as_str)),
        set(["evt-2/live", "evt-2/template"])
    );
    for (key, o) in &out {
        assert_eq!(o["action"], "deleted", "{o}");
        assert_eq!(o["session_id"], id[key].as_str());
        assert_eq!(o["url"], urls[key].as_str());
    }
    assert!(run.stderr.contains("2 deleted"), "{}", run.stderr);
    assert_eq!(
        set(lab.deletes(mark)),
        set([id["evt-2/live"].clone(), id["evt-2/template"].clone()])
    );
    for (key, session) in &id {
        let want = if key.starts_with("evt-2/") {
            "deleted"
        } else {
            "pending"
        };
        assert_eq!(lab.status(session), want, "{key}");
    }
    let ledger = lab.links("int-42").await;
    for (key, r) in &ledger {
        let want = if key.starts_with("evt-2/") {
            "deleted"
        } else {
            "minted"
        };
        assert_eq!(r["state"], want, "{key}");
    }

    // Again: already deleted, and CodeSignal is not asked again.
    let mark = lab.mark();
    let run = lab
        .run(&["cancel", "--interview", "int-42", "--event", "evt-2"])
        .await
        .ok();
    assert!(
        run.outcomes("int-42")
            .values()
            .all(|o| o["action"] == "already_deleted")
    );
    assert_eq!(run.outcomes("int-42").len(), 2);
    assert_eq!(lab.mark(), mark, "{:#?}", lab.fake.received());

    // Resolving the request now fails closed: exit 3, nothing on stdout, no create, and the
    // message says the session was deleted and how to mint anew.
    let mark = lab.mark();
    let run = lab.resolve(&request, &[]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("deleted") && run.stderr.contains("--remint-deleted"),
        "{}",
        run.stderr
    );
    assert!(lab.received(mark, "createLiveInterview").is_empty());

    // Asked explicitly: new sessions for the two deleted keys only; every other link stays.
    let mark = lab.mark();
    let run = lab.resolve(&request, &["--remint-deleted"]).await.ok();
    assert_eq!(lab.received(mark, "createLiveInterview").len(), 2);
    assert_eq!(lab.fake.creates(), 9);
    let reminted = run.urls();
    for key in PANEL_KEYS {
        if key.starts_with("evt-2/") {
            assert_ne!(reminted[key], urls[key], "{key} gets a new session");
        } else {
            assert_eq!(reminted[key], urls[key], "{key} keeps its session");
        }
    }
    let ledger = lab.links("int-42").await;
    let new_id = ids(&ledger);
    for key in ["evt-2/live", "evt-2/template"] {
        assert_ne!(new_id[key], id[key]);
        assert_eq!(ledger[key]["state"], "minted");
        assert_eq!(ledger[key]["attempts"], 2);
        assert_eq!(ledger[key]["url"], reminted[key].as_str());
        assert_eq!(lab.status(&new_id[key]), "pending");
        assert_eq!(lab.status(&id[key]), "deleted", "the old one stays deleted");
    }

    // The sandbox's sessions of the same interview, in the same ledger: cancelling them is
    // offline and touches neither CodeSignal nor its records.
    lab.run_with(
        &["resolve", "-", "--sandbox"],
        Some(request.to_string()),
        true,
    )
    .await
    .ok();
    let mark = lab.mark();
    let run = lab
        .run_with(
            &["cancel", "--sandbox", "--interview", "int-42"],
            None,
            true,
        )
        .await
        .ok();
    let sandbox = run.json();
    let sandbox = sandbox.as_array().unwrap();
    assert_eq!(sandbox.len(), 7);
    assert!(
        sandbox
            .iter()
            .all(|o| o["vendor"] == "sandbox" && o["action"] == "deleted"),
        "{sandbox:#?}"
    );
    assert_eq!(lab.mark(), mark, "the sandbox cancel sent nothing");
    assert!(
        lab.links("int-42")
            .await
            .values()
            .all(|r| r["state"] == "minted")
    );

    // The whole interview: the rest is deleted, the interview's own link included.
    let mark = lab.mark();
    let run = lab.run(&["cancel", "--interview", "int-42"]).await.ok();
    let out = run.outcomes("int-42");
    assert_eq!(set(out.keys().map(String::as_str)), set(PANEL_KEYS));
    assert!(out.values().all(|o| o["vendor"] == "codesignal"));
    assert!(out.values().all(|o| o["action"] == "deleted"), "{out:#?}");
    assert_eq!(set(lab.deletes(mark)), set(new_id.values().cloned()));
    assert!(lab.fake.sessions().iter().all(|s| s.status == "deleted"));
    assert!(
        lab.links("int-42")
            .await
            .values()
            .all(|r| r["state"] == "deleted")
    );
    // Deleted sessions are not refreshed.
    let run = lab.run(&["refresh"]).await.ok();
    assert_eq!(run.json(), json!([]));

    let mark = lab.mark();
    let run = lab.resolve(&request, &[]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("--remint-deleted"), "{}", run.stderr);
    assert!(lab.received(mark, "createLiveInterview").is_empty());

    // Unknown interview, or unknown event: exit 1, naming the ledger; nothing sent.
    let ledger_path = lab.ledger.display().to_string();
    for args in [
        &["cancel", "--interview", "int-nope"][..],
        &["cancel", "--interview", "int-42", "--event", "evt-9"][..],
    ] {
        let mark = lab.mark();
        let run = lab.run(args).await;
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains(&ledger_path), "{}", run.stderr);
        assert!(run.stderr.contains(args[2]), "{}", run.stderr);
        assert_eq!(lab.mark(), mark);
    }
    assert_eq!(lab.fake.creates(), 9);
}

/// One event of interview `interview` as an `.ics`, with both link tokens in its description.
fn event_ics(
    uid: &str,
    interview: &str,
    start: DateTime<Utc>,
    method: &str,
    status: Option<&str>,
) -> String {
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let status = status.map_or(String::new(), |s| format!("STATUS:{s}\r\nSEQUENCE:1\r\n"));
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//invitoken//lifecycle test//EN\r\n\
         METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n\
         DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Panel session {uid}\r\nX-INTERVIEW-ID:{interview}\r\n\
         X-CANDIDATE;CN=Ada Lovelace:mailto:ada@example.org\r\n{status}\
         DESCRIPTION:Your room: $Event.CodeSignal.Live.Link\\nThe panel's pad: \
         $Interview.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        fmt(start),
        fmt(start + TimeDelta::hours(1)),
    )
}

fn write(path: &Path, text: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

/// A written `.ics`, its folded lines unfolded.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("\r\n ", "")
}

/// The ledger's record of an `.ics` key: `<uid or ->/live`.
fn ics_key(uid: Option<&str>) -> String {
    format!("{}/live", uid.unwrap_or("-"))
}

/// The report's entry of the input whose path ends with `name`.
fn file_entry<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

/// The three events of the `.ics` tests, each in a file of its own under `in/`: `a`, `b`, `c`
/// (two hours apart from `base`), all of interview `int-ics`.
const UIDS: [&str; 3] = ["a@lifecycle.test", "b@lifecycle.test", "c@lifecycle.test"];

fn starts_from(base: DateTime<Utc>) -> [DateTime<Utc>; 3] {
    [base, base + TimeDelta::hours(2), base + TimeDelta::hours(4)]
}

impl Lab {
    /// Writes the three live events' files; their paths.
    fn live_events(&self, base: DateTime<Utc>) -> Vec<String> {
        UIDS.iter()
            .zip(starts_from(base))
            .map(|(uid, start)| {
                write(
                    &self.path(&format!("in/{}.ics", &uid[..1])),
                    &event_ics(uid, "int-ics", start, "REQUEST", None),
                )
            })
            .collect()
    }

    /// `invitoken batch INPUTS --out <name> --report <name>.json`, successful: the run, its
    /// report and the output folder.
    async fn batch(&self, inputs: &[&str], name: &str) -> (Run, Value, PathBuf) {
        let out = self.path(name);
        let report = self.path(&format!("{name}.json"));
        let mut args = vec!["batch"];
        args.extend_from_slice(inputs);
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(["--report", report.to_str().unwrap()]);
        let run = self.run(&args).await.ok();
        let report = serde_json::from_str(&read(&report)).unwrap();
        (run, report, out)
    }
}

/// The key names of a report's `cancelled`.
fn cancelled_keys(report: &Value) -> BTreeSet<String> {
    report["cancelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["interview_id"], "int-ics", "{k}");
            key_name(k)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_ics_event_deletes_its_own_session_and_keeps_the_panels() {
    let lab = Lab::new().await;
    let base = minute() + TimeDelta::days(3);
    let [a, b, c] = UIDS;
    let starts = starts_from(base);
    let live = lab.live_events(base);
    let live: Vec<&str> = live.iter().map(String::as_str).collect();

    // The three events: one session each, and one for the panel.
    let (_, report, out1) = lab.batch(&live, "out1").await;
    assert_eq!(lab.fake.creates(), 4);
    assert_eq!(cancelled_keys(&report), set([]));
    let ledger = lab.links("int-ics").await;
    assert_eq!(
        set(ledger.keys().cloned()),
        set([
            ics_key(None),
            ics_key(Some(a)),
            ics_key(Some(b)),
            ics_key(Some(c))
        ])
    );
    let id = ids(&ledger);
    let url = |k: &str| ledger[k]["url"].as_str().unwrap().to_owned();
    let panel_url = url(&ics_key(None));
    let b_url = url(&ics_key(Some(b)));
    let b_out = read(&out1.join("b.ics"));
    assert!(
        b_out.contains(&b_url) && b_out.contains(&panel_url),
        "{b_out}"
    );

    // b is cancelled (STATUS:CANCELLED on its VEVENT); a and c go through again beside it.
    let cancelled = write(
        &lab.path("cancel/b-cancelled.ics"),
        &event_ics(b, "int-ics", starts[1], "REQUEST", Some("CANCELLED")),
    );
    let mark = lab.mark();
    let (run, report, out2) = lab.batch(&[live[0], live[2], &cancelled], "out2").await;
    assert!(lab.received(mark, "createLiveInterview").is_empty());
    assert!(lab.edits(mark).is_empty());
    assert_eq!(lab.deletes(mark), [id[&ics_key(Some(b))].clone()]);
    assert_eq!(lab.status(&id[&ics_key(Some(b))]), "deleted");
    for k in [ics_key(None), ics_key(Some(a)), ics_key(Some(c))] {
        assert_eq!(lab.status(&id[&k]), "pending", "{k} is still in use");
    }
    assert!(
        run.stderr.contains("1 deleted for cancelled events"),
        "{}",
        run.stderr
    );
    assert_eq!(cancelled_keys(&report), set([ics_key(Some(b))]));
    let cancellations = report["cancellations"].as_array().unwrap();
    assert_eq!(cancellations.len(), 1, "{report:#}");
    assert_eq!(key_name(&cancellations[0]), ics_key(Some(b)));
    assert_eq!(cancellations[0]["action"], "deleted");
    assert_eq!(
        cancellations[0]["session_id"],
        id[&ics_key(Some(b))].as_str()
    );
    // The cancelled copy: its own token is removed (no raw token, no link to the deleted room);
    // the panel's token still gets the panel's link, which lives on.
    let written = read(&out2.join("b-cancelled.ics"));
    assert!(!written.contains('$'), "{written}");
    assert!(!written.contains(&b_url), "{written}");
    assert!(written.contains(&panel_url), "{written}");
    assert!(written.contains("STATUS:CANCELLED\r\n"), "{written}");
    assert!(
        written.contains("DESCRIPTION:Your room: \\nThe panel"),
        "{written}"
    );
    let entry = file_entry(&report, "b-cancelled.ics");
    assert_eq!(entry["status"], "rewritten");
    let links: BTreeMap<String, Value> = entry["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (key_name(l), l["url"].clone()))
        .collect();
    assert_eq!(links[&ics_key(Some(b))], Value::Null);
    assert_eq!(links[&ics_key(None)], panel_url.as_str());
    assert_eq!(read(&out2.join("a.ics")), read(&out1.join("a.ics")));
    let ledger = lab.links("int-ics").await;
    assert_eq!(ledger[&ics_key(Some(b))]["state"], "deleted");
    assert_eq!(ledger[&ics_key(None)]["state"], "minted");

    // The same batch again: b's session is already deleted; CodeSignal is not asked again.
    let mark = lab.mark();
    let (_, report, _) = lab.batch(&[live[0], live[2], &cancelled], "out2b").await;
    assert!(lab.deletes(mark).is_empty());
    assert!(lab.received(mark, "createLiveInterview").is_empty());
    assert_eq!(report["cancellations"][0]["action"], "already_deleted");

    // c cancelled by a METHOD:CANCEL calendar, beside a live a and a cancelled d that never had
    // a session: c's session is deleted; for d nothing is deleted and nothing minted.
    let d = "d@lifecycle.test";
    let c_cancel = write(
        &lab.path("cancel3/c-cancel.ics"),
        &event_ics(c, "int-ics", starts[2], "CANCEL", None),
    );
    let d_start = base + TimeDelta::hours(6);
    let d_cancel = write(
        &lab.path("cancel3/d-cancel.ics"),
        &event_ics(d, "int-ics", d_start, "REQUEST", Some("CANCELLED")),
    );
    let mark = lab.mark();
    let (_, report, out3) = lab.batch(&[live[0], &c_cancel, &d_cancel], "out3").await;
    assert_eq!(lab.deletes(mark), [id[&ics_key(Some(c))].clone()]);
    assert!(lab.received(mark, "createLiveInterview").is_empty());
    assert_eq!(lab.fake.creates(), 4);
    assert_eq!(
        cancelled_keys(&report),
        set([ics_key(Some(c)), ics_key(Some(d))])
    );
    let cancellations = report["cancellations"].as_array().unwrap();
    assert_eq!(cancellations.len(), 1, "d had no session: {report:#}");
    assert_eq!(key_name(&cancellations[0]), ics_key(Some(c)));
    assert_eq!(cancellations[0]["action"], "deleted");
    let c_url = url(&ics_key(Some(c)));
    for name in ["c-cancel.ics", "d-cancel.ics"] {
        let written = read(&out3.join(name));
        assert!(!written.contains('$'), "{written}");
        assert!(!written.contains(&c_url), "{written}");
        assert!(written.contains(&panel_url), "{written}");
    }
    let ledger = lab.links("int-ics").await;
    assert!(!ledger.contains_key(&ics_key(Some(d))), "no record for d");
    assert_eq!(ledger[&ics_key(Some(c))]["state"], "deleted");
    assert_eq!(ledger[&ics_key(Some(a))]["state"], "minted");
    assert_eq!(ledger[&ics_key(None)]["state"], "minted");
    assert_eq!(lab.status(&id[&ics_key(None)]), "pending");
    assert_eq!(lab.status(&id[&ics_key(Some(a))]), "pending");
}

/// A batch holding only one event's cancellation deletes that event's session, never the
/// panel's link, which the interview's other events (resolved in an earlier batch) still show:
/// re-sending one of those events still works. (Was a bug: the interview key counted as
/// cancelled when no live event of the same batch used it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_batched_alone_keeps_the_panel_link() {
    let lab = Lab::new().await;
    let base = minute() + TimeDelta::days(3);
    let live = lab.live_events(base);
    let live: Vec<&str> = live.iter().map(String::as_str).collect();
    lab.batch(&live, "out1").await;
    let id = ids(&lab.links("int-ics").await);
    let cancelled = write(
        &lab.path("cancel/b-cancelled.ics"),
        &event_ics(UIDS[1], "int-ics", starts_from(base)[1], "CANCEL", None),
    );
    let mark = lab.mark();
    let run = lab
        .run(&[
            "batch",
            &cancelled,
            "--out",
            lab.path("out2").to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(lab.deletes(mark), [id[&ics_key(Some(UIDS[1]))].clone()]);
    assert_eq!(lab.status(&id[&ics_key(None)]), "pending");
    // a is sent again (say, a new time zone): it still has its links.
    let run = lab
        .run(&[
            "batch",
            live[0],
            "--out",
            lab.path("out3").to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Re-sending only the first event of a panel does not shorten what the ledger says the panel
/// link serves, so `refresh` extends it to the last event's end. (Was a bug: a batch's
/// `serves_until`, the last end among its own events, was recorded as a reschedule.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_some_events_keeps_what_the_panel_link_serves() {
    let lab = Lab::new().await;
    // a ten days ahead, c sixteen: the panel link is clamped to 336 hours.
    let base = minute() + TimeDelta::days(10);
    let [a, _, c] = UIDS;
    let a_start = base;
    let c_start = base + TimeDelta::days(6);
    let a_file = write(
        &lab.path("in/a.ics"),
        &event_ics(a, "int-ics", a_start, "REQUEST", None),
    );
    let c_file = write(
        &lab.path("in/c.ics"),
        &event_ics(c, "int-ics", c_start, "REQUEST", None),
    );
    lab.batch(&[&a_file, &c_file], "out1").await;
    let c_end = c_start + TimeDelta::hours(1);
    let panel = &lab.links("int-ics").await[&ics_key(None)];
    assert_eq!(time(&panel["serves_until"]), c_end);

    // a alone, re-sent.
    lab.batch(&[&a_file], "out2").await;
    let panel = &lab.links("int-ics").await[&ics_key(None)];
    assert_eq!(
        time(&panel["serves_until"]),
        c_end,
        "c still uses the panel link"
    );

    // Days later the link is due: refresh extends it as far as it can (c is still > 14 days
    // ahead when this runs), not to a's end.
    lab.edit_ledger(
        "int-ics",
        "-/live",
        "expires_at = $1",
        Utc::now() + TimeDelta::days(1),
    )
    .await;
    let mark = lab.mark();
    lab.run(&["refresh"]).await.ok();
    let edits = lab.edits(mark);
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits.values().next(), Some(&MAX_MS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_shows_every_key_of_an_interview_and_never_a_secret() {
    let lab = Lab::new().await;
    let request = panel("int-42", day(minute() + TimeDelta::days(2)));
    let urls = lab.resolve(&request, &[]).await.ok().urls();
    lab.resolve(&panel("int-7", day(minute() + TimeDelta::days(4))), &[])
        .await
        .ok();
    // A third interview whose first create CodeSignal refuses: recorded as failed, with why.
    let mut refused = panel("int-9", day(minute() + TimeDelta::days(5)));
    refused["templates"] =
        json!({"candidate": {"subject": "s", "body": "$Interview.CodeSignal.Live.Link"}});
    lab.fake.push_fault(Op::Create, Fault::AccessDenied);
    let run = lab.resolve(&refused, &[]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(lab.fake.creates(), 14);

    let run = lab.run(&["links", "--interview", "int-42"]).await.ok();
    let records = run.json();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 7);
    let sessions = lab.fake.sessions();
    let mut seen = BTreeSet::new();
    for r in records {
        let key = key_name(r);
        for field in [
            "tenant",
            "vendor",
            "scope",
            "interview_id",
            "event_id",
            "product",
            "template_id",
            "state",
            "url",
            "session_id",
            "expires_at",
            "serves_until",
            "attempts",
            "last_error",
            "created_at",
            "updated_at",
        ] {
            assert!(r.get(field).is_some(), "{key} has no {field}: {r}");
        }
        assert_eq!(r["interview_id"], "int-42");
        assert_eq!(r["vendor"], "codesignal");
        assert_eq!(r["state"], "minted");
        assert_eq!(r["attempts"], 1);
        assert_eq!(r["last_error"], Value::Null);
        assert_eq!(r["url"], urls[&key].as_str());
        let session = sessions
            .iter()
            .find(|s| Some(s.id.as_str()) == r["session_id"].as_str())
            .unwrap_or_else(|| panic!("{key}: no such session at the fake: {r}"));
        assert_eq!(session.url, urls[&key]);
        assert!(time(&r["expires_at"]) > Utc::now());
        seen.insert(key);
    }
    assert_eq!(seen, set(PANEL_KEYS.map(String::from)));

    // Without --interview: every interview, the refused one as failed with its reason.
    let run = lab
        .run_with(
            &["links", "--ledger", lab.ledger.to_str().unwrap()],
            None,
            true,
        )
        .await
        .ok();
    let all = run.json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 15);
    let failed = all
        .iter()
        .find(|r| r["interview_id"] == "int-9")
        .expect("the refused mint is recorded");
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["url"], Value::Null);
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("LiveInterview permission"),
        "{failed}"
    );

    // The key is nowhere in the ledger either.
    let key = lab.fake.api_key().as_bytes();
    for suffix in ["", "-wal"] {
        let path = PathBuf::from(format!("{}{suffix}", lab.ledger.display()));
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(key.len()).any(|w| w == key),
                "{} holds the API key",
                path.display()
            );
        }
    }
}
