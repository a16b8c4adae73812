//! Regressions: a subject is one line, whatever a value or the template holds.

use assert_cmd::Command;
use invitoken::{Field, FindingKind, Request, ResolveError, SandboxMinter};
use serde_json::{Value, json};

use crate::support;

/// A request with two events, whose subjects show the name and the topic.
fn request(name: &str, topic: &str, subject: &str) -> Value {
    json!({
        "interview": {
            "id": "int-subj",
            "candidate": {"name": name, "email": "ada@example.org"},
            "events": [
                {"id": "e1", "topic": topic, "start": "2027-03-02T09:00:00Z", "end": "2027-03-02T10:00:00Z",
                 "interviewers": [{"name": "Grace", "email": "grace@example.com"}]},
                {"id": "e2", "topic": "Pairing", "start": "2027-03-02T11:00:00Z", "end": "2027-03-02T12:00:00Z",
                 "interviewers": [{"name": "Ken", "email": "ken@example.com"}]}
            ]
        },
        "templates": {
            "candidate": {"subject": subject, "body": "$Interview.CodeSignal.Live.Link", "format": "text"},
            "interviewer": {"subject": format!("{subject} / $Event.Topic"), "body": "$Event.CodeSignal.Live.Link", "format": "html"}
        }
    })
}

fn resolve(request: &Value) -> Result<invitoken::Resolution, ResolveError> {
    let request = Request::from_json(&request.to_string()).expect("a valid request");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(invitoken::resolve(&request, &SandboxMinter::default()))
}

/// Every character that breaks a line somewhere (a mail header, a terminal, a calendar) or is a
/// control character.
const BREAKS: [char; 12] = [
    '\r', '\n', '\u{b}', '\u{c}', '\u{85}', '\u{2028}', '\u{2029}', '\0', '\t', '\u{1b}', '\u{7f}',
    '\u{9b}',
];

#[test]
fn lone_cr_and_other_line_breaks_in_topic_or_name_reach_subject() {
    for c in BREAKS {
        let name = format!("Ada{c}Bcc: eve@example.org");
        let topic = format!("Algo{c}{c}rithms");
        let resolution = resolve(&request(&name, &topic, "Interview with $Candidate.Name"))
            .unwrap_or_else(|e| panic!("U+{:04X}: {e}", u32::from(c)));
        let subjects: Vec<&str> = resolution
            .invites
            .iter()
            .map(|i| i.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            [
                "Interview with Ada Bcc: eve@example.org",
                "Interview with Ada Bcc: eve@example.org / Algo rithms",
                "Interview with Ada Bcc: eve@example.org / Pairing",
            ],
            "U+{:04X}",
            u32::from(c)
        );
        // The .ics SUMMARY is one content line too (folded lines start with a space).
        for invite in &resolution.invites {
            let summary = invite
                .ics
                .split("\r\n")
                .find(|l| l.starts_with("SUMMARY"))
                .expect("a summary");
            assert!(!summary.chars().any(invitoken::breaks_line), "{summary:?}");
        }
    }
}

#[test]
fn line_break_typed_into_subject_template_passes_resolve() {
    for c in BREAKS {
        let subject = format!("Interview{c}Bcc: eve@example.org");
        let err = resolve(&request("Ada", "Algorithms", &subject)).unwrap_err();
        let ResolveError::Templates(found) = err else {
            panic!("U+{:04X}: {err}", u32::from(c))
        };
        // Both subjects (the interviewer's holds the same text), each once, where the break is.
        let fields: Vec<_> = found.iter().map(|l| l.field).collect();
        assert_eq!(
            fields,
            [Field::CandidateSubject, Field::InterviewerSubject],
            "U+{:04X}",
            u32::from(c)
        );
        for l in &found {
            assert_eq!(l.finding.span, 9..9 + c.len_utf8());
            assert_eq!(
                l.finding.kind,
                FindingKind::SubjectNotOneLine { character: c }
            );
        }
    }
}

#[test]
fn crlf_in_subject_template_passes_check_and_is_now_one_finding_with_line_col_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("request.json");
    std::fs::write(
        &path,
        request("Ada", "Algorithms", "Your\r\ninterview\u{2028}").to_string(),
    )
    .unwrap();
    let out = Command::cargo_bin("invitoken")
        .unwrap()
        .env("INVITOKEN_LEDGER", support::scratch::fresh_ledger())
        .env("NO_COLOR", "1")
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("request.json#/templates/candidate/subject:1:5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("request.json#/templates/interviewer/subject:2:10"),
        "{stderr}"
    );
    assert!(stderr.contains("line break U+000D"), "{stderr}");
    assert!(stderr.contains("line break U+2028"), "{stderr}");
    assert!(
        stderr.contains("help: write the subject on one line"),
        "{stderr}"
    );
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
    // What is shown is terminal-safe: the template's own CR and U+2028 are not printed raw.
    assert!(
        !stderr.contains(['\r', '\u{2028}']),
        "{:?}",
        stderr.escape_debug().to_string()
    );
}

#[test]
fn lone_cr_in_subject_template_is_minted_and_output_by_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("request.json");
    std::fs::write(
        &path,
        request("Ada", "Algorithms", "Interview\rBcc: eve@example.org").to_string(),
    )
    .unwrap();
    let ledger = support::scratch::fresh_ledger();
    let out = Command::cargo_bin("invitoken")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(["resolve", "--sandbox", "--ledger"])
        .arg(&ledger)
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is output");
    assert!(
        stderr.contains("request.json#/templates/candidate/subject:1:10"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was minted or output"), "{stderr}");
}
