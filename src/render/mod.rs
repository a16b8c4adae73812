//! Stage 4: write every invite with its tokens replaced.
//!
//! Tokens are bound exactly as the planner bound them: both follow one walk
//! ([`InviteWalk::parts`](crate::InviteWalk::parts)), from the same
//! contexts, decided once per token occurrence when the templates were parsed
//! ([`crate::Context`]: an HTML body's come from a WHATWG tokenizer), so every link an invite
//! shows was planned and minted, and a value is written the way its context says: HTML-escaped
//! in HTML text and quoted attributes, a list of links only in text, and every line break or
//! control character of a subject as one space.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::mint::{Link, SafeUrl};
use crate::parse::{Context, Token, breaks_line};
use crate::plan::{self, Binding, Invitation, Located, MintKey, Part, Role, TemplateSet, Unbound};
use crate::request::{Event, Format, Request};
pub use crate::util::html::escape_html;

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

/// `subject` with each run of line breaks and control characters (CR, LF, VT, FF, NUL, NEL,
/// U+2028, U+2029, ...) written as one space: a subject is one line, whatever a value holds.
pub fn one_line(subject: &str) -> Cow<'_, str> {
    if !subject.chars().any(breaks_line) {
        return Cow::Borrowed(subject);
    }
    let mut out = String::with_capacity(subject.len());
    let mut in_run = false;
    for c in subject.chars() {
        if breaks_line(c) {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    Cow::Owned(out)
}

/// Appends `value` as its context writes it.
fn put(context: Context, value: &str, out: &mut String) {
    match context {
        Context::HtmlText | Context::HtmlAttribute => escape_html(value, out),
        // A subject is folded to one line once it is whole.
        Context::Text | Context::Subject => out.push_str(value),
    }
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
    let mut unbound = Unbound::default();
    for walk in plan::invites(request, templates) {
        let invite = &walk.invite;
        let mut expand = |subject: bool| -> Result<String, RenderError> {
            let (template, _) = walk.templates.with_contexts(subject);
            let mut out = String::with_capacity(template.source().len() + 256);
            for part in walk.parts(request, subject) {
                let o = match part {
                    Part::Text(text) => {
                        out.push_str(text);
                        continue;
                    }
                    Part::Token(o) => o,
                };
                match o.binding {
                    Ok(binding) => write_value(
                        request, invite, o.token, binding, &urls, o.context, &mut out,
                    )?,
                    Err(kind) => unbound.push(o.field, o.span, kind),
                }
            }
            Ok(out)
        };
        let subject = one_line(&expand(true)?).into_owned();
        let body = expand(false)?;
        invites.push(Invite {
            role: invite.role,
            recipient: invite.email.to_owned(),
            recipient_name: invite.name.to_owned(),
            event_id: invite.event.map(|e| e.id.clone()),
            subject,
            body,
            format: walk.templates.format,
            ics: String::new(),
        });
    }
    let unbound = unbound.into_sorted();
    if unbound.is_empty() {
        Ok(invites)
    } else {
        Err(RenderError::Unbound(unbound))
    }
}

fn write_value(
    request: &Request,
    invite: &Invitation<'_>,
    token: Token,
    binding: Binding<'_>,
    urls: &HashMap<&MintKey, &SafeUrl>,
    context: Context,
    out: &mut String,
) -> Result<(), RenderError> {
    let time = |at| format_time(at, invite.zone);
    let name = &request.interview().candidate.name;
    let put = |value: &str, out: &mut String| put(context, value, out);
    match binding {
        Binding::CandidateName => put(name, out),
        Binding::CandidateFirstName => put(name.split_whitespace().next().unwrap_or(name), out),
        Binding::Topic(e) => put(&e.topic, out),
        Binding::Start(e) | Binding::InterviewStart(e) => put(&time(e.start), out),
        Binding::End(e) => put(&time(e.end), out),
        Binding::Links { keys, list } => {
            for (i, (event, key)) in keys.iter().enumerate() {
                let url = urls
                    .get(key)
                    .ok_or_else(|| RenderError::MissingLink(key.clone()))?;
                if !list {
                    put(url.as_str(), out);
                    continue;
                }
                // `bind` lists only where a token need not be one value: in text.
                let html = match context {
                    Context::HtmlText => true,
                    Context::Text => false,
                    Context::Subject | Context::HtmlAttribute => {
                        unreachable!("a list of links is written only in text")
                    }
                };
                let event: &Event = event.expect("listed links are event links");
                if i > 0 {
                    out.push_str(if html { "<br>\n" } else { "\n" });
                }
                put(&format!("{}, {}: ", time(event.start), event.topic), out);
                if html {
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
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("a\r\nb\nc"), "a b c");
        assert_eq!(
            one_line("a\rb\u{b}c\u{c}d\0e\u{85}f\u{2028}g\u{2029}h\t\x1b[2Ji\u{7f}\u{9b}j"),
            "a b c d e f g h [2Ji j"
        );
        assert!(matches!(one_line("plain é"), Cow::Borrowed("plain é")));
    }
}
