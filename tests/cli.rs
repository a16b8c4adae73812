//! The command line as a pipeline sees it: exit codes, stdout JSON, diagnostics on stderr.

#[path = "support/scratch.rs"]
mod scratch;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};

const PANEL: &str = include_str!("../fixtures/panel.json");

fn invitoken() -> Command {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.env("INVITOKEN_LEDGER", scratch::fresh_ledger())
        .env_remove("CODESIGNAL_API_KEY")
        .env("NO_COLOR", "1");
    cmd
}

fn panel() -> Value {
    serde_json::from_str(PANEL).unwrap()
}

/// Runs `args` with `request` on stdin (as `-`) and returns (exit code, stdout, stderr).
fn run_stdin(args: &[&str], request: &Value) -> (i32, String, String) {
    let out = invitoken()
        .args(args)
        .arg("-")
        .write_stdin(request.to_string())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn resolve_panel() -> Value {
    let out = invitoken()
        .args(["resolve", "fixtures/panel.json", "--sandbox"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn resolve_mints_one_link_per_planned_session_and_uses_only_those() {
    let plan: Value = serde_json::from_slice(
        &invitoken()
            .args(["plan", "fixtures/panel.json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let out = resolve_panel();
    let mints = plan["mints"].as_array().unwrap();
    let links = out["links"].as_array().unwrap();
    // 1 interview link + 3 events x (live + template).
    assert_eq!(mints.len(), 7);
    assert_eq!(links.len(), mints.len());
    for (m, l) in mints.iter().zip(links) {
        for field in [
            "scope",
            "interview_id",
            "event_id",
            "product",
            "template_id",
        ] {
            assert_eq!(m[field], l[field], "{field}");
        }
    }
    let urls: Vec<&str> = links.iter().map(|l| l["url"].as_str().unwrap()).collect();
    let mut unique = urls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), urls.len(), "every session has its own URL");
    assert!(
        urls.iter()
            .all(|u| u.starts_with("https://sandbox.invitoken.invalid/"))
    );

    let invites = out["invites"].as_array().unwrap();
    // The candidate, then Grace (evt-1), Edsger and Barbara (evt-2), Ken (evt-3).
    let who: Vec<(&str, &str)> = invites
        .iter()
        .map(|i| {
            (
                i["role"].as_str().unwrap(),
                i["recipient"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("candidate", "ada@example.org"),
            ("interviewer", "grace@example.com"),
            ("interviewer", "edsger@example.com"),
            ("interviewer", "barbara@example.com"),
            ("interviewer", "ken@example.com"),
        ]
    );
    // Every occurrence counted by the plan shows up in the invites.
    let shown: usize = urls
        .iter()
        .map(|u| {
            invites
                .iter()
                .map(|i| {
                    let body = i["body"].as_str().unwrap();
                    // In html bodies a link stands in href and may also be the anchor text.
                    body.matches(&format!("href=\"{u}\"")).count()
                        + if i["format"] == "text" {
                            body.matches(u).count()
                        } else {
                            0
                        }
                        + body.matches(&format!("Shared pad: {u}")).count()
                })
                .sum::<usize>()
        })
        .sum();
    let planned: u64 = mints
        .iter()
        .map(|m| m["occurrences"].as_u64().unwrap())
        .sum();
    assert_eq!(shown as u64, planned);
}

#[test]
fn candidate_sees_every_event_link_with_its_start_in_their_zone() {
    let out = resolve_panel();
    let links = out["links"].as_array().unwrap();
    let link = |event: &str, product: &str| {
        links
            .iter()
            .find(|l| l["event_id"] == event && l["product"] == product)
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let candidate = &out["invites"][0];
    assert_eq!(candidate["event_id"], Value::Null);
    let body = candidate["body"].as_str().unwrap();
    // Europe/London in March is GMT.
    for line in [
        format!(
            "Tue 2 Mar 2027, 09:00 GMT, Algorithms: {}",
            link("evt-1", "live")
        ),
        format!(
            "Tue 2 Mar 2027, 10:30 GMT, Systems design & <APIs>: {}",
            link("evt-2", "live")
        ),
        format!(
            "Tue 2 Mar 2027, 13:00 GMT, Pairing: {}",
            link("evt-3", "live")
        ),
    ] {
        assert!(body.contains(&line), "{line}\n---\n{body}");
    }
    assert!(body.contains("write $Event.Topic to show a token literally"));
    assert!(body.contains("US$ 5 steps"));
    assert_eq!(
        candidate["subject"],
        "Your interview with us on Tue 2 Mar 2027, 09:00 GMT"
    );
}

#[test]
fn interviewer_html_is_escaped_and_in_their_zone() {
    let out = resolve_panel();
    let edsger = &out["invites"][2];
    assert_eq!(edsger["event_id"], "evt-2");
    let body = edsger["body"].as_str().unwrap();
    assert!(
        body.contains("<i>Systems design &amp; &lt;APIs&gt;</i>"),
        "{body}"
    );
    assert!(body.contains("Tue 2 Mar 2027, 11:30 CET to Tue 2 Mar 2027, 12:30 CET"));
    // Subjects are plain text: not escaped.
    assert_eq!(
        edsger["subject"],
        "Interview: Systems design & <APIs> with Ada Lovelace"
    );
    // Barbara has no time zone: UTC.
    let barbara = out["invites"][3]["body"].as_str().unwrap();
    assert!(barbara.contains("Tue 2 Mar 2027, 10:30 UTC"), "{barbara}");
}

#[test]
fn resolve_is_deterministic() {
    // Everything but each .ics's DTSTAMP (when it was made) is the same on every run.
    let without_stamps = |v: Value| {
        let text = v.to_string();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("DTSTAMP:") {
            out.push_str(&rest[..at]);
            rest = &rest[at + "DTSTAMP:20261125T090810Z".len()..];
        }
        out.push_str(rest);
        out
    };
    let first = without_stamps(resolve_panel());
    assert!(first.contains("sandbox.invitoken.invalid") && !first.contains("DTSTAMP"));
    assert_eq!(first, without_stamps(resolve_panel()));
}

#[test]
fn resolve_without_configuration_says_how_to_configure() {
    invitoken()
        .args(["resolve", "fixtures/panel.json"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("CODESIGNAL_API_KEY")
                .and(predicate::str::contains("--sandbox")),
        );
}

#[test]
fn unknown_tokens_in_a_request_fail_closed_with_every_finding() {
    let mut r = panel();
    r["templates"]["candidate"]["body"] = json!(
        "Hi $Candidate.FirstName,\njoin at $Interview.CodeSignal.Live.Lnk\nor $Interview.Zoom.Link"
    );
    r["templates"]["interviewer"]["subject"] = json!("$event.topic");
    let (code, stdout, stderr) = run_stdin(&["resolve", "--sandbox"], &r);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    for needle in [
        "<stdin>#/templates/candidate/body:2:9",
        "did you mean `$Interview.CodeSignal.Live.Link`?",
        "<stdin>#/templates/candidate/body:3:4",
        "Zoom",
        "<stdin>#/templates/interviewer/subject:1:1",
        "did you mean `$Event.Topic`?",
        "3 problem(s)",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in\n{stderr}");
    }
}

#[test]
fn event_values_in_the_candidates_invite_need_one_event() {
    let mut r = panel();
    r["templates"]["candidate"]["body"] = json!("Topic: $Event.Topic");
    let (code, stdout, stderr) = run_stdin(&["plan"], &r);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains("#/templates/candidate/body:1:8"),
        "{stderr}"
    );
    assert!(stderr.contains("covers 3 events"), "{stderr}");

    // One event: the candidate's invite has one value for it.
    let events = r["interview"]["events"].as_array_mut().unwrap();
    events.truncate(1);
    let (code, stdout, stderr) = run_stdin(&["resolve", "--sandbox"], &r);
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["invites"][0]["body"], "Topic: Algorithms");
}

#[test]
fn an_event_link_list_cannot_go_in_an_html_attribute_or_a_subject() {
    let mut r = panel();
    r["templates"]["candidate"] = json!({
        "subject": "Rooms: $Event.CodeSignal.Live.Link",
        "body": "<a href=\"$Event.CodeSignal.Live.Link\">join</a> $Event.CodeSignal.Live.Link",
        "format": "html"
    });
    let (code, _, stderr) = run_stdin(&["plan"], &r);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("#/templates/candidate/subject:1:8"),
        "{stderr}"
    );
    assert!(
        stderr.contains("#/templates/candidate/body:1:10"),
        "{stderr}"
    );
    // The one in the text lists the events and is fine.
    assert!(!stderr.contains("body:1:51"), "{stderr}");
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
}

#[test]
fn candidate_html_list_links_every_event() {
    let mut r = panel();
    r["templates"]["candidate"] = json!({
        "subject": "Interview",
        "body": "<p>$Event.CodeSignal.Live.Link</p>",
        "format": "html"
    });
    let (code, stdout, stderr) = run_stdin(&["resolve", "--sandbox"], &r);
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(&stdout).unwrap();
    let body = out["invites"][0]["body"].as_str().unwrap();
    assert_eq!(
        body.matches("<a href=\"https://sandbox.invitoken.invalid/live/")
            .count(),
        3
    );
    assert!(
        body.contains("Systems design &amp; &lt;APIs&gt;: <a href="),
        "{body}"
    );
    assert_eq!(body.matches("<br>").count(), 2);
}

#[test]
fn template_links_without_a_template_id_name_the_event() {
    let mut r = panel();
    r["interview"]["codesignal"] = json!({});
    let (code, stdout, stderr) = run_stdin(&["plan"], &r);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    // evt-1 has its own template; evt-2 and evt-3 fall back to the interview's, now gone.
    assert!(stderr.contains("event `evt-2`"), "{stderr}");
    assert!(stderr.contains("event `evt-3`"), "{stderr}");
    assert!(!stderr.contains("event `evt-1`"), "{stderr}");
}

#[test]
fn bad_requests_name_the_field() {
    let mut r = panel();
    r["interview"]["events"][1]["id"] = json!("evt-1");
    r["interview"]["events"][2]["end"] = json!("2027-03-02T12:00:00Z");
    r["interview"]["candidate"]["timezone"] = json!("Mars/Olympus");
    let (code, stdout, stderr) = run_stdin(&["plan"], &r);
    assert_eq!((code, stdout.as_str()), (1, ""));
    for needle in [
        "interview.events[1].id",
        "unique",
        "interview.events[2].end",
        "interview.candidate.timezone",
        "Mars/Olympus",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in\n{stderr}");
    }

    let mut r = panel();
    r["interview"]["events"][0]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let (code, _, stderr) = run_stdin(&["plan"], &r);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("interview.events[0]") && stderr.contains("missing field `id`"),
        "{stderr}"
    );

    invitoken()
        .args(["plan", "-"])
        .write_stdin("{\"interview\": ")
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("<stdin>:1:"));
}

#[test]
fn check_reports_every_finding_with_position() {
    invitoken()
        .args(["check", "-"])
        .write_stdin(
            "ok $Event.Topic\n  $Interview.CodeSignal.Live.Linkage and $Event.CoderPad.Link.\n",
        )
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("<stdin>:2:3")
                .and(predicate::str::contains(
                    "did you mean `$Interview.CodeSignal.Live.Link`?",
                ))
                .and(predicate::str::contains("<stdin>:2:42"))
                .and(predicate::str::contains("CoderPad")),
        );
    invitoken()
        .args(["check", "-"])
        .write_stdin("Join: $Interview.CodeSignal.Live.Link. Costs $100, US$ 5, $$$.\n")
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("1 token(s), no problems"));
    invitoken()
        .args(["check", "fixtures/panel.json"])
        .assert()
        .success();
}

#[test]
fn check_refuses_a_file_that_is_not_utf8_and_goes_on() {
    let dir = std::env::temp_dir().join(format!("invitoken-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("latin1.txt");
    std::fs::write(&bad, b"line one\ncaf\xe9 $Event.Topic\n").unwrap();
    let typo = dir.join("typo.txt");
    std::fs::write(&typo, "$Event.Topik\n").unwrap();
    let out = invitoken()
        .arg("check")
        .arg(&bad)
        .arg(&typo)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("latin1.txt:2:4: not UTF-8"), "{stderr}");
    assert!(stderr.contains("typo.txt:1:1"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    invitoken().assert().code(2);
    invitoken().args(["resolve"]).assert().code(2);
    invitoken().args(["frobnicate"]).assert().code(2);
}
