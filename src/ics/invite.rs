//! An `.ics` for every resolved invite: one `METHOD:REQUEST` calendar object per [`Invite`], so
//! the recipient's calendar shows the session, with its link, at the right time.
//!
//! What one holds (a VCALENDAR with `PRODID`, `VERSION:2.0`, `METHOD:REQUEST` and one VEVENT):
//!
//! - `UID`: `<interview_id>.<event_id>@invitoken` for an interviewer's invite (one event),
//!   `<interview_id>@invitoken` for the candidate's (the whole interview), each id
//!   percent-encoded ([`invite_uid`]). Made of ids only, so a re-send (with a higher `SEQUENCE`,
//!   see [`CalendarOptions`]) updates the calendar entry instead of adding a second one. The
//!   interviewers of one event share its UID: it is one meeting.
//! - `DTSTART`/`DTEND` in UTC: an interviewer's span their event; the candidate's span the first
//!   event's start to the last event's end.
//! - `ORGANIZER` from [`CalendarOptions`], and one `ATTENDEE`: the recipient, with `CN`,
//!   `RSVP=TRUE` and `PARTSTAT=NEEDS-ACTION`. Nobody else is listed, not even the candidate on an
//!   interviewer's invite: each body is written for its recipient (an interviewer's may carry the
//!   template link), and a client that forwards a REQUEST to its attendees must not send it to
//!   anyone else.
//! - `SUMMARY` is the subject. `DESCRIPTION` is a text body as it is; an html body goes whole in
//!   `X-ALT-DESC;FMTTYPE=text/html`, with its plain text ([`html_to_text`]) in `DESCRIPTION` for
//!   clients that ignore `X-ALT-DESC`. TEXT cannot hold a carriage return, so a `\r\n` line break
//!   comes back as `\n`.
//! - `LOCATION` and RFC 7986 `CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=CodeSignal` carry the
//!   session's live link: for an interviewer, that event's live link if one was minted, else the
//!   interview's; for the candidate, the interview's live link, else the event live link when
//!   exactly one was minted. Otherwise both are left out and the links are in the description.
//!
//! # Why the content lines are written here, not with the `icalendar` crate
//!
//! The design card named `icalendar`. Built with icalendar 0.17.17 from one of these invites, its
//! output fails RFC 5545 in ways a mail client will meet (measured with a scratch program; the
//! numbers are its output):
//!
//! - **76-octet lines.** Its `fold_line` stops folding once at most 75 octets *of the value* are
//!   left and then writes them after the continuation SPACE: a 232-byte `SUMMARY` line came out
//!   as 75, 75 and **76** octets. RFC 5545 3.1 allows 75.
//! - **Bare CR in TEXT.** It escapes `\n` but leaves `\r`: a body with `\r\n` line breaks
//!   (email bodies often have them) came out as `DESCRIPTION:Hi Ada\,<CR>\n<CR>\n...`, a raw
//!   control character inside a content line, which RFC 5545 3.3.11 forbids and some parsers
//!   read as a line end.
//! - **Unquotable parameter values.** A `CN` holding a DQUOTE is written raw: the name
//!   `Doe: "J"` came out as `ATTENDEE;CN="Doe: "J"":mailto:...`, a line whose parameters no
//!   parser can split. RFC 6868 (`^'`) is the way to carry it; we use it.
//! - It splits escapes across a fold (`...aaa\` / ` ,tail`), which is legal but breaks readers
//!   that unescape before unfolding; [`fold`] never does.
//!
//! (Its TEXT escaping of `\ ; ,` and newlines was right for `SUMMARY`, `DESCRIPTION` and
//! `X-ALT-DESC`.) Every line here goes through [`escape_text`] (TEXT values) and [`fold`]
//! (≤ 75 octets, never inside a UTF-8 sequence or an escape), ending in CRLF, so nothing of the
//! crate would be left but a property map; it is not a dependency.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

use super::line::{escape_text, fold};
use crate::mint::Link;
use crate::parse::{Product, Scope};
use crate::render::Invite;
use crate::request::{Format, Request};

/// The organizer of the invites unless one is given: a mailbox no one reads (RFC 2606).
pub const DEFAULT_ORGANIZER: &str = "mailto:scheduling@invitoken.invalid";

/// The `PRODID` of every invite.
pub const PRODID: &str = concat!(
    "-//invitoken//invitoken ",
    env!("CARGO_PKG_VERSION"),
    "//EN"
);

/// The invites' `ORGANIZER`: a calendar address, a URI such as `mailto:scheduling@example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organizer(String);

impl Organizer {
    /// The address as written in the invites.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Organizer {
    fn default() -> Organizer {
        Organizer(DEFAULT_ORGANIZER.to_owned())
    }
}

impl fmt::Display for Organizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Organizer {
    type Err = IcsError;

    /// Accepts `scheme:rest` with nothing in it that could end or split a content line.
    fn from_str(value: &str) -> Result<Organizer, IcsError> {
        let value = value.trim();
        let well_formed = value.split_once(':').is_some_and(|(scheme, rest)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !rest.is_empty()
        }) && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '<' | '>'));
        if well_formed {
            Ok(Organizer(value.to_owned()))
        } else {
            Err(IcsError::Organizer {
                value: value.to_owned(),
            })
        }
    }
}

/// What the invites of one resolve share.
#[derive(Debug, Clone)]
pub struct CalendarOptions {
    /// Who sends them.
    pub organizer: Organizer,
    /// `SEQUENCE`: 0 for a first send; raise it to update invites already sent.
    pub sequence: u32,
    /// `DTSTAMP`: when the invites were made.
    pub stamp: DateTime<Utc>,
}

impl Default for CalendarOptions {
    /// The default organizer, sequence 0, stamped now.
    fn default() -> CalendarOptions {
        CalendarOptions {
            organizer: Organizer::default(),
            sequence: 0,
            stamp: Utc::now(),
        }
    }
}

/// Why an invite's `.ics` could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IcsError {
    /// The organizer is not a calendar address.
    #[error(
        "`{value}` is not a calendar address; write it as a URI like `mailto:scheduling@example.com`"
    )]
    Organizer {
        /// What was given.
        value: String,
    },
    /// The invite names an event the request does not have: it is not this request's invite.
    #[error("the invite for {recipient} names event `{event_id}`, which the request does not have")]
    UnknownEvent {
        /// The invite's recipient.
        recipient: String,
        /// The event it names.
        event_id: String,
    },
    /// The request has no events, so the candidate's invite has no time.
    #[error("the request has no events; an invite needs a time")]
    NoEvents,
}

/// Writes the `.ics` of one invite of `request`, with the `links` minted for it.
pub fn invite_ics(
    request: &Request,
    links: &[Link],
    invite: &Invite,
    options: &CalendarOptions,
) -> Result<String, IcsError> {
    let interview = request.interview();
    let links: Vec<&Link> = links
        .iter()
        .filter(|l| l.key.interview_id == interview.id && l.key.product == Product::Live)
        .collect();
    let (uid, start, end, conference) = match &invite.event_id {
        Some(id) => {
            let event = interview
                .events
                .iter()
                .find(|e| &e.id == id)
                .ok_or_else(|| IcsError::UnknownEvent {
                    recipient: invite.recipient.clone(),
                    event_id: id.clone(),
                })?;
            let link = links
                .iter()
                .copied()
                .find(|l| l.key.scope == Scope::Event && l.key.event_id.as_ref() == Some(id))
                .or_else(|| interview_link(&links));
            (
                invite_uid(&interview.id, Some(id)),
                event.start,
                event.end,
                link,
            )
        }
        None => {
            let start = interview.events.iter().map(|e| e.start).min();
            let end = interview.events.iter().map(|e| e.end).max();
            let (Some(start), Some(end)) = (start, end) else {
                return Err(IcsError::NoEvents);
            };
            let link = interview_link(&links).or_else(|| {
                let mut events = links
                    .iter()
                    .copied()
                    .filter(|l| l.key.scope == Scope::Event);
                match (events.next(), events.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            });
            (invite_uid(&interview.id, None), start, end, link)
        }
    };

    let mut ics = Lines::default();
    ics.line("BEGIN:VCALENDAR");
    ics.line(&format!("PRODID:{PRODID}"));
    ics.line("VERSION:2.0");
    ics.line("CALSCALE:GREGORIAN");
    ics.line("METHOD:REQUEST");
    ics.line("BEGIN:VEVENT");
    ics.text("UID", &uid);
    ics.line(&format!("SEQUENCE:{}", options.sequence));
    ics.line(&format!("DTSTAMP:{}", utc(options.stamp)));
    ics.line(&format!("DTSTART:{}", utc(start)));
    // A DTEND must come after DTSTART: round a fraction of a second up, never down.
    let end = if end.nanosecond() == 0 {
        end
    } else {
        end.with_nanosecond(0).expect("0 ns is valid") + TimeDelta::seconds(1)
    };
    ics.line(&format!("DTEND:{}", utc(end)));
    ics.text("SUMMARY", &invite.subject);
    ics.line(&format!("ORGANIZER:{}", options.organizer));
    ics.line(&format!(
        "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{}",
        param(&invite.recipient_name),
        mailto(&invite.recipient)
    ));
    if let Some(link) = conference {
        // A SafeUrl holds no whitespace, quotes, backslashes or angle brackets: it is a URI
        // value as it is, and TEXT-escaped for LOCATION.
        ics.text("LOCATION", link.url.as_str());
        ics.line(&format!(
            "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=CodeSignal:{}",
            link.url.as_str()
        ));
    }
    match invite.format {
        Format::Text => ics.text("DESCRIPTION", &invite.body),
        Format::Html => {
            ics.text("DESCRIPTION", &html_to_text(&invite.body));
            ics.text("X-ALT-DESC;FMTTYPE=text/html", &invite.body);
        }
    }
    ics.line("STATUS:CONFIRMED");
    ics.line("END:VEVENT");
    ics.line("END:VCALENDAR");
    Ok(String::from_utf8(ics.0).expect("fold never splits a UTF-8 sequence"))
}

/// What [`invite_uid`] percent-encodes in an id: `%` (the escape itself), `.` (the separator of
/// interview and event ids), `@` (before the domain), TEXT's escaped `,`, `;`, `\` and `"`,
/// space and controls; non-ASCII is always encoded. Ids made of letters, digits and `-_:/+=`
/// (what scheduling products use) come out unchanged, so their UIDs stay what they were before
/// the encoding existed and re-sends still update the same calendar entry.
const UID_RESERVED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'.')
    .add(b'@')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'"');

/// The `UID` of an invite: `<interview>.<event>@invitoken` for an interviewer's (one event),
/// `<interview>@invitoken` for the candidate's, each id percent-encoded: `%`, `.`, `@`, `,`,
/// `;`, `\`, `"`, space, controls and non-ASCII; other characters are kept.
///
/// Injective: an encoded id holds no `.`, so the one `.` (or none) splits the pair back, and
/// percent-encoding decodes; interview `int` with event `x.y` (`int.x%2Ey`) and interview
/// `int.x` with event `y` (`int%2Ex.y`) no longer share a UID.
pub fn invite_uid(interview_id: &str, event_id: Option<&str>) -> String {
    let interview = utf8_percent_encode(interview_id, UID_RESERVED);
    match event_id {
        Some(event) => format!(
            "{interview}.{}@invitoken",
            utf8_percent_encode(event, UID_RESERVED)
        ),
        None => format!("{interview}@invitoken"),
    }
}

fn interview_link<'a>(links: &[&'a Link]) -> Option<&'a Link> {
    links
        .iter()
        .copied()
        .find(|l| l.key.scope == Scope::Interview)
}

/// Content lines, folded at 75 octets and ended with CRLF.
#[derive(Default)]
struct Lines(Vec<u8>);

impl Lines {
    fn line(&mut self, line: &str) {
        fold(line.as_bytes(), b"\r\n", &mut self.0);
    }

    /// A property with a TEXT value (`name` may carry parameters).
    fn text(&mut self, name: &str, value: &str) {
        let mut line = String::with_capacity(name.len() + value.len() + value.len() / 8 + 1);
        line.push_str(name);
        line.push(':');
        // TEXT holds no control character but HTAB; escape_text drops CR and escapes LF.
        let clean: String;
        let value = if value.contains(forbidden) {
            clean = value.chars().filter(|&c| !forbidden(c)).collect();
            &clean
        } else {
            value
        };
        escape_text(value, &mut line);
        self.line(&line);
    }
}

/// RFC 5545 CONTROL characters that [`escape_text`] does not deal with.
fn forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\x7f'
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A parameter value, always quoted, with RFC 6868 caret encoding for what a quoted string
/// cannot hold (`"` and line breaks); other control characters are dropped.
fn param(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '^' => out.push_str("^^"),
            '"' => out.push_str("^'"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("^n");
            }
            '\n' => out.push_str("^n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `mailto:` URI for an address, percent-encoding every byte RFC 6068 does not allow as it is
/// (so no address can end or split the content line).
fn mailto(address: &str) -> String {
    format!(
        "mailto:{}",
        utf8_percent_encode(address.trim(), MAILTO_ESCAPED)
    )
}

/// Every byte but the letters, digits and `-._~!$'()*+@`: what [`mailto`] escapes.
const MAILTO_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b'@');

/// The plain text of an html body, for the `DESCRIPTION` that clients without html show.
///
/// Kept simple, and correct for what invites hold: tags are dropped, and comments, `<script>`
/// and `<style>` with their contents; runs of whitespace in text are one space, as a browser
/// shows them; `<br>`, `div`, `li` and `tr` break the line, and `p`, headings, lists, tables and
/// `blockquote` leave a blank line; a link's target follows its text as `text <url>` (unless the
/// text is the url), so the description keeps every link; `&amp; &lt; &gt; &quot; &apos; &nbsp;`
/// and numeric character references are decoded, other references left as they are. A `<` that
/// starts no tag is text. `<pre>` is not kept verbatim.
pub fn html_to_text(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut text = Plain::default();
    let mut anchors: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(off) = memchr::memchr(b'<', &bytes[i..]) else {
            text.html(&html[i..]);
            break;
        };
        let lt = i + off;
        text.html(&html[i..lt]);
        let after = &html[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            i = comment.find("-->").map_or(bytes.len(), |e| lt + 4 + e + 3);
            continue;
        }
        let starts_tag = after
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?'));
        if !starts_tag {
            text.html("<");
            i = lt + 1;
            continue;
        }
        let Some(gt) = tag_end(bytes, lt + 1) else {
            // An unterminated tag: a browser drops it, and so do we.
            break;
        };
        i = gt + 1;
        let tag = &html[lt + 1..gt];
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let name_len = tag
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let name = tag[..name_len].to_ascii_lowercase();
        match name.as_str() {
            "script" | "style" if !closing => {
                let close = format!("</{name}");
                let lower = html[i..].to_ascii_lowercase();
                i = lower.find(&close).map_or(bytes.len(), |at| {
                    tag_end(bytes, i + at + 1).map_or(bytes.len(), |gt| gt + 1)
                });
            }
            "br" => text.newline(),
            "div" | "li" | "tr" | "dt" | "dd" => text.brk(1),
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol" | "table"
            | "blockquote" | "pre" | "hr" => text.brk(2),
            "td" | "th" => text.space = true,
            "a" if !closing => anchors.push((text.out.len(), href(tag).unwrap_or_default())),
            "a" => {
                if let Some((start, href)) = anchors.pop()
                    && !href.is_empty()
                    && text.out[start.min(text.out.len())..].trim() != href
                {
                    text.space = true;
                    text.visible(&format!("<{href}>"));
                }
            }
            _ => {}
        }
    }
    text.out
}

/// Plain text being written: whitespace and line breaks wait until visible text follows, so runs
/// collapse and nothing trails.
#[derive(Default)]
struct Plain {
    out: String,
    /// Line breaks owed before the next text: 1 a new line, 2 a blank line.
    breaks: u8,
    /// `<br>`s owed; each is a line of its own.
    newlines: usize,
    space: bool,
}

impl Plain {
    /// Text as written in html: references decoded, whitespace collapsed.
    fn html(&mut self, raw: &str) {
        let decoded = decode_references(raw);
        let mut start = None;
        for (at, c) in decoded.char_indices() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
                if let Some(s) = start.take() {
                    self.visible(&decoded[s..at]);
                }
                self.space = true;
            } else if start.is_none() {
                start = Some(at);
            }
        }
        if let Some(s) = start {
            self.visible(&decoded[s..]);
        }
    }

    fn visible(&mut self, text: &str) {
        if !self.out.is_empty() {
            let lines = self.newlines.max(self.breaks.into());
            if lines > 0 {
                self.out.extend(std::iter::repeat_n('\n', lines));
            } else if self.space {
                self.out.push(' ');
            }
        }
        self.breaks = 0;
        self.newlines = 0;
        self.space = false;
        self.out.push_str(text);
    }

    fn brk(&mut self, lines: u8) {
        self.breaks = self.breaks.max(lines);
    }

    fn newline(&mut self) {
        self.newlines += 1;
    }
}

/// The `>` that ends the tag whose name starts at `from`, skipping quoted attribute values.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    let mut last = 0u8;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'>' => return Some(i),
            None if matches!(b, b'"' | b'\'') && last == b'=' => quote = Some(b),
            None => {}
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
    }
    None
}

/// The decoded `href` of an `a` tag (the text between `<` and `>`), if it has one.
fn href(tag: &str) -> Option<String> {
    let mut rest = tag.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return None;
        }
        let name_len = rest
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '/' | '>'))
            .unwrap_or(rest.len())
            .max(1);
        let name = &rest[..name_len];
        rest = rest[name_len..].trim_start();
        let value = match rest.strip_prefix('=') {
            None => "",
            Some(after) => {
                let after = after.trim_start();
                match after.chars().next() {
                    Some(q @ ('"' | '\'')) => {
                        let end = after[1..].find(q).map_or(after.len(), |e| e + 1);
                        rest = after.get(end + 1..).unwrap_or_default();
                        &after[1..end]
                    }
                    _ => {
                        let end = after
                            .find(|c: char| c.is_ascii_whitespace())
                            .unwrap_or(after.len());
                        rest = &after[end..];
                        &after[..end]
                    }
                }
            }
        };
        if name.eq_ignore_ascii_case("href") {
            return Some(decode_references(value).trim().to_owned());
        }
    }
}

/// Decodes the character references that invites use; leaves any other `&` as it is.
fn decode_references(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('&') {
        return raw.into();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&semi| semi <= 10)
            .and_then(|semi| Some((reference(&rest[1..1 + semi])?, semi + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

fn reference(name: &str) -> Option<char> {
    let numeric = |digits: &str, radix| {
        let n = u32::from_str_radix(digits, radix).ok()?;
        Some(
            char::from_u32(n)
                .filter(|&c| c != '\0')
                .unwrap_or('\u{FFFD}'),
        )
    };
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{A0}'),
        _ => match name.strip_prefix('#') {
            Some(hex) if hex.starts_with(['x', 'X']) => numeric(&hex[1..], 16),
            Some(dec) => numeric(dec, 10),
            None => None,
        },
    }
}

/// The file name of each invite's `.ics`, in order: `candidate.ics` and
/// `interviewer-<event_id>-<email local part>.ics`, lower case, with every character but
/// `a-z 0-9 . _ -` written `_`; a name already taken gets `-2`, `-3`, ... so none is overwritten
/// (two interviewers `grace@a.example` and `grace@b.example` on one event, say).
pub fn file_names(invites: &[Invite]) -> Vec<String> {
    let mut taken = HashSet::new();
    invites
        .iter()
        .map(|invite| {
            let stem = match &invite.event_id {
                None => "candidate".to_owned(),
                Some(event) => {
                    let local = invite
                        .recipient
                        .rsplit_once('@')
                        .map_or(invite.recipient.as_str(), |(local, _)| local);
                    format!("interviewer-{}-{}", slug(event), slug(local))
                }
            };
            let mut name = format!("{stem}.ics");
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{stem}-{n}.ics");
                n += 1;
            }
            name
        })
        .collect()
}

fn slug(part: &str) -> String {
    let slug: String = part
        .chars()
        .take(64)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '_',
        })
        .collect();
    if slug.is_empty() {
        "_".to_owned()
    } else {
        slug
    }
}

/// Writes every invite's `.ics` into `dir` (made if missing) under its [`file_names`] name, all
/// or none: each is written and synced under a temp name first, then renamed, and a failure
/// puts back what was already renamed ([`crate::write_all_or_nothing`]; a crash between two
/// renames can still leave some new and some old, each whole). The error names the file.
/// Returns the paths, in the invites' order.
pub fn write_ics_files(
    dir: &Path,
    invites: &[Invite],
) -> Result<Vec<PathBuf>, crate::util::fs::WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| crate::util::fs::WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    // What a run killed mid-write left here (temp files, the backups of a rollback).
    crate::util::fs::sweep_leftovers(dir);
    let files: Vec<(PathBuf, &[u8])> = invites
        .iter()
        .zip(file_names(invites))
        .map(|(invite, name)| (dir.join(name), invite.ics.as_bytes()))
        .collect();
    crate::util::fs::write_all_or_nothing(&files)?;
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_keeps_words_lines_and_links() {
        let html = "<p>You interview <b>Ada</b> on <i>Systems design &amp; &lt;APIs&gt;</i>.</p>\n\
                    <p><a href=\"https://x.invalid/a?b=1&amp;c=2\">Join</a> or\n  \
                    <a href='https://y.invalid'>https://y.invalid</a></p>\n";
        assert_eq!(
            html_to_text(html),
            "You interview Ada on Systems design & <APIs>.\n\n\
             Join <https://x.invalid/a?b=1&c=2> or https://y.invalid"
        );
    }

    #[test]
    fn html_text_breaks_comments_scripts_and_stray_angles() {
        let html = "a<br>b<br/><br>c<div>d</div><!-- <p>hidden</p> --><script>x<y</script>\
                    <style>p{}</style>1 < 2 &#x41;&#66;&nope; &amp&hellip;<li>e";
        assert_eq!(
            html_to_text(html),
            "a\nb\n\nc\nd\n1 < 2 AB&nope; &amp&hellip;\ne"
        );
        assert_eq!(html_to_text("<a title=\"1 > 0\" href=u>t</a>"), "t <u>");
        assert_eq!(html_to_text("x <b"), "x");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn parameters_quote_and_caret_encode() {
        assert_eq!(param("Doe: \"J\" ^x\r\ny"), "\"Doe: ^'J^' ^^x^ny\"");
        assert_eq!(
            mailto("a.b+c@example.org"),
            "mailto:a.b+c@example.org".to_owned()
        );
        assert_eq!(mailto("a b\"\r\n@x"), "mailto:a%20b%22%0D%0A@x");
        assert_eq!(mailto(" \u{e9}%@x "), "mailto:%C3%A9%25@x");
    }

    #[test]
    fn organizers_must_be_one_clean_uri() {
        assert_eq!(
            "mailto:s@example.com"
                .parse::<Organizer>()
                .unwrap()
                .as_str(),
            "mailto:s@example.com"
        );
        for bad in [
            "s@example.com",
            "mailto:",
            "mailto:a b",
            "mailto:a\r\nX:1",
            ":x",
            "1x:y",
        ] {
            assert!(bad.parse::<Organizer>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names_are_stable_readable_and_distinct() {
        let invite = |event: Option<&str>, email: &str| Invite {
            role: if event.is_some() {
                crate::Role::Interviewer
            } else {
                crate::Role::Candidate
            },
            recipient: email.into(),
            recipient_name: String::new(),
            event_id: event.map(Into::into),
            subject: String::new(),
            body: String::new(),
            format: Format::Text,
            ics: String::new(),
        };
        let invites = [
            invite(None, "ada@example.org"),
            invite(Some("evt-1"), "Grace@a.example"),
            invite(Some("evt-1"), "grace@b.example"),
            invite(Some("../etc/x"), "k/en@x"),
        ];
        assert_eq!(
            file_names(&invites),
            [
                "candidate.ics",
                "interviewer-evt-1-grace.ics",
                "interviewer-evt-1-grace-2.ics",
                "interviewer-.._etc_x-k_en.ics",
            ]
        );
    }

    #[test]
    fn control_characters_never_reach_a_line() {
        let mut lines = Lines::default();
        lines.text("SUMMARY", "a\x07b\r\nc\x7f;");
        assert_eq!(lines.0, b"SUMMARY:ab\\nc\\;\r\n");
    }
}
