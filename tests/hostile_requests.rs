//! Hostile requests through the public API (issue 11, part 3): generated JSON-ish requests —
//! missing or empty events, huge and duplicate ids, unknown and odd time zones, extreme dates,
//! unicode and control characters, empty templates, tokens (and look-alikes and escapes) in
//! every field — go through `Request::from_json` and `serde_json::from_str::<Request>`, then
//! `plan`, `resolve` on the sandbox minter (which writes each invite's `.ics`) and the invites'
//! file names.
//!
//! The promise: nothing panics; the two ways of reading a request agree; a request is either
//! refused with a typed error or resolved into invites in which no token is left raw (a token's
//! text may only come out of a value that holds it, or a `$$` escape in the template).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use invitoken::file_names;
use invitoken::{Request, RequestError, ResolveError, SandboxMinter, Token, plan, resolve};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Mostly `good`, sometimes `bad`: each field is hostile now and then, so that many whole
/// requests still pass the rules and reach planning, minting and rendering.
fn mostly<T: std::fmt::Debug + Clone + 'static>(
    good: impl Strategy<Value = T> + 'static,
    bad: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![40 => good, 1 => bad].boxed()
}

/// Strings a hostile or careless scheduler might send for a name or topic; all but the long one
/// pass the rules (names are only capped), so they reach the invites.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("Ada Lovelace".to_owned()),
        Just("Zoë Ñúñez 李小龍 🎉".to_owned()),
        Just("line\r\nbreak\u{2028}sep\u{85}nel".to_owned()),
        Just("bidi \u{202e}gnp.exe\u{202c} and zero\u{200b}width".to_owned()),
        Just("nul\u{0}and\u{1b}[31mescape".to_owned()),
        Just("<script>alert(1)</script> & \"quotes\" 'single'".to_owned()),
        Just("a,b;c\\d:e".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just("é".repeat(500)),
        Just("$Interview.CodeSignal.Live.Link".to_owned()),
        Just("$Event.CodeSignal.Template.Link and $Candidate.Name".to_owned()),
        Just("$Event.Topic$Event.Start".to_owned()),
        Just("$$Event.Topic".to_owned()),
        Just("US$ 5".to_owned()),
        "[a-zA-Z0-9 $.é\u{202e}\n]{0,12}",
    ]
}

fn name() -> BoxedStrategy<String> {
    mostly(hostile_text(), Just("x".repeat(501)))
}

/// Ids that break a rule.
fn bad_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" e1".to_owned()),
        Just("i".repeat(201)),
        Just("a\u{202e}b".to_owned()),
        Just("int\u{0}1".to_owned()),
        Just("e\u{200b}1".to_owned()),
    ]
}

/// Ids: a small pool so duplicates are common, odd but valid ones, and now and then a bad one.
fn id() -> BoxedStrategy<String> {
    let good = prop_oneof![
        2 => prop_oneof![Just("e1"), Just("E1")].prop_map(str::to_owned),
        8 => (0..30u32).prop_map(|n| format!("e{n}")),
        1 => Just("i".repeat(200)),
        1 => Just("$Event.CodeSignal.Live.Link".to_owned()),
        1 => Just("../évé nt/1".to_owned()),
        1 => Just("日本語".to_owned()),
    ];
    mostly(good, bad_id())
}

fn email() -> BoxedStrategy<String> {
    let good = (0..30usize).prop_map(|n| format!("p{n}@example.com"));
    let bad = prop_oneof![
        Just("ada@example.org"),
        Just("ADA@Example.org"),
        Just("not an address"),
        Just("\"a b\"@example.com"),
        Just("root@[127.0.0.1]"),
        Just("x@localhost"),
        Just("Ada <ada@example.org>"),
        Just("a\u{202e}@example.com"),
        Just(""),
    ]
    .prop_map(str::to_owned);
    mostly(good, bad)
}

fn zone() -> BoxedStrategy<Option<Value>> {
    let good = prop_oneof![
        Just(None),
        Just(Some(json!(null))),
        Just(Some(json!("UTC"))),
        Just(Some(json!("Europe/London"))),
        Just(Some(json!("Pacific/Kiritimati"))),
        Just(Some(json!("America/St_Johns"))),
        Just(Some(json!("Etc/GMT+12"))),
        Just(Some(json!("Asia/Kathmandu"))),
    ];
    let bad = prop_oneof![
        Just(json!("Mars/Olympus_Mons")),
        Just(json!("")),
        Just(json!("utc")),
        Just(json!("\u{202e}UTC")),
        Just(json!(42)),
    ]
    .prop_map(Some);
    mostly(good, bad)
}

/// A start and an end: mostly an hour apart on a few days, sometimes at the edges of the
/// allowed years, across a DST change, or broken.
fn times() -> BoxedStrategy<(Value, Value)> {
    let good = prop_oneof![
        (0u32..3, 7u32..20).prop_map(|(d, h)| (
            json!(format!("2027-03-{:02}T{h:02}:00:00Z", d + 1)),
            json!(format!("2027-03-{:02}T{:02}:00:00Z", d + 1, h + 1))
        )),
        Just((json!("2027-03-28T00:30:00Z"), json!("2027-03-28T01:30:00Z"))),
        Just((
            json!("1970-01-01T00:00:00Z"),
            json!("2999-12-31T23:59:59.999Z")
        )),
        Just((
            json!("2027-03-02T10:00:00+14:00"),
            json!("2027-03-02T10:00:00-12:00")
        )),
    ];
    let bad = prop_oneof![
        Just((
            json!("0001-01-01T00:00:00Z"),
            json!("9999-12-31T23:59:59.5Z")
        )),
        Just((json!("2027-03-02T10:00:00Z"), json!("2027-03-02T09:00:00Z"))),
        Just((json!("2027-03-02T10:00:00Z"), json!("2027-03-02T10:00:00Z"))),
        Just((json!("2027-02-30T09:00:00Z"), json!("2027-03-02T09:00:00Z"))),
        Just((json!("tomorrow"), json!(1_700_000_000))),
    ];
    mostly(good, bad)
}

/// A JSON object with the fields that are `Some`; a field left out tests defaults and
/// missing-field errors alike.
fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    let mut map = Map::new();
    for (k, v) in fields {
        if let Some(v) = v {
            map.insert(k.to_owned(), v);
        }
    }
    Value::Object(map)
}

/// CodeSignal options: mostly with a template id (template links need one), sometimes without.
fn codesignal() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(json!({}))),
        4 => id().prop_map(|id| Some(json!({ "template_id": id }))),
    ]
}

fn interviewer() -> impl Strategy<Value = Value> {
    (name(), email(), zone(), prop::option::of(id())).prop_map(|(name, email, zone, user)| {
        object(vec![
            ("name", Some(name.into())),
            ("email", Some(email.into())),
            ("timezone", zone),
            ("codesignal_user_id", user.map(Value::from)),
        ])
    })
}

fn event() -> impl Strategy<Value = Value> {
    (
        id(),
        name(),
        times(),
        prop::option::of(prop::collection::vec(interviewer(), 0..3)),
        codesignal(),
    )
        .prop_map(|(id, topic, (start, end), people, cs)| {
            object(vec![
                ("id", Some(id.into())),
                ("topic", Some(topic.into())),
                ("start", Some(start)),
                ("end", Some(end)),
                ("interviewers", people.map(Value::from)),
                ("codesignal", cs),
            ])
        })
}

/// Template text: pieces glued together, mostly text and the tokens, sometimes escapes,
/// look-alikes and markup that changes where a token stands.
fn template_text() -> impl Strategy<Value = String> {
    let tokens: Vec<String> = Token::ALL.iter().map(|t| t.name().to_owned()).collect();
    let text: Vec<String> = [
        "Hello ",
        " ",
        "\r\n",
        "\u{2028}",
        "US$ 5",
        "日本語 🎉",
        "<b>",
        "</b>",
    ]
    .map(str::to_owned)
    .to_vec();
    let odd: Vec<String> = [
        "$$Event.Topic",
        "$event.topic",
        "$Evnt.Topic",
        "$Interview.Zoom.Link",
        "$Event.CodeSignal.Live.Link.Extra",
        "&#36;Event.Topic",
        "＄Event.Topic",
        "<a href=\"",
        "\">",
        "<!-- ",
        " -->",
        "<script>",
    ]
    .map(str::to_owned)
    .to_vec();
    let piece = prop_oneof![
        6 => prop::sample::select(tokens),
        6 => prop::sample::select(text),
        1 => prop::sample::select(odd),
    ];
    prop::collection::vec(piece, 0..7).prop_map(|p| p.concat())
}

fn template() -> impl Strategy<Value = Option<Value>> {
    let format = mostly(
        prop_oneof![Just(None), Just(Some("text")), Just(Some("html"))],
        Just(Some("markdown")),
    );
    prop::option::of((template_text(), template_text(), format).prop_map(
        |(subject, body, format)| {
            object(vec![
                ("subject", Some(subject.into())),
                ("body", Some(body.into())),
                ("format", format.map(Value::from)),
            ])
        },
    ))
}

/// A whole request, sometimes with its events missing or empty, or an unknown field added.
fn request() -> impl Strategy<Value = Value> {
    let candidate = (name(), email(), zone()).prop_map(|(name, email, zone)| {
        object(vec![
            ("name", Some(name.into())),
            ("email", Some(email.into())),
            ("timezone", zone),
        ])
    });
    let events = mostly(
        prop::collection::vec(event(), 1..4).prop_map(|e| Some(Value::from(e))),
        prop_oneof![Just(None), Just(Some(json!([])))],
    );
    (
        id(),
        candidate,
        codesignal(),
        events,
        template(),
        template(),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(id, candidate, cs, events, c, i, extra)| {
            let mut r = object(vec![
                (
                    "interview",
                    Some(object(vec![
                        ("id", Some(id.into())),
                        ("candidate", Some(candidate)),
                        ("codesignal", cs),
                        ("events", events),
                    ])),
                ),
                (
                    "templates",
                    Some(object(vec![("candidate", c), ("interviewer", i)])),
                ),
            ]);
            if extra {
                r["templates"]["templateId"] = json!("x");
            }
            r
        })
}

/// Every string under `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The tokens whose text may legitimately appear in an output: those a value of the interview
/// holds (values are inserted as they are, never expanded again), and those a template writes
/// after a `$$` escape.
fn allowed_tokens(request: &Value) -> BTreeSet<&'static str> {
    let mut values = Vec::new();
    strings(&request["interview"], &mut values);
    let mut templates = Vec::new();
    strings(&request["templates"], &mut templates);
    Token::ALL
        .iter()
        .map(|t| t.name())
        .filter(|name| {
            values.iter().any(|v| v.contains(name))
                || templates.iter().any(|t| t.contains(&format!("${name}")))
        })
        .collect()
}

/// The tokens written raw in `text`, an output (`.ics` lines are unfolded first).
fn raw_tokens(text: &str) -> BTreeSet<&'static str> {
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "");
    Token::ALL
        .iter()
        .map(|t| t.name())
        .filter(|name| unfolded.contains(name))
        .collect()
}

/// Puts the `.ics` of the first resolved hostile requests into `INVITOKEN_ICS_OUT`, when it is
/// set, for CI's independent parsers (`scripts/check_ics.py`, `.mjs`) to read.
fn keep_files(names: &[String], invites: &[invitoken::Invite]) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static KEPT: AtomicUsize = AtomicUsize::new(0);
    let Some(dir) = std::env::var_os("INVITOKEN_ICS_OUT") else {
        return;
    };
    let case = KEPT.fetch_add(1, Ordering::Relaxed);
    if case >= 40 {
        return;
    }
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, invite) in names.iter().zip(invites) {
        let path = dir.join(format!("hostile_requests-{case:02}-{name}"));
        std::fs::write(path, &invite.ics).unwrap();
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// One generated request through the whole public pipeline; a property failure says which
/// promise broke.
fn drive(json: &Value) -> Result<(), TestCaseError> {
    let text = json.to_string();
    let checked = Request::from_json(&text);
    let via_serde = serde_json::from_str::<Request>(&text);
    // The two readers run the same rules: a request one of them refuses, the other refuses too.
    prop_assert_eq!(
        checked.is_ok(),
        via_serde.is_ok(),
        "from_json: {:?}\nserde: {:?}",
        checked.as_ref().err(),
        via_serde.as_ref().err()
    );
    let request = match checked {
        Ok(request) => request,
        Err(RequestError::Invalid(problems)) => {
            prop_assert!(!problems.is_empty());
            for p in &problems {
                prop_assert!(!p.path.is_empty() && !p.message.is_empty(), "{:?}", p);
                // Problems are printed: none carries a control character raw.
                prop_assert!(!p.to_string().chars().any(char::is_control), "{:?}", p);
            }
            return Ok(());
        }
        Err(RequestError::Json { path, line, .. }) => {
            prop_assert!(!path.is_empty() && line >= 1);
            return Ok(());
        }
        Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
    };
    // A checked request has what the rules promise.
    prop_assert!(!request.interview().events.is_empty());
    prop_assert!(
        request.templates().candidate.is_some() || request.templates().interviewer.is_some()
    );

    let planned = plan(&request);
    let resolved = runtime().block_on(resolve(&request, &SandboxMinter::default()));
    match (&planned, &resolved) {
        (Err(ResolveError::Templates(found)), Err(ResolveError::Templates(again))) => {
            prop_assert!(!found.is_empty());
            prop_assert_eq!(
                found,
                again,
                "planning and resolving disagree on the findings"
            );
        }
        (Err(e), _) => {
            return Err(TestCaseError::fail(format!(
                "plan failed with {e:?}, resolve gave {resolved:?}"
            )));
        }
        (Ok(plan), Ok(resolution)) => {
            prop_assert_eq!(plan.mints.len(), resolution.links.len());
            // A request that reaches no one is refused by the rules.
            prop_assert!(!resolution.invites.is_empty());
            let allowed = allowed_tokens(json);
            for invite in &resolution.invites {
                for (what, out) in [
                    ("subject", &invite.subject),
                    ("body", &invite.body),
                    ("ics", &invite.ics),
                ] {
                    let raw: Vec<_> = raw_tokens(out).difference(&allowed).copied().collect();
                    prop_assert!(
                        raw.is_empty(),
                        "{} of the invite to {} holds {:?} raw:\n{}",
                        what,
                        invite.recipient,
                        raw,
                        out
                    );
                }
                prop_assert!(invite.ics.starts_with("BEGIN:VCALENDAR\r\n"));
                prop_assert!(!invite.subject.contains(['\r', '\n']));
            }
            let names = file_names(&resolution.invites);
            keep_files(&names, &resolution.invites);
            prop_assert_eq!(names.len(), resolution.invites.len());
            prop_assert_eq!(
                names.iter().collect::<BTreeSet<_>>().len(),
                names.len(),
                "two invites share a file name: {:?}",
                names
            );
            for name in &names {
                prop_assert!(
                    !name.contains(['/', '\\']) && !name.starts_with('.') && !name.is_empty(),
                    "{}",
                    name
                );
            }
        }
        // Planned but not resolved: only a typed failure after planning (the sandbox mints
        // everything), never a template finding the planner missed.
        (Ok(_), Err(ResolveError::Templates(found))) => {
            return Err(TestCaseError::fail(format!(
                "planned, then refused by the renderer: {found:?}"
            )));
        }
        (Ok(_), Err(e)) => {
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

proptest! {
    // Enough cases to reach the valid corner (every rule holding) often; a few seconds in a
    // debug build.
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn hostile_requests_are_refused_or_resolved_with_no_raw_token(json in request()) {
        drive(&json)?;
    }
}

/// Requests that the rules must hold to, checked once each by name.
#[test]
fn a_request_with_no_events_is_refused_through_serde_too() {
    let json = json!({
        "interview": {"id": "int-1", "candidate": {"name": "A", "email": "a@example.org"},
            "events": []},
        "templates": {"candidate": {"subject": "$Interview.Start", "body": "$Interview.CodeSignal.Live.Link"}}
    });
    let err = serde_json::from_str::<Request>(&json.to_string()).unwrap_err();
    assert!(err.to_string().contains("interview.events"), "{err}");
    drive(&json).unwrap();
}

/// The generator reaches requests that resolve, so the property is not only about refusals.
#[test]
fn a_valid_hostile_request_resolves_without_raw_tokens() {
    let json = json!({
        "interview": {"id": "int-1",
            "candidate": {"name": "$Event.CodeSignal.Live.Link \u{202e}", "email": "a@example.org",
                "timezone": "Pacific/Kiritimati"},
            "events": [
                {"id": "e1", "topic": "<b>$Interview.Start</b>\r\n", "start": "1970-01-01T00:00:00Z",
                 "end": "2999-12-31T23:59:59.999Z",
                 "interviewers": [{"name": "G", "email": "g@example.com", "timezone": "Etc/GMT+12"}]},
                {"id": "E1", "topic": "", "start": "2027-03-02T09:00:00Z", "end": "2027-03-03T00:00:00+14:00"}
            ]},
        "templates": {
            "candidate": {"subject": "$Interview.Start $Candidate.FirstName", "body": "$$Event.Topic $Interview.CodeSignal.Live.Link $Event.CodeSignal.Live.Link"},
            "interviewer": {"subject": "$Event.Topic", "body": "<a href=\"$Event.CodeSignal.Live.Link\">$Candidate.Name</a>", "format": "html"}
        }
    });
    let request = Request::from_json(&json.to_string()).unwrap();
    let resolution = runtime()
        .block_on(resolve(&request, &SandboxMinter::default()))
        .unwrap();
    assert_eq!(resolution.invites.len(), 2);
    drive(&json).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Hostile `.ics` files through the rewriter: the other input a run reads.

/// What every token is replaced with; no token's text is in it.
const URL: &str = "https://sandbox.invitoken.invalid/live/abc?a=1,2;b=3&c=4";

/// A content line of a hostile calendar, as bytes (some are not UTF-8).
fn ics_line() -> impl Strategy<Value = Vec<u8>> {
    let lines: Vec<&[u8]> = vec![
        b"BEGIN:VCALENDAR",
        b"VERSION:2.0",
        b"PRODID:-//x//y//EN",
        b"METHOD:CANCEL",
        b"BEGIN:VEVENT",
        b"END:VEVENT",
        b"END:VCALENDAR",
        b"BEGIN:VALARM",
        b"END:VALARM",
        b"UID:u1",
        b"DTSTART:20270302T090000Z",
        b"DTEND:20270302T100000Z",
        b"DTEND:99991231T235959Z",
        b"STATUS:CANCELLED",
        b"X-INTERVIEW-ID:int-1",
        b"X-INTERVIEW-ID:",
        b"X-INTERVIEW-ID:\xe2\x80\xaeint",
        b"X-CODESIGNAL-TEMPLATE-ID:tpl-1",
        b"X-CANDIDATE;CN=Ada:mailto:ada@example.org",
        b"X-CANDIDATE;CN=\"A;d:a\":mailto:",
        b"X-CANDIDATE;CN=\"unterminated:mailto:a@b.c",
        b"ATTENDEE;CN=G:mailto:g@example.com",
        b"DESCRIPTION:Join $Event.CodeSignal.Live.Link\\, now",
        b"DESCRIPTION:$$Event.CodeSignal.Live.Link",
        b"DESCRIPTION:$event.codesignal.live.link",
        b"DESCRIPTION;ENCODING=BASE64:JEV2ZW50",
        b"SUMMARY:$Interview.CodeSignal.Template.Link $Event.Topic",
        b"LOCATION:$Interview.CodeSignal.Live.Link",
        b"URL:$Event.CodeSignal.Live.Link",
        b"X-ALT-DESC;FMTTYPE=text/html:<a href=\"$Event.CodeSignal.Live.Link\">x</a>",
        b"X-ALT-DESC;FMTTYPE=text/html:&#36;Event.CodeSignal.Live.Link",
        b"COMMENT:\xff\xfe broken \xc3",
        b"\xef\xbb\xbfBEGIN:VCALENDAR",
        b";;;",
        b":",
        b"",
        b"NO-COLON-HERE",
    ];
    prop::sample::select(lines).prop_map(<[u8]>::to_vec)
}

/// A property line of a VEVENT that may carry a token.
fn ics_property() -> impl Strategy<Value = String> {
    // `batch` resolves link tokens only; the others make the file refused.
    let links: Vec<Token> = Token::ALL
        .into_iter()
        .filter(|t| t.link().is_some())
        .collect();
    let token = prop_oneof![
        8 => prop::sample::select(links),
        1 => prop::sample::select(Token::ALL.to_vec()),
    ]
    .prop_map(|t| t.name());
    let name = prop::sample::select(vec![
        "DESCRIPTION",
        "SUMMARY",
        "X-ALT-DESC;FMTTYPE=text/html",
        "LOCATION",
        "URL",
        "COMMENT",
        "DESCRIPTION;LANGUAGE=en",
    ]);
    let around = prop::sample::select(vec![
        ("Join ", " now\\, please"),
        ("", ""),
        ("<a href=\"", "\">join</a>"),
        ("é日本 ", "🎉"),
        ("$", ""),
    ]);
    (name, token, around)
        .prop_map(|(name, token, (before, after))| format!("{name}:{before}{token}{after}"))
}

fn ics_event() -> impl Strategy<Value = Vec<String>> {
    (
        0..3usize,
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.8),
        prop::collection::vec(ics_property(), 0..4),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(n, interview, candidate, template, properties, cancelled, alarm)| {
                let mut lines = vec![
                    "BEGIN:VEVENT".to_owned(),
                    format!("UID:evt-{n}@example.com"),
                    "DTSTAMP:20270101T000000Z".to_owned(),
                    format!("DTSTART:2027030{}T080000Z", n + 1),
                    format!("DTEND:2027030{}T090000Z", n + 1),
                ];
                if interview {
                    lines.push("X-INTERVIEW-ID:int-1".to_owned());
                }
                if candidate {
                    lines.push("X-CANDIDATE;CN=\"Ada; L\":mailto:ada@example.org".to_owned());
                }
                if template {
                    lines.push("X-CODESIGNAL-TEMPLATE-ID:tpl-1".to_owned());
                }
                if cancelled {
                    lines.push("STATUS:CANCELLED".to_owned());
                }
                lines.extend(properties);
                if alarm {
                    lines.extend(
                        [
                            "BEGIN:VALARM",
                            "ACTION:DISPLAY",
                            "DESCRIPTION:$Event.CodeSignal.Live.Link",
                            "TRIGGER:-PT15M",
                            "END:VALARM",
                        ]
                        .map(str::to_owned),
                    );
                }
                lines.push("END:VEVENT".to_owned());
                lines
            },
        )
}

/// A calendar, mostly well formed (so that many are rewritten), with CRLF or LF endings,
/// folded at arbitrary bytes (even in the middle of a token or a UTF-8 sequence), and now and
/// then a hostile line put in, a byte overwritten or the file cut short.
fn hostile_ics() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(ics_event(), 1..3),
        prop::bool::weighted(0.8),
        prop::collection::vec(
            (any::<prop::sample::Index>(), ics_line()),
            prop::collection::SizeRange::from(0..2),
        ),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 0..4),
        prop::option::weighted(0.05, any::<prop::sample::Index>()),
        prop::collection::vec(
            (any::<prop::sample::Index>(), any::<u8>()),
            prop::collection::SizeRange::from(0..2),
        ),
    )
        .prop_map(|(events, crlf, inserted, folds, cut, flips)| {
            let mut lines: Vec<Vec<u8>> = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//y//EN"]
                .map(|l| l.as_bytes().to_vec())
                .to_vec();
            lines.extend(events.into_iter().flatten().map(String::into_bytes));
            lines.push(b"END:VCALENDAR".to_vec());
            for (at, line) in inserted {
                lines.insert(at.index(lines.len() + 1), line);
            }
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut file = Vec::new();
            for line in lines {
                file.extend_from_slice(&line);
                file.extend_from_slice(eol);
            }
            for (at, how) in folds {
                let at = at.index(file.len() + 1);
                let fold: &[u8] = match how {
                    0 => b"\r\n ",
                    1 => b"\r\n\t",
                    _ => b"\n ",
                };
                file.splice(at..at, fold.iter().copied());
            }
            if let Some(cut) = cut {
                file.truncate(cut.index(file.len() + 1));
            }
            for (at, byte) in flips {
                if !file.is_empty() {
                    let at = at.index(file.len());
                    file[at] = byte;
                }
            }
            file
        })
}

/// `file` with its folds undone, for looking for token text across them.
fn unfolded_bytes(file: &[u8]) -> String {
    String::from_utf8_lossy(file)
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .replace("\n\t", "")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn hostile_ics_files_are_refused_or_rewritten_with_no_raw_token(file in hostile_ics()) {
        use invitoken::internals::rewrite::{Value as IcsValue, scan};
        let Ok(scanned) = scan(&file, &Default::default()) else {
            return Ok(());
        };
        let written = scanned.write(&file, |_| IcsValue::Url(URL));
        if scanned.is_unchanged() {
            prop_assert_eq!(&written, &file);
        }
        let before = unfolded_bytes(&file);
        let after = unfolded_bytes(&written);
        for token in Token::ALL {
            let name = token.name();
            let escaped = before.contains(&format!("${name}"));
            prop_assert!(
                escaped || !after.contains(name),
                "{} left raw in\n{}",
                name,
                after
            );
        }
    }
}
