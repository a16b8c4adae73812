//! Regressions: request rules (issue 9, class 9) and invite UIDs (class 14).

use assert_cmd::Command;
use invitoken::invite_uid;
use invitoken::{Request, RequestError};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support;

fn good() -> Value {
    json!({
        "interview": {
            "id": "int-1",
            "candidate": {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "Europe/London"},
            "codesignal": {"template_id": "tpl-1"},
            "events": [{
                "id": "e1", "topic": "Algorithms",
                "start": "2027-03-02T08:00:00Z", "end": "2027-03-02T09:00:00Z",
                "codesignal": {"template_id": "tpl-2"},
                "interviewers": [
                    {"name": "Grace", "email": "grace@example.com", "codesignal_user_id": "u-1"},
                    {"name": "Ken", "email": "ken@example.com"}
                ]
            }]
        },
        "templates": {"candidate": {"subject": "s", "body": "$Interview.CodeSignal.Live.Link"}}
    })
}

/// The paths of the broken rules, or a panic if the request is accepted or fails to parse.
fn refused(request: &Value) -> Vec<String> {
    match Request::from_json(&request.to_string()) {
        Err(RequestError::Invalid(problems)) => {
            for p in &problems {
                assert!(
                    !p.to_string().chars().any(|c| c.is_control()),
                    "a problem is printed raw: {p:?}"
                );
            }
            problems.into_iter().map(|p| p.path).collect()
        }
        other => panic!("expected broken rules, got {other:?}"),
    }
}

/// `good()` with the value at `pointer` replaced.
fn with(pointer: &str, value: Value) -> Value {
    let mut r = good();
    *r.pointer_mut(pointer).unwrap() = value;
    r
}

#[test]
fn good_request_is_accepted() {
    Request::from_json(&good().to_string()).unwrap();
}

#[test]
fn empty_or_blank_template_id_mints_template_sessions_with_none() {
    for blank in ["", "   ", "\t"] {
        assert_eq!(
            refused(&with("/interview/codesignal/template_id", json!(blank))),
            ["interview.codesignal.template_id"]
        );
        assert_eq!(
            refused(&with(
                "/interview/events/0/codesignal/template_id",
                json!(blank)
            )),
            ["interview.events[0].codesignal.template_id"]
        );
    }
}

#[test]
fn content_after_the_json_document_is_ignored() {
    let json = good().to_string();
    for tail in [
        "\n{\"interview\": {}}",
        " garbage",
        "\u{0}\u{1}\u{7f}",
        "]",
        "\n\n  {}",
    ] {
        match Request::from_json(&format!("{json}{tail}")) {
            Err(RequestError::Json { path, message, .. }) => {
                assert_eq!(path, ".", "{tail:?}");
                assert!(message.contains("trailing"), "{message}");
            }
            other => panic!("{tail:?}: {other:?}"),
        }
    }
    // Trailing whitespace is still fine.
    Request::from_json(&format!("{json}\n\r\n \t")).unwrap();
}

#[test]
fn utf8_bom_gives_an_unclear_error() {
    let r = Request::from_json(&format!("\u{feff}{}", good())).unwrap();
    assert_eq!(r.interview().id, "int-1");
}

#[test]
fn emails_are_not_validated() {
    for email in [
        "a@b\r\nBcc: x@evil.example",
        "not an email",
        "Ada <ada@example.org>",
        "<ada@example.org>",
        "ada@localhost",
        "ada@[127.0.0.1]",
        "\"a b\"@example.org",
        "ada@example.org\u{0}",
        "ad\u{202e}a@example.org",
        "ad\u{200b}a@example.org",
        "a@b,c@example.org",
        " ",
    ] {
        assert_eq!(
            refused(&with("/interview/candidate/email", json!(email))),
            ["interview.candidate.email"],
            "{email:?}"
        );
        assert_eq!(
            refused(&with(
                "/interview/events/0/interviewers/1/email",
                json!(email)
            )),
            ["interview.events[0].interviewers[1].email"],
            "{email:?}"
        );
    }
}

#[test]
fn same_interviewer_twice_on_one_event_gets_two_invites() {
    let twice = with(
        "/interview/events/0/interviewers/1/email",
        json!("Grace@Example.COM"),
    );
    assert_eq!(
        refused(&twice),
        ["interview.events[0].interviewers[1].email"]
    );
    // The candidate on the panel would receive an interviewer's invite and its links.
    let candidate = with(
        "/interview/events/0/interviewers/1/email",
        json!("ada@example.org"),
    );
    assert_eq!(
        refused(&candidate),
        ["interview.events[0].interviewers[1].email"]
    );
    // One CodeSignal user under two addresses is one interviewer too.
    let mut same_user = good();
    same_user["interview"]["events"][0]["interviewers"][1]["codesignal_user_id"] = json!("u-1");
    assert_eq!(
        refused(&same_user),
        ["interview.events[0].interviewers[1].codesignal_user_id"]
    );
    // The same interviewer on two events is two sessions: still fine.
    let mut two_events = good();
    let mut second = two_events["interview"]["events"][0].clone();
    second["id"] = json!("e2");
    two_events["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .push(second);
    Request::from_json(&two_events.to_string()).unwrap();
}

#[test]
fn ids_may_hold_nul_and_control_characters() {
    let fields = [
        ("/interview/id", "interview.id"),
        ("/interview/events/0/id", "interview.events[0].id"),
        (
            "/interview/events/0/interviewers/0/codesignal_user_id",
            "interview.events[0].interviewers[0].codesignal_user_id",
        ),
        (
            "/interview/codesignal/template_id",
            "interview.codesignal.template_id",
        ),
        (
            "/interview/events/0/codesignal/template_id",
            "interview.events[0].codesignal.template_id",
        ),
    ];
    for bad in [
        "a\u{0}b",
        "a\r\nb",
        "a\nb",
        "a\u{1b}[2Jb",
        "a\u{7f}",
        "a\u{85}b",
        "a\u{2028}b",
        "a\u{202e}b",
        "a\u{200b}b",
        "\u{feff}a",
        " a",
        "a ",
    ] {
        for (pointer, path) in fields {
            assert_eq!(refused(&with(pointer, json!(bad))), [path], "{bad:?}");
        }
    }
    for zone in ["Europe/London\n", "UTC\u{0}", "\u{1b}[31mUTC"] {
        assert_eq!(
            refused(&with("/interview/candidate/timezone", json!(zone))),
            ["interview.candidate.timezone"]
        );
    }
}

#[test]
fn absurdly_long_values_are_accepted() {
    let id = |n: usize| json!("i".repeat(n));
    Request::from_json(&with("/interview/id", id(200)).to_string()).unwrap();
    assert_eq!(refused(&with("/interview/id", id(201))), ["interview.id"]);
    assert_eq!(
        refused(&with("/interview/events/0/id", id(10_000))),
        ["interview.events[0].id"]
    );
    let email = format!("{}@example.org", "a".repeat(300));
    assert_eq!(
        refused(&with("/interview/candidate/email", json!(email))),
        ["interview.candidate.email"]
    );
    assert_eq!(
        refused(&with("/interview/candidate/name", json!("n".repeat(501)))),
        ["interview.candidate.name"]
    );
    assert_eq!(
        refused(&with(
            "/interview/events/0/topic",
            json!("t".repeat(100_000))
        )),
        ["interview.events[0].topic"]
    );
    let mut many = good();
    let event = many["interview"]["events"][0].clone();
    let events: Vec<Value> = (0..101)
        .map(|i| {
            let mut e = event.clone();
            e["id"] = json!(format!("e{i}"));
            e
        })
        .collect();
    many["interview"]["events"] = json!(events);
    assert_eq!(refused(&many), ["interview.events"]);
}

#[test]
fn every_broken_rule_is_still_reported_at_once() {
    let mut r = good();
    r["interview"]["id"] = json!("a\u{0}");
    r["interview"]["candidate"]["email"] = json!("nope");
    r["interview"]["codesignal"]["template_id"] = json!("");
    r["interview"]["events"][0]["interviewers"][1]["email"] = json!("grace@example.com");
    assert_eq!(
        refused(&r),
        [
            "interview.id",
            "interview.candidate.email",
            "interview.codesignal.template_id",
            "interview.events[0].interviewers[1].email",
        ]
    );
}

#[test]
fn a_request_deserialized_with_serde_skips_the_rules() {
    let bad = with("/interview/candidate/email", json!("not an email"));
    let err = serde_json::from_value::<Request>(bad).unwrap_err();
    assert!(
        err.to_string().contains("interview.candidate.email"),
        "{err}"
    );
}

fn resolve(stdin: Vec<u8>) -> (i32, String, String) {
    let out = Command::cargo_bin("invitoken")
        .unwrap()
        .args(["resolve", "-", "--sandbox", "--ledger"])
        .arg(support::scratch::fresh_ledger())
        .env_remove("CODESIGNAL_API_KEY")
        .env("NO_COLOR", "1")
        .write_stdin(stdin)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn resolve_ignores_a_second_document_and_takes_header_injection_in_emails() {
    let mut two = good().to_string().into_bytes();
    two.extend_from_slice(b"\n{\"interview\": {\"id\": \"other\"}}\n");
    let (code, stdout, stderr) = resolve(two);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("trailing"), "{stderr}");

    let hostile = with(
        "/interview/candidate/email",
        json!("a@example.org\r\nBcc: everyone@example.org"),
    );
    let (code, stdout, stderr) = resolve(hostile.to_string().into_bytes());
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("interview.candidate.email"), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr:?}");

    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(good().to_string().as_bytes());
    let (code, _, stderr) = resolve(bom);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn dotted_ids_give_two_sessions_one_uid() {
    assert_ne!(
        invite_uid("int", Some("x.y")),
        invite_uid("int.x", Some("y"))
    );
    assert_ne!(invite_uid("int.x", None), invite_uid("int", Some("x")));
    assert_ne!(invite_uid("a%2Eb", None), invite_uid("a.b", None));
    // Ids without reserved characters keep the UIDs invites already went out with, so a
    // re-send still updates the same calendar entry.
    assert_eq!(
        invite_uid("int-42", Some("evt-1")),
        "int-42.evt-1@invitoken"
    );
    assert_eq!(invite_uid("int-42", None), "int-42@invitoken");
    assert_eq!(invite_uid("int", Some("x.y@z")), "int.x%2Ey%40z@invitoken");
}

proptest! {
    #[test]
    fn distinct_sessions_never_share_a_uid(
        a in ("[a-z.%@:;,\\\\ \"é\u{0}-]{0,6}", proptest::option::of("[a-z.%@:;,\\\\ \"é\u{0}-]{0,6}")),
        b in ("[a-z.%@:;,\\\\ \"é\u{0}-]{0,6}", proptest::option::of("[a-z.%@:;,\\\\ \"é\u{0}-]{0,6}")),
    ) {
        let uid = |(i, e): &(String, Option<String>)| invite_uid(i, e.as_deref());
        prop_assert_eq!(a == b, uid(&a) == uid(&b), "{:?} {:?}", uid(&a), uid(&b));
        // A UID is one TEXT value with nothing to escape and no line to break.
        prop_assert!(uid(&a).chars().all(|c| c.is_ascii_graphic()), "{}", uid(&a));
    }
}

// Look-alike tokens (class 13): they come from the shared lexer, so `check`, `resolve` and
// `batch` all refuse them.

/// A look-alike of each kind the issue names, each in a template or an .ics value.
const LOOK_ALIKES: [&str; 5] = [
    "$Іnterview.CodeSignal.Live.Link",
    "$Interview.Code\u{200b}Signal.Live.Link",
    "${Event.CodeSignal.Live.Link}",
    "＄Event.CodeSignal.Live.Link",
    "﹩Interview.CodeSignal.Live.Link",
];

#[test]
fn look_alike_tokens_reach_recipients_raw_from_resolve() {
    for look_alike in LOOK_ALIKES {
        let request = with(
            "/templates/candidate/body",
            json!(format!("Join: {look_alike}\n")),
        );
        let (code, stdout, stderr) = resolve(request.to_string().into_bytes());
        assert_eq!(code, 1, "{look_alike}: {stderr}");
        assert!(stdout.is_empty(), "{look_alike}: minted and wrote {stdout}");
        assert!(stderr.contains("look-alike token"), "{stderr}");
        assert!(stderr.contains("did you mean `$"), "{stderr}");
    }
}

/// `invitoken check` on a text file holding `text`: (exit code, stderr).
fn check_text(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.txt");
    std::fs::write(&path, text).unwrap();
    let out = Command::cargo_bin("invitoken")
        .unwrap()
        .arg("check")
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn look_alike_tokens_pass_check() {
    let (code, stderr) = check_text("Hi,\nJoin: $Іnterview.CodeSignal.Live.Link\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(":2:7")
            && stderr.contains("did you mean `$Interview.CodeSignal.Live.Link`"),
        "{stderr}"
    );
}

#[test]
fn look_alike_tokens_in_an_ics_are_copied_raw_by_batch() {
    for look_alike in LOOK_ALIKES {
        let text = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:la-1@example.com\r\n\
             DTSTAMP:20270101T000000Z\r\nDTSTART:20270302T080000Z\r\nDTEND:20270302T090000Z\r\n\
             DESCRIPTION:Join at {look_alike}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("look-alike.ics");
        std::fs::write(&input, &text).unwrap();
        let out_dir = dir.path().join("out");
        let out = Command::cargo_bin("invitoken")
            .unwrap()
            .arg("batch")
            .arg(&input)
            .arg("--out")
            .arg(&out_dir)
            .args(["--sandbox", "--ledger"])
            .arg(support::scratch::fresh_ledger())
            .env_remove("CODESIGNAL_API_KEY")
            .env_remove("CODESIGNAL_ENDPOINT")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{look_alike}: {stderr}");
        assert!(
            stderr.contains("look-alike.ics:9:21:"),
            "{look_alike}: {stderr}"
        );
        assert!(stderr.contains("look-alike"), "{look_alike}: {stderr}");
        assert!(!out_dir.join("look-alike.ics").exists(), "{look_alike}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), text);
    }
}

#[test]
fn accented_letter_in_a_token_passed_check() {
    // `Í` (precomposed) or `I` and a combining acute: not confusables in UTS #39, yet a reader
    // takes either for the token. Accents are stripped before skeletons are compared; text that
    // merely has accents after a `$` is still text.
    for (name, text) in [
        (
            "precomposed",
            "Join: $\u{cd}nterview.CodeSignal.Live.Link\n",
        ),
        (
            "combining",
            "Join: $I\u{301}nterview.CodeSignal.Live.Link\n",
        ),
        ("fr", "Prix: $\u{c9}t\u{e9} et $caf\u{e9}\n"),
    ] {
        let (code, stderr) = check_text(text);
        if name == "fr" {
            assert_eq!(code, Some(0), "{name}: {stderr}");
        } else {
            assert_eq!(code, Some(1), "{name}: {stderr}");
            assert!(
                stderr.contains(":1:7")
                    && stderr.contains("did you mean `$Interview.CodeSignal.Live.Link`"),
                "{name}: {stderr}"
            );
        }
    }
}

#[test]
fn an_event_ending_in_the_last_second_of_9999_writes_a_five_digit_ics_year() {
    // The `.ics` rounds a fractional end up: 10000-01-01, which DATE-TIME cannot hold. Dates
    // this far out (or before 1970: `0027` for `2027`) are typos, refused with the field.
    assert_eq!(
        refused(&with(
            "/interview/events/0/end",
            json!("9999-12-31T23:59:59.5Z")
        )),
        ["interview.events[0].end"]
    );
    assert_eq!(
        refused(&with(
            "/interview/events/0/start",
            json!("0027-03-02T08:00:00Z")
        )),
        ["interview.events[0].start"]
    );
    // The edges of the range are fine.
    let mut edges = with("/interview/events/0/start", json!("1970-01-01T00:00:00Z"));
    edges["interview"]["events"][0]["end"] = json!("2999-12-31T23:59:59.999Z");
    Request::from_json(&edges.to_string()).unwrap();
}

/// A library user can no longer empty a checked request's events (which reached
/// `.expect("a checked request has events")` in the planner): the request lends its parts
/// out shared only, and serde runs the same checks as `from_json`.
#[test]
fn a_request_with_no_events_reaches_an_expect_in_the_planner() {
    let mut r = good();
    r["interview"]["events"] = json!([]);
    let err = serde_json::from_str::<Request>(&r.to_string()).unwrap_err();
    assert!(err.to_string().contains("interview.events"), "{err}");
    let request = Request::from_json(&good().to_string()).unwrap();
    assert_eq!(request.interview().events.len(), 1);
    invitoken::plan(&request).unwrap();
}

#[test]
fn an_interviewer_template_with_no_interviewers_resolves_to_no_invite_at_all() {
    let mut r = good();
    r["interview"]["events"][0]["interviewers"] = json!([]);
    r["templates"] =
        json!({"interviewer": {"subject": "s", "body": "$Event.CodeSignal.Live.Link"}});
    assert_eq!(refused(&r), ["templates.interviewer"]);
    // With a candidate template there is someone to write to.
    r["templates"]["candidate"] = json!({"subject": "s", "body": "b"});
    Request::from_json(&r.to_string()).unwrap();
}
