//! Stage 4: write every invite with its tokens replaced.
//!
//! Tokens are bound exactly as the planner bound them ([`crate::plan::bind`]), so every link an
//! invite shows was planned and minted. Values are escaped for where they go: html bodies get
//! html escaping (text and attributes), subjects get line breaks folded to spaces.

use std::collections::HashMap;
use std::ops::Range;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::mint::{Link, SafeUrl};
use crate::parse::{Finding, Template, Token};
use crate::plan::{Binding, Field, Invitation, Located, MintKey, Role, TemplateSet};
use crate::plan::{bind, inside_tag, invitations};
use crate::request::{Event, Format, Request};

/// One rendered invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invite {
    /// Candidate or interviewer.
    pub role: Role,
    /// The recipient's email.
    pub recipient: String,
    /// The recipient's name.
    pub recipient_name: String,
    /// The event of an interviewer's invite; `None` for the candidate's.
    pub event_id: Option<String>,
    /// Subject line, plain text.
    pub subject: String,
    /// Body, in `format`.
    pub body: String,
    /// How the body is written.
    pub format: Format,
    /// The invite as an iCalendar object (`METHOD:REQUEST`, CRLF lines): see
    /// [`crate::ics::invite`]. Written by [`crate::resolve`]; empty from [`render`] alone.
    pub ics: String,
}

/// Why rendering failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Tokens that cannot be bound in some invite.
    #[error("{} token(s) cannot be resolved", .0.len())]
    Unbound(Vec<Located>),
    /// A link the invites need was not minted: the links do not belong to this request's plan.
    #[error("no link was minted for {0}")]
    MissingLink(MintKey),
}

/// How a time is shown in an invite: `Tue 2 Mar 2027, 09:00 CET`, in the recipient's zone.
pub fn format_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// Appends `value` escaped for html text and double- or single-quoted attributes.
pub fn escape_html(value: &str, out: &mut String) {
    // Most values (names, times, URLs) need nothing: a branch-free pass the compiler can
    // vectorise decides that before the byte-by-byte loop.
    let special = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    if !value.bytes().fold(false, |any, b| any | special(b)) {
        out.push_str(value);
        return;
    }
    let mut last = 0;
    for (i, b) in value.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&value[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&value[last..]);
}

/// Where a value goes, and so how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Subject,
    Text,
    Html,
}

impl Sink {
    fn put(self, value: &str, out: &mut String) {
        match self {
            Sink::Html => escape_html(value, out),
            Sink::Text => out.push_str(value),
            Sink::Subject => {
                for (i, line) in value.lines().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(line);
                }
            }
        }
    }
}

/// Whether a token at `span` of a template must stand for one value.
pub(crate) fn single_value(
    subject: bool,
    format: Format,
    source: &str,
    span: &Range<usize>,
) -> bool {
    subject || (format == Format::Html && inside_tag(source, span.start))
}

/// Renders every invite of a request, with the links minted for its plan. Fails closed: if any
/// token of any invite cannot be resolved, no invite is returned.
pub fn render(
    request: &Request,
    templates: &TemplateSet<'_>,
    links: &[Link],
) -> Result<Vec<Invite>, RenderError> {
    let urls: HashMap<&MintKey, &SafeUrl> = links.iter().map(|l| (&l.key, &l.url)).collect();
    let mut invites = Vec::new();
    let mut unbound = Vec::new();
    for invite in invitations(request, templates) {
        let t = templates
            .of(invite.role)
            .expect("invitations have templates");
        let (subject_field, body_field) = match invite.role {
            Role::Candidate => (Field::CandidateSubject, Field::CandidateBody),
            Role::Interviewer => (Field::InterviewerSubject, Field::InterviewerBody),
        };
        let body_sink = match t.format {
            Format::Text => Sink::Text,
            Format::Html => Sink::Html,
        };
        let mut expand = |template: &Template<'_>, field: Field, sink: Sink| {
            let mut out = String::with_capacity(template.source().len() + 256);
            let result = template.expand(&mut out, |token, span, out| {
                let single = single_value(sink == Sink::Subject, t.format, template.source(), span);
                match bind(request, &invite, token, single) {
                    Ok(binding) => write_value(request, &invite, token, binding, &urls, sink, out),
                    Err(kind) => {
                        unbound.push(Located {
                            field,
                            finding: Finding {
                                span: span.clone(),
                                kind,
                            },
                        });
                        Ok(())
                    }
                }
            });
            result.map(|()| out)
        };
        let subject = expand(&t.subject, subject_field, Sink::Subject)?;
        let body = expand(&t.body, body_field, body_sink)?;
        invites.push(Invite {
            role: invite.role,
            recipient: invite.email.to_owned(),
            recipient_name: invite.name.to_owned(),
            event_id: invite.event.map(|e| e.id.clone()),
            subject,
            body,
            format: t.format,
            ics: String::new(),
        });
    }
    if unbound.is_empty() {
        Ok(invites)
    } else {
        unbound.sort_by_key(|l| (l.field, l.finding.span.start));
        unbound.dedup();
        Err(RenderError::Unbound(unbound))
    }
}

fn write_value(
    request: &Request,
    invite: &Invitation<'_>,
    token: Token,
    binding: Binding<'_>,
    urls: &HashMap<&MintKey, &SafeUrl>,
    sink: Sink,
    out: &mut String,
) -> Result<(), RenderError> {
    let time = |at| format_time(at, invite.zone);
    let name = &request.interview.candidate.name;
    match binding {
        Binding::CandidateName => sink.put(name, out),
        Binding::CandidateFirstName => {
            sink.put(name.split_whitespace().next().unwrap_or(name), out)
        }
        Binding::Topic(e) => sink.put(&e.topic, out),
        Binding::Start(e) | Binding::InterviewStart(e) => sink.put(&time(e.start), out),
        Binding::End(e) => sink.put(&time(e.end), out),
        Binding::Links { keys, list } => {
            for (i, (event, key)) in keys.iter().enumerate() {
                let url = urls
                    .get(key)
                    .ok_or_else(|| RenderError::MissingLink(key.clone()))?;
                if !list {
                    sink.put(url.as_str(), out);
                    continue;
                }
                let event: &Event = event.expect("listed links are event links");
                if i > 0 {
                    out.push_str(if sink == Sink::Html { "<br>\n" } else { "\n" });
                }
                sink.put(&format!("{}, {}: ", time(event.start), event.topic), out);
                if sink == Sink::Html {
                    out.push_str("<a href=\"");
                    escape_html(url.as_str(), out);
                    out.push_str("\">");
                    escape_html(url.as_str(), out);
                    out.push_str("</a>");
                } else {
                    out.push_str(url.as_str());
                }
            }
            debug_assert!(token.link().is_some());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_in_an_invite() {
        let at = "2027-03-02T08:00:00Z".parse().unwrap();
        assert_eq!(
            format_time(at, "Europe/Berlin".parse().unwrap()),
            "Tue 2 Mar 2027, 09:00 CET"
        );
        assert_eq!(format_time(at, Tz::UTC), "Tue 2 Mar 2027, 08:00 UTC");
        assert_eq!(
            format_time(at, "America/New_York".parse().unwrap()),
            "Tue 2 Mar 2027, 03:00 EST"
        );
    }

    #[test]
    fn html_escaping_covers_text_and_attributes() {
        let mut out = String::new();
        escape_html(r#"A & <B> "q" 'r'"#, &mut out);
        assert_eq!(out, "A &amp; &lt;B&gt; &quot;q&quot; &#39;r&#39;");
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let mut out = String::new();
        Sink::Subject.put("a\r\nb\nc", &mut out);
        assert_eq!(out, "a b c");
    }
}
