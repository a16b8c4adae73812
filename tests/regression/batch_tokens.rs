//! Regressions: batch_tokens. `invitoken batch` left tokens raw where it does not resolve them,
//! read `$$` differently line by line (so a second batch minted what the first wrote), wrote
//! empty values into cancelled events, disagreed with `check`, and cut a quoted `CN` at its `;`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use crate::support;
use crate::support::fake_codesignal::{FakeCodeSignal, FakeConfig};

const LINK: &str = "$Event.CodeSignal.Live.Link";

/// A valid calendar (VERSION, PRODID, DTSTAMP: independent parsers read it) with one VEVENT:
/// `body` starts at line 9. `head` goes on the calendar, after PRODID (line 4 on).
fn calendar(head: &str, body: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//invitoken regression//EN\r\n{head}\
         BEGIN:VEVENT\r\nUID:evt-1@example.com\r\nDTSTAMP:20270101T000000Z\r\n\
         DTSTART:20270302T080000Z\r\nDTEND:20270302T090000Z\r\n{body}END:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

fn event(body: &str) -> String {
    calendar("", body)
}

struct Run {
    code: i32,
    stderr: String,
}

fn run(args: &[&str], endpoint: Option<(&str, &str)>) -> Run {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.args(args)
        .env_remove("INVITOKEN_LEDGER")
        .env_remove("CODESIGNAL_API_KEY")
        .env_remove("CODESIGNAL_ENDPOINT")
        .env("NO_COLOR", "1");
    if let Some((endpoint, key)) = endpoint {
        cmd.env("CODESIGNAL_ENDPOINT", endpoint)
            .env("CODESIGNAL_API_KEY", key)
            .env("CODESIGNAL_TIMEOUT", "10");
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed"),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `batch INPUT --out OUT --sandbox --report REPORT` on a fresh ledger.
fn batch(input: &Path, out: &Path, report: &Path) -> Run {
    let ledger = support::scratch::fresh_ledger();
    run(
        &[
            "batch",
            s(input),
            "--out",
            s(out),
            "--sandbox",
            "--ledger",
            s(&ledger),
            "--report",
            s(report),
        ],
        None,
    )
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The `(file name, line, col)` of every `error: PATH:LINE:COL: ...` line.
fn located_errors(stderr: &str) -> BTreeSet<(String, usize, usize)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("error: ")?;
            let (path, rest) = rest.split_once(".ics:")?;
            let mut parts = rest.splitn(3, ':');
            let line = parts.next()?.parse().ok()?;
            let col = parts.next()?.parse().ok()?;
            let name = Path::new(&format!("{path}.ics"))
                .file_name()?
                .to_string_lossy()
                .into_owned();
            Some((name, line, col))
        })
        .collect()
}

/// Copies an `.ics` the tests made into `INVITOKEN_ICS_OUT`, when set, for CI's parsers.
fn emit(test: &str, path: &Path) {
    let Some(dir) = std::env::var_os("INVITOKEN_ICS_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    std::fs::copy(path, dir.join(format!("regression-{test}-{name}"))).unwrap();
}

/// A test file: its name, its content, and the `line:col` of every problem in it.
type Case = (&'static str, String, Vec<(usize, usize)>);

/// Files with a token where batch resolves none.
fn misplaced_tokens() -> Vec<Case> {
    vec![
        (
            "altrep.ics",
            event(&format!("DESCRIPTION;ALTREP=\"{LINK}\":Join\r\n")),
            vec![(9, 21)],
        ),
        (
            "cn.ics",
            event("ATTENDEE;CN=$Candidate.Name:mailto:a@example.org\r\n"),
            vec![(9, 13)],
        ),
        (
            "x-prop.ics",
            event(&format!("X-MEETING-LINK:{LINK}\r\n")),
            vec![(9, 16)],
        ),
        (
            "x-prop-folded.ics",
            event("X-FOO:Join $Event.Code\r\n Signal.Live.Link\r\n"),
            vec![(9, 12)],
        ),
        (
            "attach.ics",
            event(&format!("ATTACH:{LINK}\r\n")),
            vec![(9, 8)],
        ),
        (
            "categories.ics",
            event("CATEGORIES:Interview,$Event.Topic\r\n"),
            vec![(9, 22)],
        ),
        (
            "candidate-param.ics",
            event(&format!(
                "X-CANDIDATE;CN=\"$Candidate.Name\":mailto:a@example.org\r\nDESCRIPTION:{LINK}\r\n"
            )),
            vec![(9, 17)],
        ),
        (
            "vtodo.ics",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//invitoken regression//EN\r\n\
             X-WR-CALDESC:Interviews $Interview.CodeSignal.Live.Link\r\n\
             X-INTERVIEW-ID:int-1\r\nBEGIN:VTODO\r\nUID:todo-1@example.com\r\n\
             DTSTAMP:20270101T000000Z\r\nSUMMARY:Prepare $Interview.CodeSignal.Live.Link\r\n\
             BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\n\
             DESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VALARM\r\nEND:VTODO\r\n\
             END:VCALENDAR\r\n"
                .into(),
            vec![(4, 25), (9, 17), (13, 13)],
        ),
    ]
}

#[test]
fn tokens_batch_does_not_resolve_were_left_raw_and_the_file_reported_fine() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let mut expected = BTreeSet::new();
    for (name, content, at) in misplaced_tokens() {
        write(&input, name, &content);
        expected.extend(at.into_iter().map(|(l, c)| (name.to_string(), l, c)));
    }
    let (out, report) = (dir.path().join("out"), dir.path().join("report.json"));
    let run = batch(&input, &out, &report);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(located_errors(&run.stderr), expected, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("batch resolves tokens only in the values of SUMMARY"),
        "{}",
        run.stderr
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for file in report["files"].as_array().unwrap() {
        assert_eq!(file["status"], "failed", "{file:#}");
    }
    let written: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "written: {written:?}");
}

#[test]
fn check_passed_ics_that_batch_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let mut names = BTreeSet::new();
    let mut add = |name: &'static str, content: String| {
        write(&input, name, &content);
        names.insert(name.to_string());
    };
    for (name, content, _) in misplaced_tokens() {
        add(name, content);
    }
    add(
        "fold-split-typo.ics",
        event("DESCRIPTION:Join $Event.CodeSig\r\n nl.Live.Link\r\n"),
    );
    add(
        "context-token.ics",
        event("SUMMARY:Interview with $Candidate.Name\r\n"),
    );
    add(
        "cn-line-break.ics",
        event(&format!(
            "X-CANDIDATE;CN=\"Ada^nBcc: x\":mailto:a@example.org\r\nDESCRIPTION:{LINK}\r\n"
        )),
    );
    add(
        "no-uid.ics",
        event(&format!("DESCRIPTION:{LINK}\r\n")).replace("UID:evt-1@example.com\r\n", ""),
    );
    add("good.ics", event(&format!("DESCRIPTION:Join {LINK}\r\n")));
    add(
        "escape-and-price.ics",
        event("DESCRIPTION:$$Event.CodeSignal.Live.Link costs $5\r\n"),
    );
    // Two copies of one event naming different interviews: a batch-wide problem.
    add(
        "copy-a.ics",
        event(&format!(
            "UID:shared\r\nX-INTERVIEW-ID:a\r\nDESCRIPTION:{LINK}\r\n"
        ))
        .replace("UID:evt-1@example.com\r\n", ""),
    );
    add(
        "copy-b.ics",
        event(&format!(
            "UID:shared\r\nX-INTERVIEW-ID:b\r\nDESCRIPTION:{LINK}\r\n"
        ))
        .replace("UID:evt-1@example.com\r\n", ""),
    );
    let files: Vec<PathBuf> = names.iter().map(|n| input.join(n)).collect();
    let mut args = vec!["check"];
    args.extend(files.iter().map(|p| s(p)));
    let check = run(&args, None);
    let (out, report) = (dir.path().join("out"), dir.path().join("report.json"));
    let batch = batch(&input, &out, &report);
    assert_eq!(
        (check.code, batch.code),
        (1, 1),
        "{}\n{}",
        check.stderr,
        batch.stderr
    );
    let (checked, batched) = (located_errors(&check.stderr), located_errors(&batch.stderr));
    assert_eq!(
        checked, batched,
        "check:\n{}\nbatch:\n{}",
        check.stderr, batch.stderr
    );
    // Every file batch failed, and only those, has a problem in check.
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let failed: BTreeSet<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "failed")
        .map(|f| {
            let path = PathBuf::from(f["path"].as_str().unwrap());
            path.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    let flagged: BTreeSet<String> = checked.iter().map(|(n, _, _)| n.clone()).collect();
    assert_eq!(failed, flagged);
    assert_eq!(
        names.difference(&failed).collect::<Vec<_>>(),
        ["escape-and-price.ics", "good.ics"]
    );
    assert!(
        checked.contains(&("fold-split-typo.ics".into(), 9, 18)),
        "{checked:?}"
    );
    for name in ["escape-and-price.ics", "good.ics"] {
        emit("check_agrees", &out.join(name));
    }
    // The files batch writes pass check on their own, too.
    let good = run(&["check", s(&input.join("good.ics"))], None);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(good.stderr.contains("1 token(s)"), "{}", good.stderr);
}

#[test]
fn dollar_escape_differed_by_line_and_a_second_batch_minted_the_literal() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let original = event(&format!(
        "SUMMARY:Write ${LINK} in the template\r\n\
         DESCRIPTION:Join {LINK} (the template said ${LINK}\\, $$$Candidate.Name)\r\n\
         LOCATION:$$Interview.CodeSignal.Live.Link\r\n"
    ));
    write(&input, "invite.ics", &original);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let r1 = batch(&input, &first, &dir.path().join("r1.json"));
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let once = std::fs::read_to_string(first.join("invite.ics")).unwrap();
    let unfolded = once.replace("\r\n ", "");
    assert!(!unfolded.contains(&format!("Join {LINK}")), "{once}");
    assert!(
        unfolded.contains(&format!("SUMMARY:Write ${LINK} in the template\r\n")),
        "{once}"
    );
    assert!(
        unfolded.contains(&format!("(the template said ${LINK}\\, $$$Candidate.Name)")),
        "{once}"
    );
    assert!(unfolded.contains("LOCATION:$$Interview.CodeSignal.Live.Link\r\n"));
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r1.json")).unwrap()).unwrap();
    assert_eq!(report["minted"], 1);

    // Over its own output, on a fresh ledger: nothing to mint, nothing to change.
    let r2 = batch(&first, &second, &dir.path().join("r2.json"));
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r2.json")).unwrap()).unwrap();
    assert_eq!(report["minted"], 0, "{report:#}");
    assert_eq!(report["files"][0]["status"], "unchanged", "{report:#}");
    assert_eq!(report["files"][0]["tokens"], 0, "{report:#}");
    assert_eq!(
        std::fs::read(second.join("invite.ics")).unwrap(),
        once.as_bytes()
    );
    emit("idempotent", &first.join("invite.ics"));
}

#[test]
fn cancelled_event_kept_empty_location_url_and_conference() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write(
        &input,
        "cancelled.ics",
        &calendar(
            "METHOD:CANCEL\r\n",
            &format!(
                "STATUS:CANCELLED\r\nSEQUENCE:1\r\nLOCATION:{LINK}\r\nURL:{LINK}\r\n\
                 CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Join:\r\n {LINK}\r\n\
                 COMMENT: {LINK} \\n\r\nDESCRIPTION:Cancelled. The link was {LINK}\r\n\
                 BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:{LINK}\r\n\
                 END:VALARM\r\n"
            ),
        ),
    );
    let out = dir.path().join("out");
    let r = batch(&input, &out, &dir.path().join("r.json"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let written = std::fs::read_to_string(out.join("cancelled.ics")).unwrap();
    let expected = calendar(
        "METHOD:CANCEL\r\n",
        "STATUS:CANCELLED\r\nSEQUENCE:1\r\nDESCRIPTION:Cancelled. The link was \r\n",
    );
    assert_eq!(written, expected);
    emit("cancelled", &out.join("cancelled.ics"));
}

#[test]
fn second_uid_status_interview_or_candidate_in_an_event_was_taken_silently() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // Line 9 on. A reader that takes the first STATUS sees a cancelled event whose link batch
    // mints anyway (it took the last); one that takes the first UID files it under another key.
    write(
        &input,
        "twice.ics",
        &event(&format!(
            "STATUS:CANCELLED\r\nSTATUS:CONFIRMED\r\nUID:evt-2@example.com\r\n\
             X-INTERVIEW-ID:int-1\r\nX-INTERVIEW-ID:int-2\r\n\
             X-CANDIDATE;CN=Ada:mailto:ada@example.org\r\n\
             X-CANDIDATE;CN=Eve:mailto:eve@example.org\r\nDESCRIPTION:{LINK}\r\n\
             BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:{LINK}\r\n\
             STATUS:X\r\nEND:VALARM\r\n"
        )),
    );
    let expected = BTreeSet::from([
        ("twice.ics".to_string(), 10, 1),
        ("twice.ics".to_string(), 11, 1),
        ("twice.ics".to_string(), 13, 1),
        ("twice.ics".to_string(), 15, 1),
    ]);
    let out = dir.path().join("out");
    let r = batch(&input, &out, &dir.path().join("r.json"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(located_errors(&r.stderr), expected, "{}", r.stderr);
    assert!(r.stderr.contains("keep one"), "{}", r.stderr);
    assert!(!out.join("twice.ics").exists());
    // `check` reads it as batch does.
    let r = run(&["check", s(&input.join("twice.ics"))], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(located_errors(&r.stderr), expected, "{}", r.stderr);
}

#[test]
fn calendar_level_link_of_a_cancel_calendar_was_minted_into_the_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let head = "METHOD:CANCEL\r\nX-INTERVIEW-ID:int-9\r\n\
                X-WR-CALNAME:Interview\r\nDESCRIPTION:$Interview.CodeSignal.Live.Link\r\n";
    write(
        &input,
        "cancel.ics",
        &calendar(head, "STATUS:CANCELLED\r\nSUMMARY:Interview\r\n"),
    );
    let out = dir.path().join("out");
    let report = dir.path().join("r.json");
    let r = batch(&input, &out, &report);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["minted"], 0, "{report:#}");
    let written = std::fs::read_to_string(out.join("cancel.ics")).unwrap();
    assert_eq!(
        written,
        calendar(
            "METHOD:CANCEL\r\nX-INTERVIEW-ID:int-9\r\nX-WR-CALNAME:Interview\r\n",
            "STATUS:CANCELLED\r\nSUMMARY:Interview\r\n"
        )
    );
    emit("cancel-calendar", &out.join("cancel.ics"));
    // A live copy of the interview in the same batch mints the link, and the cancellation
    // gets it, as a cancelled event's token does.
    write(
        &input,
        "live.ics",
        &calendar(
            "X-INTERVIEW-ID:int-9\r\n",
            "SUMMARY:$Interview.CodeSignal.Live.Link\r\n",
        ),
    );
    let report = dir.path().join("r2.json");
    let r = batch(&input, &dir.path().join("out2"), &report);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["minted"], 1, "{report:#}");
    let written = std::fs::read_to_string(dir.path().join("out2/cancel.ics")).unwrap();
    assert!(written.contains("DESCRIPTION:https://"), "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_candidate_name_was_cut_at_its_semicolon_and_escapes_kept() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write(
        &input,
        "candidate.ics",
        &event(&format!(
            "X-CANDIDATE;ROLE=REQ-PARTICIPANT;CN=\"Lovelace, Ada; ^'the\r\n  Countess^' ^^1\";\r\n \
             RSVP=TRUE:MAILTO:ada@example.org\r\nDESCRIPTION:{LINK}\r\n"
        )),
    );
    write(
        &input,
        "injected.ics",
        &event(&format!(
            "UID:evt-2@example.com\r\nX-CANDIDATE;CN=\"Ada^nBcc: evil@example.com\":mailto:a@example.org\r\n\
             DESCRIPTION:{LINK}\r\n"
        ))
        .replace("UID:evt-1@example.com\r\n", ""),
    );
    let (endpoint, key) = (fake.endpoint(), fake.api_key().to_owned());
    let ledger = support::scratch::fresh_ledger();
    let out = dir.path().join("out");
    let args: Vec<String> = ["batch", s(&input), "--out", s(&out), "--ledger", s(&ledger)]
        .map(String::from)
        .to_vec();
    let r = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, Some((&endpoint, &key)))
    })
    .await
    .unwrap();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        located_errors(&r.stderr),
        BTreeSet::from([("injected.ics".to_string(), 9, 1)]),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("U+000A"), "{}", r.stderr);
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        sessions[0].candidate_name.as_deref(),
        Some("Lovelace, Ada; \"the Countess\" ^1")
    );
    assert_eq!(
        sessions[0].candidate_email.as_deref(),
        Some("ada@example.org")
    );
    assert!(!out.join("injected.ics").exists());
    emit("candidate", &out.join("candidate.ics"));
}

#[test]
fn check_read_an_ics_on_stdin_or_named_txt_as_a_plain_template() {
    // Context tokens are fine in a template, but batch refuses them; a token in a parameter is
    // invisible to a template check of the value, but left raw by batch.
    let ics = event(&format!(
        "SUMMARY:With $Candidate.Name\r\nDESCRIPTION;ALTREP=\"{LINK}\":Join\r\n"
    ));
    let out = Command::cargo_bin("invitoken")
        .unwrap()
        .args(["check", "-"])
        .env("NO_COLOR", "1")
        .write_stdin(ics.clone())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: <stdin>:9:14: "), "{stderr}");
    assert!(stderr.contains("error: <stdin>:10:21: "), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "invite.txt", &ics);
    let check = run(&["check", s(&txt)], None);
    let ledger = support::scratch::fresh_ledger();
    let out = dir.path().join("out");
    let args = [
        "batch",
        s(&txt),
        "--out",
        s(&out),
        "--sandbox",
        "--ledger",
        s(&ledger),
    ];
    let batch = run(&args, None);
    assert_eq!(
        (check.code, batch.code),
        (1, 1),
        "{}\n{}",
        check.stderr,
        batch.stderr
    );
    let located = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("error: {}:", s(&txt))))
            .map(|l| l.split(": ").next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        located(&check.stderr),
        ["9:14", "10:21"],
        "{}",
        check.stderr
    );
    assert_eq!(located(&batch.stderr), located(&check.stderr));
}

/// A vendor whose URLs hold a token shape: written into an `.ics`, the URL would be a token
/// that the next batch over the file mints or refuses.
struct TokenInUrl;

impl invitoken::Minter for TokenInUrl {
    async fn mint(
        &self,
        _: &invitoken::PlannedMint,
    ) -> Result<invitoken::Minted, invitoken::MintError> {
        Ok(invitoken::Minted {
            url: "https://live.example.com/$Event.CodeSignal.Live.Link".into(),
            short_url: None,
            expires_at: None,
            session_id: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minted_url_holding_a_token_would_make_batch_mint_it_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "invite.ics",
        &event(&format!("DESCRIPTION:Join {LINK}\r\n")),
    );
    let out = dir.path().join("out");
    let inputs = invitoken::batch::discover(&[input]).unwrap().inputs;
    let result = invitoken::batch::run(
        inputs,
        &invitoken::batch::Destination::Dir(out.clone()),
        &Default::default(),
        invitoken::DEFAULT_MAX_FILE_SIZE,
        &TokenInUrl,
        1,
        &|| {},
    )
    .await;
    let err = result.expect_err("a link holding a token is refused");
    assert!(
        matches!(err, invitoken::batch::BatchError::TokenInLink { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no file was written"), "{err}");
    assert!(!out.exists(), "something was written");
}

#[test]
fn token_hidden_by_quoted_printable_escapes_was_copied_as_unchanged() {
    // `=24` is `$` to a reader that decodes vCalendar 1.0 quoted-printable, and the file holds no
    // literal `$`: batch took the token-free fast path, reported "unchanged" and exit 0. Also a
    // fullwidth dollar written as its escaped UTF-8 bytes, and a lower-case parameter.
    let dir = tempfile::tempdir().unwrap();
    for (name, line) in [
        (
            "dollar.ics",
            "DESCRIPTION;ENCODING=QUOTED-PRINTABLE:Join =24Event.CodeSignal.Live.Link\r\n",
        ),
        (
            "fullwidth.ics",
            "DESCRIPTION;encoding=quoted-printable:Join =EF=BC=84Event.CodeSignal.Live.Link\r\n",
        ),
        (
            "other.ics",
            "X-NOTE;ENCODING=QUOTED-PRINTABLE:=24Interview.CodeSignal.Live.Link\r\n",
        ),
    ] {
        let input = write(dir.path(), name, &event(line));
        let out = dir.path().join(format!("out-{name}"));
        let r = batch(&input, &out, &dir.path().join(format!("{name}.json")));
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains("quoted-printable"),
            "{name}: {}",
            r.stderr
        );
        assert!(
            located_errors(&r.stderr).contains(&(name.to_owned(), 9, 1)),
            "{name}: {}",
            r.stderr
        );
        assert!(!out.exists(), "{name}: a file was written");
        // check reads it as batch does.
        let r = run(&["check", s(&input)], None);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains("quoted-printable"),
            "{name}: {}",
            r.stderr
        );
    }
    // `=24` in a value that is not quoted-printable is text, and `=3D` decodes to no token.
    for (name, line) in [
        ("plain.ics", "DESCRIPTION:price =24 and more\r\n"),
        (
            "harmless.ics",
            "DESCRIPTION;ENCODING=QUOTED-PRINTABLE:a =3D b\r\n",
        ),
    ] {
        let input = write(dir.path(), name, &event(line));
        let out = dir.path().join(format!("out-{name}"));
        let r = batch(&input, &out, &dir.path().join(format!("{name}.json")));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
}
