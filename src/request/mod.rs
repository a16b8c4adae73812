//! The scheduling request: one interview, its events and people, and the invite templates.
//!
//! Parsed with serde (unknown fields are refused, so a misspelt `templateId` is an error rather
//! than silently ignored) and then checked as a whole, so that every problem of a request is
//! reported at once, each naming its field. A [`Request`] only exists checked: serde reads the
//! unchecked shape and turns it into a `Request` through the rules (`#[serde(try_from)]`), and
//! its private fields keep other crates from building one by hand or changing one once checked
//! (the parts inside are only lent out shared).
//!
//! Every value here reaches an output (an email header, an ICS property, a UID, a file name, a
//! CodeSignal API call), so the rules are an attacker's checklist too: ids, emails, time zones
//! and CodeSignal ids hold no control, separator, bidi or invisible characters, emails are real
//! addresses (`email_address`, no display name, no domain literal, a dot in the domain), and
//! every string has a cap on its length.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use email_address::EmailAddress;
use serde::Deserialize;

use crate::util::shown;

/// A scheduling request, read from JSON and checked ([`Request::from_json`]); deserializing one
/// with serde runs the same checks.
///
/// Its fields are private and read through [`Request::interview`] and [`Request::templates`],
/// which lend them out shared: a checked request cannot be changed afterwards (emptying its
/// events, say), so everything downstream may rely on the rules having held.
///
/// ```
/// fn events(request: &invitoken::Request) -> usize {
///     request.interview().events.len()
/// }
/// ```
///
/// ```compile_fail
/// fn empty(request: &mut invitoken::Request) {
///     request.interview.events.clear();
/// }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRequest")]
pub struct Request {
    interview: Interview,
    templates: Templates,
}

/// A request as JSON shapes it, before its rules are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    interview: Interview,
    templates: Templates,
}

impl TryFrom<RawRequest> for Request {
    type Error = RequestError;

    fn try_from(raw: RawRequest) -> Result<Request, RequestError> {
        let request = Request {
            interview: raw.interview,
            templates: raw.templates,
        };
        let problems = request.problems();
        if problems.is_empty() {
            Ok(request)
        } else {
            Err(RequestError::Invalid(problems))
        }
    }
}

/// The longest id (interview, event, CodeSignal template or user id), in characters.
pub(crate) const MAX_ID: usize = 200;
/// The longest email address (RFC 5321's limit on a path), in characters.
pub(crate) const MAX_EMAIL: usize = 254;
/// The longest name (candidate, interviewer) or event topic, in characters.
pub(crate) const MAX_NAME: usize = 500;
/// The most events in one interview, and interviewers on one event: each is a mint and an
/// invite, so a request cannot ask for an unbounded number of them.
pub(crate) const MAX_PEOPLE: usize = 100;

/// An interview: the candidate's whole meeting with the team, made of one or more events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interview {
    /// The scheduling product's id of the interview.
    pub id: String,
    /// The candidate.
    pub candidate: Candidate,
    /// CodeSignal options for the whole interview.
    #[serde(default)]
    pub codesignal: CodeSignalOptions,
    /// The events (interviewer sessions), at least one.
    pub events: Vec<Event>,
}

/// The candidate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Full name, as shown in invites.
    pub name: String,
    /// Email address: the recipient of the candidate's invite.
    pub email: String,
    /// IANA time zone of the candidate's invite; UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// One event: a session with one interviewer or a panel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The scheduling product's id of the event, unique in the interview.
    pub id: String,
    /// What the session is about, shown in invites.
    pub topic: String,
    /// Start, RFC 3339.
    pub start: DateTime<Utc>,
    /// End, RFC 3339, after the start.
    pub end: DateTime<Utc>,
    /// Who interviews; each gets an invite for this event.
    #[serde(default)]
    pub interviewers: Vec<Interviewer>,
    /// CodeSignal options for this event.
    #[serde(default)]
    pub codesignal: CodeSignalOptions,
}

/// An interviewer of one event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interviewer {
    /// Name.
    pub name: String,
    /// Email address: the recipient of this interviewer's invite.
    pub email: String,
    /// IANA time zone of this interviewer's invites; UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The interviewer's CodeSignal user id, used as `interviewerId` when minting event links.
    #[serde(default)]
    pub codesignal_user_id: Option<String>,
}

/// CodeSignal options of an interview or an event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSignalOptions {
    /// Interview template that `…Template.Link` tokens launch.
    #[serde(default)]
    pub template_id: Option<String>,
}

/// The invite templates; at least one of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// The candidate's invite (one for the whole interview).
    #[serde(default)]
    pub candidate: Option<InviteTemplate>,
    /// Each interviewer's invite (one per interviewer per event).
    #[serde(default)]
    pub interviewer: Option<InviteTemplate>,
}

/// One invite template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteTemplate {
    /// Subject line: plain text in every format.
    pub subject: String,
    /// Body.
    pub body: String,
    /// How the body is written.
    #[serde(default)]
    pub format: Format,
}

/// How an invite body is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text: values are inserted as they are.
    #[default]
    Text,
    /// HTML: values are escaped for html text and attributes.
    Html,
}

/// Why a request was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The JSON does not parse, or does not have the request's shape.
    #[error("{path}: {message} (line {line}, column {column})")]
    Json {
        /// Where, as a path like `interview.events[1].start` (`.` for the whole document).
        path: String,
        /// What serde said.
        message: String,
        /// 1-based line in the JSON.
        line: usize,
        /// 1-based column in the JSON.
        column: usize,
    },
    /// The request parses but breaks a rule; every broken rule is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<Invalid>),
}

/// One broken rule of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, as a path like `interview.events[1].end`.
    pub path: String,
    /// What is wrong with it, and how to fix it.
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn list(problems: &[Invalid]) -> String {
    problems
        .iter()
        .map(Invalid::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Request {
    /// The interview to schedule: its id, candidate and events (at least one, ids unique, each
    /// ending after it starts).
    pub fn interview(&self) -> &Interview {
        &self.interview
    }

    /// The interview, mutable: for this crate's unit tests of what a request that broke the
    /// rules would do (no event, say). Nothing outside tests can get one.
    #[cfg(test)]
    pub(crate) fn interview_mut(&mut self) -> &mut Interview {
        &mut self.interview
    }

    /// The invite templates (at least one of the two).
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Parses and checks a request: one JSON document (a UTF-8 byte order mark before it is
    /// skipped; anything but whitespace after it is refused).
    pub fn from_json(json: &str) -> Result<Request, RequestError> {
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        let json_error = |path: String, inner: serde_json::Error| RequestError::Json {
            path,
            message: strip_position(&inner.to_string()),
            line: inner.line(),
            column: inner.column(),
        };
        let de = &mut serde_json::Deserializer::from_str(json);
        let raw: RawRequest = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            json_error(path, e.into_inner())
        })?;
        // A second document or garbage after the first would otherwise be dropped unseen: the
        // request someone meant may be the part that was ignored.
        de.end().map_err(|e| json_error(".".to_owned(), e))?;
        Request::try_from(raw)
    }

    fn problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut bad = |path: String, message: String| out.push(Invalid { path, message });
        let iv = &self.interview;
        check_id("interview.id", &iv.id, "the interview's id", &mut bad);
        check_name("interview.candidate.name", &iv.candidate.name, &mut bad);
        check_email(
            "interview.candidate.email",
            &iv.candidate.email,
            "the candidate's invite",
            &mut bad,
        );
        check_zone(
            "interview.candidate.timezone",
            &iv.candidate.timezone,
            &mut bad,
        );
        check_options("interview.codesignal", &iv.codesignal, &mut bad);
        if iv.events.is_empty() {
            bad(
                "interview.events".into(),
                "is empty; an interview has at least one event".into(),
            );
        } else if iv.events.len() > MAX_PEOPLE {
            bad(
                "interview.events".into(),
                format!(
                    "has {} events; at most {MAX_PEOPLE} fit one request, split the interview",
                    iv.events.len()
                ),
            );
        }
        let candidate = address_key(&iv.candidate.email);
        let mut seen = HashSet::new();
        for (i, e) in iv.events.iter().enumerate() {
            let at = format!("interview.events[{i}]");
            if check_id(&format!("{at}.id"), &e.id, "the event's id", &mut bad)
                && !seen.insert(e.id.as_str())
            {
                bad(
                    format!("{at}.id"),
                    format!(
                        "`{}` is used by an earlier event; event ids must be unique",
                        shown(&e.id)
                    ),
                );
            }
            check_name(&format!("{at}.topic"), &e.topic, &mut bad);
            for (field, time) in [("start", e.start), ("end", e.end)] {
                check_year(&format!("{at}.{field}"), time, &mut bad);
            }
            if e.end <= e.start {
                bad(
                    format!("{at}.end"),
                    format!(
                        "{} is not after the start {}; an event ends after it starts",
                        e.end.to_rfc3339(),
                        e.start.to_rfc3339()
                    ),
                );
            }
            check_options(&format!("{at}.codesignal"), &e.codesignal, &mut bad);
            if e.interviewers.len() > MAX_PEOPLE {
                bad(
                    format!("{at}.interviewers"),
                    format!(
                        "has {} interviewers; at most {MAX_PEOPLE} fit one event",
                        e.interviewers.len()
                    ),
                );
            }
            // One invite per address per event: the same person twice would get two invites
            // (and two mints of nothing new), and the candidate must never get an
            // interviewer's invite, which may carry the interviewer's links.
            let mut people: Vec<(String, usize)> = Vec::new();
            let mut users: Vec<(&String, usize)> = Vec::new();
            for (j, p) in e.interviewers.iter().enumerate() {
                let at = format!("{at}.interviewers[{j}]");
                check_name(&format!("{at}.name"), &p.name, &mut bad);
                let path = format!("{at}.email");
                if check_email(&path, &p.email, "each interviewer's invite", &mut bad) {
                    let key = address_key(&p.email);
                    if let Some((_, k)) = people.iter().find(|(other, _)| *other == key) {
                        bad(
                            path,
                            format!(
                                "`{}` is already interviewers[{k}] of this event; list each interviewer once",
                                shown(&p.email)
                            ),
                        );
                    } else if key == candidate {
                        bad(
                            path,
                            format!(
                                "`{}` is the candidate's email; the candidate cannot interview",
                                shown(&p.email)
                            ),
                        );
                    } else {
                        people.push((key, j));
                    }
                }
                check_zone(&format!("{at}.timezone"), &p.timezone, &mut bad);
                if let Some(user) = &p.codesignal_user_id {
                    let path = format!("{at}.codesignal_user_id");
                    if check_id(
                        &path,
                        user,
                        "the interviewer's CodeSignal user id, or leave the field out",
                        &mut bad,
                    ) {
                        if let Some((_, k)) = users.iter().find(|(other, _)| *other == user) {
                            bad(
                                path,
                                format!(
                                    "`{}` is already the CodeSignal user of interviewers[{k}] of this event; list each interviewer once",
                                    shown(user)
                                ),
                            );
                        } else {
                            users.push((user, j));
                        }
                    }
                }
            }
        }
        if self.templates.candidate.is_none() && self.templates.interviewer.is_none() {
            bad(
                "templates".into(),
                "has neither `candidate` nor `interviewer`; give at least one invite template"
                    .into(),
            );
        } else if self.templates.candidate.is_none()
            && !iv.events.is_empty()
            && iv.events.iter().all(|e| e.interviewers.is_empty())
        {
            // Resolving it would succeed and write nothing: a request that cannot reach anyone
            // is a mistake (interviewers left out) better told than silently done.
            bad(
                "templates.interviewer".into(),
                "is the only template, but no event has an interviewer, so there is no invite \
                 to write; list the events' interviewers or give a `candidate` template"
                    .into(),
            );
        }
        out
    }
}

/// Characters no id, email or time zone may hold: what [`shown`] would have to escape (controls,
/// line separators, bidi overrides) and the invisible ones (zero-width, word joiner, BOM), which
/// make two ids that look the same differ.
fn forbidden(c: char) -> bool {
    crate::util::needs_escape(c)
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{ad}')
}

/// Checks an id (or another identifier such as a CodeSignal template id): not blank, no
/// forbidden character, at most [`MAX_ID`] characters. `what` completes "give ...". Whether it
/// passed.
fn check_id(path: &str, value: &str, what: &str, bad: &mut impl FnMut(String, String)) -> bool {
    let problem = if value.trim().is_empty() {
        format!("is empty; give {what}")
    } else if let Some(c) = value.chars().find(|&c| forbidden(c)) {
        format!(
            "`{}` holds the control or invisible character U+{:04X}; ids are printable text",
            shown(value),
            c as u32
        )
    } else if value.trim() != value {
        format!(
            "`{}` starts or ends with a space; ids that look the same must be the same",
            shown(value)
        )
    } else if value.chars().count() > MAX_ID {
        format!(
            "is {} characters long; ids are at most {MAX_ID}",
            value.chars().count()
        )
    } else {
        return true;
    };
    bad(path.to_owned(), problem);
    false
}

/// Caps a name or topic. Line breaks and other controls in them are the renderer's to neutralise
/// (a subject stays one line); here only the length is bounded.
fn check_name(path: &str, value: &str, bad: &mut impl FnMut(String, String)) {
    let n = value.chars().count();
    if n > MAX_NAME {
        bad(
            path.to_owned(),
            format!("is {n} characters long; names and topics are at most {MAX_NAME}"),
        );
    }
}

/// Checks a recipient's address; `whose` completes "... needs a recipient". Whether it passed.
fn check_email(path: &str, value: &str, whose: &str, bad: &mut impl FnMut(String, String)) -> bool {
    let options = email_address::Options::default()
        .with_required_tld()
        .without_domain_literal()
        .without_display_text();
    let problem = if value.trim().is_empty() {
        format!("is empty; {whose} needs a recipient")
    } else if value.chars().count() > MAX_EMAIL {
        format!(
            "is {} characters long; an email address is at most {MAX_EMAIL}",
            value.chars().count()
        )
    } else if value
        .chars()
        .any(|c| forbidden(c) || c.is_whitespace() || c == '"')
    {
        // email_address accepts quoted local parts (`"a b"@x.org`) and bidi overrides; neither
        // belongs in a header or an ATTENDEE line of an invite.
        format!(
            "`{}` holds a space, quote, control or invisible character; give a plain address like `name@example.com`",
            shown(value)
        )
    } else if let Err(e) = EmailAddress::parse_with_options(value, options) {
        format!(
            "`{}` is not an email address ({e}); give a plain address like `name@example.com`",
            shown(value)
        )
    } else {
        return true;
    };
    bad(path.to_owned(), problem);
    false
}

/// The address as compared for "the same person": domains are case-insensitive, and so are
/// local parts at every provider that matters.
fn address_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The years an event may lie in. Outside them a date is a typo (`0027` for `2027`), and the
/// outputs break: an `.ics` date-time has four digits of year, which an end in the last second
/// of 9999 overflows once its fraction is rounded up.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=2999;

fn check_year(path: &str, at: DateTime<Utc>, bad: &mut impl FnMut(String, String)) {
    use chrono::Datelike;
    if !YEARS.contains(&at.year()) {
        bad(
            path.to_owned(),
            format!(
                "{} is outside the years {} to {}; check the date",
                at.to_rfc3339(),
                YEARS.start(),
                YEARS.end()
            ),
        );
    }
}

/// A `template_id` given must name a template: an empty one would mint template sessions with
/// none.
fn check_options(path: &str, options: &CodeSignalOptions, bad: &mut impl FnMut(String, String)) {
    if let Some(id) = &options.template_id {
        check_id(
            &format!("{path}.template_id"),
            id,
            "the CodeSignal interview template's id, or leave the field out",
            bad,
        );
    }
}

fn check_zone(path: &str, zone: &Option<String>, bad: &mut impl FnMut(String, String)) {
    if let Some(name) = zone
        && name.parse::<Tz>().is_err()
    {
        bad(
            path.to_owned(),
            format!(
                "`{}` is not an IANA time zone name (like `Europe/London` or `UTC`)",
                shown(name)
            ),
        );
    }
}

/// serde_json appends " at line L column C"; the error carries those as fields already.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The time zone a person's invites are shown in: the named one, else UTC. Names were checked
/// when the request was parsed.
pub(crate) fn zone_of(name: &Option<String>) -> Tz {
    name.as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "interview": {"id": "int-1",
        "candidate": {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "Europe/London"},
        "events": [{"id": "e1", "topic": "T", "start": "2027-03-02T08:00:00Z", "end": "2027-03-02T09:00:00Z",
                    "interviewers": [{"name": "G", "email": "g@example.com"}]}]},
      "templates": {"candidate": {"subject": "s", "body": "b"}}
    }"#;

    #[test]
    fn good_request_parses() {
        let r = Request::from_json(GOOD).unwrap();
        assert_eq!(r.interview.events[0].id, "e1");
        assert_eq!(r.templates.candidate.unwrap().format, Format::Text);
    }

    #[test]
    fn json_errors_name_the_field() {
        let bad = GOOD.replace(
            r#""start": "2027-03-02T08:00:00Z""#,
            r#""start": "tomorrow""#,
        );
        match Request::from_json(&bad).unwrap_err() {
            RequestError::Json { path, line, .. } => {
                assert_eq!(path, "interview.events[0].start");
                assert_eq!(line, 4);
            }
            other => panic!("{other:?}"),
        }
        let typo = GOOD.replace(r#""topic": "T""#, r#""topic": "T", "templateId": "x""#);
        let err = Request::from_json(&typo).unwrap_err().to_string();
        assert!(
            err.contains("interview.events[0]") && err.contains("templateId"),
            "{err}"
        );
    }

    #[test]
    fn every_broken_rule_is_listed() {
        let bad = GOOD
            .replace("Europe/London", "Europe/Lndon")
            .replace(
                r#""end": "2027-03-02T09:00:00Z""#,
                r#""end": "2027-03-02T07:00:00Z""#,
            )
            .replace(r#""id": "int-1""#, r#""id": " ""#);
        let RequestError::Invalid(problems) = Request::from_json(&bad).unwrap_err() else {
            panic!("expected Invalid");
        };
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "interview.id",
                "interview.candidate.timezone",
                "interview.events[0].end"
            ]
        );
    }

    #[test]
    fn duplicate_event_ids_are_refused() {
        let r: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        let mut r = r;
        let ev = r["interview"]["events"][0].clone();
        r["interview"]["events"].as_array_mut().unwrap().push(ev);
        let RequestError::Invalid(problems) = Request::from_json(&r.to_string()).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        assert_eq!(problems[0].path, "interview.events[1].id");
        assert!(problems[0].message.contains("unique"));
    }
}
