//! The scheduling request: one interview, its events and people, and the invite templates.
//!
//! Parsed with serde (unknown fields are refused, so a misspelt `templateId` is an error rather
//! than silently ignored) and then checked as a whole, so that every problem of a request is
//! reported at once, each naming its field.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// A scheduling request, as read from JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The interview to schedule.
    pub interview: Interview,
    /// The invite templates.
    pub templates: Templates,
}

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
    /// Parses and checks a request.
    pub fn from_json(json: &str) -> Result<Request, RequestError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let request: Request = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            RequestError::Json {
                path,
                message: strip_position(&inner.to_string()),
                line: inner.line(),
                column: inner.column(),
            }
        })?;
        let problems = request.problems();
        if problems.is_empty() {
            Ok(request)
        } else {
            Err(RequestError::Invalid(problems))
        }
    }

    fn problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut bad = |path: String, message: String| out.push(Invalid { path, message });
        let iv = &self.interview;
        if iv.id.trim().is_empty() {
            bad(
                "interview.id".into(),
                "is empty; give the interview's id".into(),
            );
        }
        if iv.candidate.email.trim().is_empty() {
            bad(
                "interview.candidate.email".into(),
                "is empty; the candidate's invite needs a recipient".into(),
            );
        }
        check_zone(
            "interview.candidate.timezone",
            &iv.candidate.timezone,
            &mut bad,
        );
        if iv.events.is_empty() {
            bad(
                "interview.events".into(),
                "is empty; an interview has at least one event".into(),
            );
        }
        let mut seen = HashSet::new();
        for (i, e) in iv.events.iter().enumerate() {
            let at = format!("interview.events[{i}]");
            if e.id.trim().is_empty() {
                bad(format!("{at}.id"), "is empty; give the event's id".into());
            } else if !seen.insert(e.id.as_str()) {
                bad(
                    format!("{at}.id"),
                    format!(
                        "`{}` is used by an earlier event; event ids must be unique",
                        e.id
                    ),
                );
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
            for (j, p) in e.interviewers.iter().enumerate() {
                let at = format!("{at}.interviewers[{j}]");
                if p.email.trim().is_empty() {
                    bad(
                        format!("{at}.email"),
                        "is empty; each interviewer's invite needs a recipient".into(),
                    );
                }
                check_zone(&format!("{at}.timezone"), &p.timezone, &mut bad);
            }
        }
        if self.templates.candidate.is_none() && self.templates.interviewer.is_none() {
            bad(
                "templates".into(),
                "has neither `candidate` nor `interviewer`; give at least one invite template"
                    .into(),
            );
        }
        out
    }
}

fn check_zone(path: &str, zone: &Option<String>, bad: &mut impl FnMut(String, String)) {
    if let Some(name) = zone
        && name.parse::<Tz>().is_err()
    {
        bad(
            path.to_owned(),
            format!("`{name}` is not an IANA time zone name (like `Europe/London` or `UTC`)"),
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
