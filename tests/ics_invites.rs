//! The `.ics` of every resolved invite, read back by an independent parser (calcard): line
//! lengths and endings, stable UIDs, times, the subject and body exactly, the right link.
//!
//! With `INVITOKEN_ICS_OUT` set, every `.ics` made here is also written to that directory, so
//! other parsers (Python's icalendar in CI) can read the same files.

#[path = "support/scratch.rs"]
mod scratch;

use std::path::Path;

use assert_cmd::Command;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty,
};
use calcard::{Entry, Parser};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use invitoken::{
    CalendarOptions, Format, Invite, Link, Organizer, Product, Request, Resolution, Role,
    SandboxMinter, Scope,
};
use invitoken::{file_names, html_to_text};
use serde_json::Value;

const PANEL: &str = include_str!("../fixtures/panel.json");

fn stamp() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 2, 1, 12, 0, 0).unwrap()
}

fn resolve_json(json: &str, options: &CalendarOptions) -> Resolution {
    let request = Request::from_json(json).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let resolution = runtime
        .block_on(invitoken::resolve_with(
            &request,
            &SandboxMinter::default(),
            options,
        ))
        .unwrap();
    keep(&resolution.invites);
    resolution
}

fn resolve_panel() -> Resolution {
    resolve_json(
        PANEL,
        &CalendarOptions {
            stamp: stamp(),
            ..CalendarOptions::default()
        },
    )
}

/// Writes the invites' `.ics` into `INVITOKEN_ICS_OUT`, if set.
fn keep(invites: &[Invite]) {
    for (invite, name) in invites.iter().zip(file_names(invites)) {
        keep_file(&name, &invite.ics);
    }
}

/// Writes one `.ics` into `INVITOKEN_ICS_OUT`, if set, under a name unique to this test and
/// content (tests run in parallel and make files of the same invites).
fn keep_file(name: &str, ics: &str) {
    let Some(dir) = std::env::var_os("INVITOKEN_ICS_OUT") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test").replace("::", "-");
    let hash = ics.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    std::fs::write(dir.join(format!("{test}-{hash:016x}-{name}")), ics).unwrap();
}

/// The one VCALENDAR and its one VEVENT, as calcard reads them.
fn parse(ics: &str) -> (ICalendarComponent, ICalendarComponent) {
    let mut parser = Parser::new(ics);
    let calendar: ICalendar = match parser.entry() {
        Entry::ICalendar(c) => c,
        other => panic!("not an iCalendar: {other:?}\n{ics}"),
    };
    assert!(
        matches!(parser.entry(), Entry::Eof),
        "one object per file\n{ics}"
    );
    let mut components = calendar.components.into_iter();
    let vcalendar = components.next().unwrap();
    assert_eq!(vcalendar.component_type, ICalendarComponentType::VCalendar);
    let events: Vec<_> = components.collect();
    assert_eq!(events.len(), 1, "one component in the calendar\n{ics}");
    let event = events.into_iter().next().unwrap();
    assert_eq!(event.component_type, ICalendarComponentType::VEvent);
    (vcalendar, event)
}

fn text<'a>(component: &'a ICalendarComponent, property: &ICalendarProperty) -> Option<&'a str> {
    component
        .property(property)
        .and_then(|e| e.values.first())
        .and_then(|v| v.as_text())
}

fn count(component: &ICalendarComponent, property: &ICalendarProperty) -> usize {
    component.properties(property).count()
}

fn time(event: &ICalendarComponent, property: ICalendarProperty) -> DateTime<Utc> {
    let entry = event.property(&property).unwrap();
    let at = entry.values[0].as_partial_date_time().unwrap();
    assert_eq!(
        (at.tz_hour, at.tz_minute, at.tz_minus),
        (Some(0), Some(0), false),
        "{property:?} is in UTC"
    );
    NaiveDate::from_ymd_opt(
        at.year.unwrap().into(),
        at.month.unwrap().into(),
        at.day.unwrap().into(),
    )
    .unwrap()
    .and_hms_opt(
        at.hour.unwrap().into(),
        at.minute.unwrap().into(),
        at.second.unwrap().into(),
    )
    .unwrap()
    .and_utc()
}

fn alt_desc() -> ICalendarProperty {
    ICalendarProperty::Other("X-ALT-DESC".into())
}

fn live_link<'a>(links: &'a [Link], scope: Scope, event: Option<&str>) -> Option<&'a str> {
    links
        .iter()
        .find(|l| {
            l.key.product == Product::Live
                && l.key.scope == scope
                && l.key.event_id.as_deref() == event
        })
        .map(|l| l.url.as_str())
}

#[test]
fn every_line_is_at_most_75_octets_and_ends_in_crlf() {
    let resolution = resolve_panel();
    assert_eq!(resolution.invites.len(), 5);
    for invite in &resolution.invites {
        let ics = invite.ics.as_bytes();
        assert!(ics.ends_with(b"\r\n"), "{}", invite.recipient);
        let mut lines = 0;
        for line in ics.strip_suffix(b"\n").unwrap().split(|&b| b == b'\n') {
            let line = line
                .strip_suffix(b"\r")
                .unwrap_or_else(|| panic!("a line of {} ends without CR", invite.recipient));
            assert!(!line.contains(&b'\r'), "bare CR in {}", invite.recipient);
            assert!(
                line.len() <= 75,
                "{} octets: {}",
                line.len(),
                String::from_utf8_lossy(line)
            );
            lines += 1;
        }
        assert!(lines > 15, "{}", invite.ics);
    }
}

#[test]
fn calcard_reads_each_invite_back_as_rendered() {
    let resolution = resolve_panel();
    let request = Request::from_json(PANEL).unwrap();
    let events = &request.interview().events;
    for invite in &resolution.invites {
        let (vcalendar, event) = parse(&invite.ics);
        assert_eq!(text(&vcalendar, &ICalendarProperty::Version), Some("2.0"));
        assert_eq!(
            text(&vcalendar, &ICalendarProperty::Method),
            Some("REQUEST")
        );
        assert!(
            text(&vcalendar, &ICalendarProperty::Prodid)
                .unwrap()
                .contains("invitoken")
        );

        // The span: the candidate's covers the whole interview, an interviewer's its event.
        let (start, end) = match &invite.event_id {
            None => (events[0].start, events[2].end),
            Some(id) => {
                let e = events.iter().find(|e| &e.id == id).unwrap();
                (e.start, e.end)
            }
        };
        assert_eq!(time(&event, ICalendarProperty::Dtstart), start);
        assert_eq!(time(&event, ICalendarProperty::Dtend), end);
        assert_eq!(time(&event, ICalendarProperty::Dtstamp), stamp());
        let sequence = event.property(&ICalendarProperty::Sequence).unwrap();
        assert_eq!(sequence.values[0].as_integer(), Some(0));

        // Subject and body, exactly, after unescaping.
        assert_eq!(
            text(&event, &ICalendarProperty::Summary),
            Some(invite.subject.as_str())
        );
        let description = text(&event, &ICalendarProperty::Description).unwrap();
        match invite.format {
            Format::Text => {
                assert_eq!(description, invite.body);
                assert_eq!(count(&event, &alt_desc()), 0);
            }
            Format::Html => {
                assert_eq!(text(&event, &alt_desc()), Some(invite.body.as_str()));
                let alt = event.property(&alt_desc()).unwrap();
                assert_eq!(alt.params[0].value.as_text(), Some("text/html"), "FMTTYPE");
                assert_eq!(description, html_to_text(&invite.body));
                assert!(!description.contains("<p>") && !description.contains("&amp;"));
            }
        }

        // Who: the organizer, and the recipient alone.
        assert_eq!(
            event
                .property(&ICalendarProperty::Organizer)
                .unwrap()
                .calendar_address(),
            Some("scheduling@invitoken.invalid")
        );
        assert_eq!(count(&event, &ICalendarProperty::Attendee), 1);
        let attendee = event.property(&ICalendarProperty::Attendee).unwrap();
        assert_eq!(attendee.calendar_address(), Some(invite.recipient.as_str()));
        let param = |name: &str| {
            attendee
                .params
                .iter()
                .find(|p| p.name.as_str() == name)
                .and_then(|p| p.value.as_text())
        };
        assert_eq!(param("CN"), Some(invite.recipient_name.as_str()));
        assert_eq!(param("RSVP"), Some("TRUE"));
        assert_eq!(param("PARTSTAT"), Some("NEEDS-ACTION"));

        // The link: each interviewer's event has its own live link; the candidate gets the
        // interview's.
        let expected = match &invite.event_id {
            None => live_link(&resolution.links, Scope::Interview, None),
            Some(id) => live_link(&resolution.links, Scope::Event, Some(id)),
        }
        .unwrap();
        assert_eq!(text(&event, &ICalendarProperty::Conference), Some(expected));
        assert_eq!(text(&event, &ICalendarProperty::Location), Some(expected));
        assert!(invite.body.contains(expected));
    }
}

#[test]
fn uids_are_stable_across_runs_and_one_per_event() {
    let first = resolve_panel();
    let later = resolve_json(
        PANEL,
        &CalendarOptions {
            sequence: 3,
            ..CalendarOptions::default()
        },
    );
    let uid = |invite: &Invite| {
        let (_, event) = parse(&invite.ics);
        text(&event, &ICalendarProperty::Uid).unwrap().to_owned()
    };
    let uids: Vec<String> = first.invites.iter().map(uid).collect();
    assert_eq!(uids, later.invites.iter().map(uid).collect::<Vec<_>>());
    assert_eq!(
        uids,
        [
            "int-42@invitoken",
            "int-42.evt-1@invitoken",
            "int-42.evt-2@invitoken",
            "int-42.evt-2@invitoken",
            "int-42.evt-3@invitoken",
        ]
    );
    // One UID per event: evt-2's two interviewers share it, and no two events do.
    for (a, ia) in uids.iter().zip(&first.invites) {
        for (b, ib) in uids.iter().zip(&first.invites) {
            assert_eq!(a == b, ia.event_id == ib.event_id, "{a} {b}");
        }
    }
    // The re-send says it is one: a higher SEQUENCE, a new DTSTAMP.
    let (_, event) = parse(&later.invites[0].ics);
    let sequence = event.property(&ICalendarProperty::Sequence).unwrap();
    assert_eq!(sequence.values[0].as_integer(), Some(3));
    assert_ne!(time(&event, ICalendarProperty::Dtstamp), stamp());
}

/// The panel with other templates, so that other sets of links are minted.
fn panel_with(candidate: &str, interviewer: &str, events: usize) -> String {
    let mut panel: Value = serde_json::from_str(PANEL).unwrap();
    panel["templates"]["candidate"]["body"] = candidate.into();
    panel["templates"]["interviewer"]["body"] = interviewer.into();
    panel["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .truncate(events);
    panel.to_string()
}

fn conference(invite: &Invite) -> Option<String> {
    let (_, event) = parse(&invite.ics);
    text(&event, &ICalendarProperty::Conference).map(str::to_owned)
}

#[test]
fn the_conference_link_is_the_sessions_own_else_the_interviews_else_none() {
    // Interviewers with no event link fall back to the interview's; so does the candidate.
    let shared = resolve_json(
        &panel_with(
            "Room: $Interview.CodeSignal.Live.Link",
            "<p>$Interview.CodeSignal.Live.Link</p>",
            3,
        ),
        &CalendarOptions::default(),
    );
    let interview = live_link(&shared.links, Scope::Interview, None).unwrap();
    for invite in &shared.invites {
        assert_eq!(conference(invite).as_deref(), Some(interview));
    }

    // No interview link and three event links: the candidate's has no one CONFERENCE (the
    // description lists them all); each interviewer's has its event's.
    let events = resolve_json(
        &panel_with(
            "Rooms:\n$Event.CodeSignal.Live.Link",
            "<a href=\"$Event.CodeSignal.Live.Link\">join</a>",
            3,
        ),
        &CalendarOptions::default(),
    );
    let candidate = &events.invites[0];
    assert_eq!(candidate.role, Role::Candidate);
    assert_eq!(conference(candidate), None);
    let (_, event) = parse(&candidate.ics);
    assert_eq!(count(&event, &ICalendarProperty::Location), 0);
    for invite in &events.invites[1..] {
        let id = invite.event_id.as_deref();
        assert_eq!(
            conference(invite).as_deref(),
            live_link(&events.links, Scope::Event, id)
        );
        let (_, event) = parse(&invite.ics);
        let description = text(&event, &ICalendarProperty::Description).unwrap();
        assert!(description.starts_with("join <https://"), "{description}");
    }

    // One event, one event link: it is the candidate's conference too.
    let single = resolve_json(
        &panel_with(
            "Room: $Event.CodeSignal.Live.Link",
            "<p>no link here</p>",
            1,
        ),
        &CalendarOptions::default(),
    );
    let only = live_link(&single.links, Scope::Event, Some("evt-1")).unwrap();
    assert_eq!(conference(&single.invites[0]).as_deref(), Some(only));
    // Template links are not the live session: an interviewer given only one gets the
    // description alone.
    let templates = resolve_json(
        &panel_with("Hi", "<p>$Event.CodeSignal.Template.Link</p>", 1),
        &CalendarOptions::default(),
    );
    assert_eq!(conference(&templates.invites[1]), None);
}

#[test]
fn awkward_values_are_escaped_folded_and_read_back_whole() {
    let mut panel: Value = serde_json::from_str(PANEL).unwrap();
    let name = "Zoë \"Z\" O'Brien, Ph.D.; 🎉";
    panel["interview"]["candidate"]["name"] = name.into();
    panel["templates"]["candidate"]["subject"] = "Réunion; étape 1, café \\ thé — $Candidate.Name "
        .repeat(3)
        .into();
    panel["templates"]["candidate"]["body"] =
        "Ligne 1\r\nLigne 2; a,b\\c\n\tindent 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉\n"
            .into();
    let resolution = resolve_json(
        &panel.to_string(),
        &CalendarOptions {
            organizer: "mailto:recruiting@example.com".parse().unwrap(),
            ..CalendarOptions::default()
        },
    );
    let candidate = &resolution.invites[0];
    for line in candidate.ics.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
    }
    let (_, event) = parse(&candidate.ics);
    assert_eq!(
        text(&event, &ICalendarProperty::Summary),
        Some(candidate.subject.as_str())
    );
    // TEXT holds no CR: a CRLF line break comes back as LF.
    assert_eq!(
        text(&event, &ICalendarProperty::Description),
        Some(candidate.body.replace("\r\n", "\n").as_str())
    );
    assert_eq!(
        event
            .property(&ICalendarProperty::Organizer)
            .unwrap()
            .calendar_address(),
        Some("recruiting@example.com")
    );
    // The quotes go as RFC 6868 `^'`, which calcard leaves encoded.
    let attendee = event.property(&ICalendarProperty::Attendee).unwrap();
    let cn = attendee.params[0].value.as_text().unwrap();
    assert_eq!(cn, name.replace('"', "^'"));
}

#[test]
fn bad_organizers_are_refused() {
    for bad in ["scheduling@example.com", "mailto:a\r\nATTENDEE:mailto:x@y"] {
        let err = bad.parse::<Organizer>().unwrap_err().to_string();
        assert!(err.contains("mailto:"), "{err}");
    }
}

fn invitoken() -> Command {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.env("INVITOKEN_LEDGER", scratch::fresh_ledger())
        .env_remove("CODESIGNAL_API_KEY")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn cli_ics_dir_writes_one_file_per_invite_as_in_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("invites");
    let out = invitoken()
        .args(["resolve", "fixtures/panel.json", "--sandbox", "--ics-dir"])
        .arg(&out_dir)
        .args(["--sequence", "2", "--organizer", "mailto:hr@example.com"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "candidate.ics",
            "interviewer-evt-1-grace.ics",
            "interviewer-evt-2-barbara.ics",
            "interviewer-evt-2-edsger.ics",
            "interviewer-evt-3-ken.ics",
        ],
        "no temp file is left"
    );
    for invite in json["invites"].as_array().unwrap() {
        let name = match invite["event_id"].as_str() {
            None => "candidate.ics".to_owned(),
            Some(id) => {
                let email = invite["recipient"].as_str().unwrap();
                format!("interviewer-{id}-{}.ics", email.split('@').next().unwrap())
            }
        };
        let file = std::fs::read_to_string(out_dir.join(&name)).unwrap();
        keep_file(&name, &file);
        assert_eq!(invite["ics"].as_str(), Some(file.as_str()), "{name}");
        assert!(file.contains("\r\nSEQUENCE:2\r\n"), "{name}");
        assert!(
            file.contains("\r\nORGANIZER:mailto:hr@example.com\r\n"),
            "{name}"
        );
        parse(&file);
    }
}

#[test]
fn cli_ics_dir_gets_nothing_when_resolve_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("invites");
    let mut panel: Value = serde_json::from_str(PANEL).unwrap();
    panel["templates"]["candidate"]["body"] = "$Interview.CodeSignal.Live.Lnk".into();
    invitoken()
        .args(["resolve", "-", "--sandbox", "--ics-dir"])
        .arg(&out_dir)
        .write_stdin(panel.to_string())
        .assert()
        .code(1)
        .stdout("");
    let written = std::fs::read_dir(&out_dir).map_or(0, |d| d.count());
    assert_eq!(written, 0);

    invitoken()
        .args(["resolve", "fixtures/panel.json", "--sandbox"])
        .args(["--organizer", "hr@example.com", "--ics-dir"])
        .arg(&out_dir)
        .assert()
        .code(2)
        .stdout("");
    let written = std::fs::read_dir(&out_dir).map_or(0, |d| d.count());
    assert_eq!(written, 0);
}
