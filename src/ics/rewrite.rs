//! Finding tokens in an existing `.ics` file and writing it back changed only where a token was.
//!
//! [`scan`] reads a file once: its component structure (which VEVENT, which VCALENDAR), the
//! properties that decide which link a token gets, and every token in a TEXT or URI value.
//! [`Scanned::write`] then copies the file byte for byte, except the lines that held a token:
//! those are unfolded, get their tokens replaced (escaped for the value's type), and are folded
//! again at 75 octets with the line's own line ending.
//!
//! Two rules make the output safe to send and safe to read again (`grammar/README.md`, "`$$` in
//! `batch`"): a token shape outside the values we resolve (a parameter, another property, a
//! VTODO) fails the file rather than going out raw; and everything but a token is kept as
//! written, `$$` escapes included, so the output is a fixed point of a second run. A file with
//! no `$` at all holds no token: it is copied after a look at its first line, at memchr speed.
//! `check` reads `.ics` files through this same scanner (via `batch::check`), so the two cannot
//! disagree.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::line::{self, Parts, RawLine};
use crate::parse::{Finding, Piece, Product, Scope, Template, Token, may_hold_token};
use crate::plan::MintKey;
use crate::util::html::escape_html;

/// Which property names decide a token's link. The defaults are what invitoken writes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsOptions {
    /// The interview's id, on a VEVENT or its VCALENDAR (default `X-INTERVIEW-ID`).
    pub interview_property: String,
    /// The CodeSignal template id for Template links, on a VEVENT or its VCALENDAR (default
    /// `X-CODESIGNAL-TEMPLATE-ID`).
    pub template_property: String,
    /// The candidate, `mailto:` value with a `CN` parameter, on a VEVENT or its VCALENDAR
    /// (default `X-CANDIDATE`). CodeSignal gets it as the session's candidate.
    pub candidate_property: String,
}

impl Default for IcsOptions {
    fn default() -> IcsOptions {
        IcsOptions {
            interview_property: "X-INTERVIEW-ID".into(),
            template_property: "X-CODESIGNAL-TEMPLATE-ID".into(),
            candidate_property: "X-CANDIDATE".into(),
        }
    }
}

/// How a property's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// RFC 5545 TEXT: `\`, `;`, `,` and line breaks escaped.
    Text,
    /// TEXT holding HTML (`X-ALT-DESC`): escaped for HTML, then as TEXT.
    Html,
    /// A URI (`URL`, `CONFERENCE`): written as is; only link tokens make sense there.
    Uri,
}

/// Something wrong in a file, at a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// 1-based line of the file.
    pub line: usize,
    /// 1-based column (characters) in that line.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can say.
    pub help: Option<String>,
}

impl Problem {
    /// A problem with a whole line (column 1).
    pub(crate) fn on_line(
        line: usize,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Problem {
        Problem {
            line,
            col: 1,
            message: message.into(),
            help,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// A VEVENT that holds tokens, or whose copies in other files do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    /// Its UID: the event key. Overridden occurrences (RECURRENCE-ID) share their series' UID.
    pub uid: String,
    /// Where its BEGIN:VEVENT is.
    pub line: usize,
    /// `X-INTERVIEW-ID` of the VEVENT, else of its VCALENDAR.
    pub interview_id: Option<String>,
    /// `X-CODESIGNAL-TEMPLATE-ID` of the VEVENT, else of its VCALENDAR.
    pub template_id: Option<String>,
    /// The candidate's email and name (`X-CANDIDATE;CN=...:mailto:...`).
    pub candidate: Option<(String, String)>,
    /// METHOD:CANCEL on its calendar or STATUS:CANCELLED on it.
    pub cancelled: bool,
    /// When it ends: DTEND, or DTSTART plus DURATION, or DTSTART; the series' UNTIL for a
    /// recurring event; `None` when unknown or endless (the longest life a link can have).
    pub ends: Option<DateTime<Utc>>,
}

/// A token in a file, and the link it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The token.
    pub token: Token,
    /// The event it belongs to (index into [`Scanned::events`]), if inside a VEVENT.
    pub event: Option<usize>,
    /// The session it needs, with the interview id as this file says (a batch then makes the
    /// copies of one event agree on it).
    pub key: MintKey,
    /// The line it is on.
    pub line: usize,
    /// In a cancelled event, or outside any event in a `METHOD:CANCEL` calendar: it never
    /// causes a mint (it gets a link another copy minted, or is removed).
    pub cancelled: bool,
}

/// One rewritten content line.
#[derive(Debug, Clone)]
struct Edit {
    raw: RawLine,
    unfolded: String,
    value_at: usize,
    kind: ValueKind,
    /// Pieces of the value (ranges relative to `value_at`); token pieces index `occurrences`.
    pieces: Vec<(Piece, Option<usize>)>,
    /// The VALARM (of a VEVENT) it is in, if any (index into [`Scanned::alarms`]).
    alarm: Option<usize>,
}

/// A file read for rewriting.
#[derive(Debug, Clone)]
pub struct Scanned {
    edits: Vec<Edit>,
    /// Where each VALARM of a VEVENT is, BEGIN line through END line.
    alarms: Vec<Range<usize>>,
    /// Every VEVENT that holds a token.
    pub events: Vec<EventInfo>,
    /// Every token, in file order.
    pub occurrences: Vec<Occurrence>,
    /// Things worth telling that are not errors.
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Calendar {
    interview_id: Option<String>,
    template_id: Option<String>,
    /// Read as it comes; a problem only if an event takes it.
    candidate: Option<Result<(String, String), Problem>>,
    cancelled: bool,
}

#[derive(Default)]
struct Vevent {
    /// Where its `BEGIN:VEVENT` line starts and its `END:VEVENT` line ends: its properties are
    /// read from there only if it holds a token ([`Vevent::read`]).
    begin: usize,
    finish: Option<usize>,
    line: usize,
    uid: Option<String>,
    interview_id: Option<String>,
    template_id: Option<String>,
    candidate: Option<Result<(String, String), Problem>>,
    cancelled: bool,
    ends: Option<DateTime<Utc>>,
    /// Edits of lines inside this VEVENT (indexes into the edits).
    edits: Vec<usize>,
}

impl Vevent {
    /// Reads the properties that decide its links, from its own lines (not its VALARMs').
    fn read(&mut self, file: &[u8], options: &IcsOptions, problems: &mut Vec<Problem>) {
        let text = &file[self.begin..self.finish.unwrap_or(file.len())];
        let (mut depth, mut start, mut end, mut duration, mut rrule) = (0, None, None, None, None);
        // The line of the first of each property that decides a link: a second one (RFC 5545
        // allows one) leaves it to each reader which counts, so a recipient's calendar and the
        // session could disagree on the event, the interview, the candidate or a cancellation.
        let mut deciding: Vec<(Prop, usize)> = Vec::new();
        for raw in line::lines(text) {
            let unfolded = line::unfold_line(&raw, raw.content(text));
            let Some(parts) = Parts::split(&unfolded) else {
                // The scan's quick look let it through (a `:` inside an unclosed quote): a line
                // of an event whose links it may decide must read exactly.
                if !unfolded.iter().all(u8::is_ascii_whitespace) {
                    problems.push(Problem::on_line(
                        self.line + raw.line_no - 1,
                        "not an iCalendar content line (`NAME;PARAMS:VALUE`)",
                        Some("a quoted parameter value may be unclosed".into()),
                    ));
                }
                continue;
            };
            let value = &unfolded[parts.value_at..];
            let owned = || String::from_utf8_lossy(value).into_owned();
            let prop = Prop::of(parts.name, options);
            let line_no = self.line + raw.line_no - 1;
            if depth == 1
                && matches!(
                    prop,
                    Prop::Uid | Prop::Interview | Prop::Template | Prop::Candidate | Prop::Status
                )
            {
                match deciding.iter().find(|(p, _)| *p == prop) {
                    Some(&(_, first)) => problems.push(Problem::on_line(
                        line_no,
                        format!(
                            "a second {} in the VEVENT of line {} (the first is on line {first}): \
                             which one decides its link is unclear",
                            crate::shown(&String::from_utf8_lossy(parts.name)),
                            self.line
                        ),
                        Some("keep one".into()),
                    )),
                    None => deciding.push((prop, line_no)),
                }
            }
            match prop {
                Prop::Begin => depth += 1,
                Prop::End => depth -= 1,
                _ if depth != 1 => {}
                Prop::Uid => self.uid = Some(owned()),
                Prop::Interview => self.interview_id = Some(owned()),
                Prop::Template => self.template_id = Some(owned()),
                Prop::Candidate => {
                    self.candidate = Some(candidate(&unfolded, &parts, line_no, options));
                }
                Prop::Status => self.cancelled = value.eq_ignore_ascii_case(b"CANCELLED"),
                Prop::DtStart => start = date_time(&parts, value),
                Prop::DtEnd => end = date_time(&parts, value),
                Prop::Duration => duration = self::duration(value),
                Prop::Rrule => rrule = Some(until(value)),
                _ => {}
            }
        }
        self.ends = match rrule {
            Some(until) => until,
            None => end
                .or_else(|| start?.checked_add_signed(duration?))
                .or(start),
        };
    }
}

/// An open component.
enum Open {
    Calendar,
    Event,
    Other(Box<[u8]>),
}

impl Open {
    fn of(name: &[u8]) -> Open {
        if name.eq_ignore_ascii_case(b"VCALENDAR") {
            Open::Calendar
        } else if name.eq_ignore_ascii_case(b"VEVENT") {
            Open::Event
        } else {
            Open::Other(name.into())
        }
    }

    fn is(&self, name: &[u8]) -> bool {
        match self {
            Open::Calendar => name.eq_ignore_ascii_case(b"VCALENDAR"),
            Open::Event => name.eq_ignore_ascii_case(b"VEVENT"),
            Open::Other(n) => name.eq_ignore_ascii_case(n),
        }
    }

    fn name(&self) -> String {
        match self {
            Open::Calendar => "VCALENDAR".into(),
            Open::Event => "VEVENT".into(),
            Open::Other(n) => String::from_utf8_lossy(n).into_owned(),
        }
    }
}

/// Whether `bytes` hold a quoted-printable escape (`=24`, `=EF`, any case) that decodes to a
/// byte that may start a token or a look-alike of one ([`may_hold_token`]).
fn qp_may_hide_token(bytes: &[u8]) -> bool {
    // Only a quoted-printable value is decoded by a reader, and parameters put many `=` in a
    // file: look at the `=` only where the encoding is named, and compare two digits each.
    mentions_quoted_printable(bytes) && qp_escapes_may_hide_token(bytes)
}

/// Whether `bytes` name the quoted-printable encoding: `quoted-printable` in any case, a fold
/// anywhere in it (a fold may split a parameter). `q` is common enough in calendars
/// (`SEQUENCE`, `REQUEST`, `FREQ`) that a memchr search restarted at each one cost a token-free
/// file a third of its time: the `q`s are found a block at a time instead.
fn mentions_quoted_printable(bytes: &[u8]) -> bool {
    const NAME: &[u8] = b"quoted-printable";
    line::qs(bytes).any(|at| {
        let mut at = at;
        NAME.iter().all(|&want| {
            while let Some(fold) = fold_at(&bytes[at..]) {
                at += fold;
            }
            let ok = bytes.get(at).is_some_and(|b| b.eq_ignore_ascii_case(&want));
            at += 1;
            ok
        })
    })
}

/// The length of the fold (`CRLF` or `LF`, then a space or tab) that `bytes` start with.
fn fold_at(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [b'\r', b'\n', b' ' | b'\t', ..] => Some(3),
        [b'\n', b' ' | b'\t', ..] => Some(2),
        _ => None,
    }
}

/// Whether a `=XY` escape in `bytes` decodes to a byte that may start a token.
/// A fold may fall between the `=` and its digits.
fn qp_escapes_may_hide_token(bytes: &[u8]) -> bool {
    let digit = |at: &mut usize| {
        while let Some(fold) = fold_at(&bytes[(*at).min(bytes.len())..]) {
            *at += fold;
        }
        let d = bytes.get(*at).copied().and_then(hex_digit);
        *at += 1;
        d
    };
    memchr::memchr_iter(b'=', bytes).any(|at| {
        let mut at = at + 1;
        let (hi, lo) = (digit(&mut at), digit(&mut at));
        hi.zip(lo)
            .is_some_and(|(hi, lo)| crate::parse::token_starts(&[hi << 4 | lo]).next().is_some())
    })
}

/// The value of one hexadecimal digit, either case.
fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Whether a property's parameters say its value is quoted-printable (vCalendar 1.0), in any
/// case, as readers take it.
fn is_quoted_printable(params: &[u8]) -> bool {
    params
        .to_ascii_uppercase()
        .windows(b"ENCODING=QUOTED-PRINTABLE".len())
        .any(|w| w == b"ENCODING=QUOTED-PRINTABLE")
}

/// `value` with its quoted-printable escapes decoded (`=24` to `$`, soft line breaks removed);
/// anything that is not an escape is kept as it is.
fn decode_quoted_printable(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'=' {
            if let Some([hi, lo]) = value.get(i + 1..i + 3)
                && let Some((hi, lo)) = hex_digit(*hi).zip(hex_digit(*lo))
            {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            match value.get(i + 1..) {
                Some([b'\r', b'\n', ..]) => {
                    i += 3;
                    continue;
                }
                Some([b'\n', ..]) => {
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(value[i]);
        i += 1;
    }
    out
}

/// Reads `file` for rewriting. `Err` holds every problem found; a file with problems must not be
/// written.
pub fn scan(file: &[u8], options: &IcsOptions) -> Result<Scanned, Vec<Problem>> {
    // A token starts with `$` (a look-alike with a character standing for one): a file without
    // one is copied as it is, after a look at its first line. Its structure is none of our
    // business, and this keeps token-free files at memchr speed.
    // A quoted-printable escape (`=24`) may hide a `$` from that look: such lines are read too,
    // and refused when their value is quoted-printable.
    let qp_escapes = qp_may_hide_token(file);
    if !qp_escapes && crate::parse::token_starts(file).next().is_none() {
        return sniff(file).map(|()| Scanned {
            edits: Vec::new(),
            alarms: Vec::new(),
            events: Vec::new(),
            occurrences: Vec::new(),
            notes: Vec::new(),
        });
    }
    let mut problems = Vec::new();
    let mut edits: Vec<Edit> = Vec::new();
    // Which edits lie outside any VEVENT (with the calendar they are in).
    let mut loose: Vec<(usize, usize)> = Vec::new();
    let mut calendars: Vec<Calendar> = Vec::new();
    let mut events: Vec<(Vevent, usize)> = Vec::new();
    let mut stack: Vec<(Open, usize)> = Vec::new();
    let mut current_calendar: Option<usize> = None;
    let mut current_event: Option<usize> = None;
    let mut alarms: Vec<Range<usize>> = Vec::new();
    let mut current_alarm: Option<usize> = None;
    let mut seen_content = false;
    // Every `$` of the file (and every byte that may start a look-alike of one), in order: a
    // line holds one when the next is inside it. Only such a line can hold a token, wherever in
    // it (name, parameters, value), and every one is read.
    let mut dollars = crate::parse::token_starts(file).peekable();
    for raw in line::lines(file) {
        while dollars.next_if(|&d| d < raw.range.start).is_some() {}
        let holds_dollar = dollars.peek().is_some_and(|&d| d < raw.range.end);
        let holds_qp = qp_escapes && qp_escapes_may_hide_token(&file[raw.range.clone()]);
        let content = raw.content(file);
        let content = if raw.range.start == 0 {
            content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content)
        } else {
            content
        };
        if content.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // Names are short: a table lookup a byte beats setting up a vectorised search, and it
        // checks the name's characters on the way.
        let (name_end, name_ok) = name_end(content);
        let innermost = stack.last().map(|(open, _)| open);
        // Most lines decide nothing and hold no token: check that they are content lines and
        // move on, without unfolding or splitting them. Inside a VEVENT only BEGIN and END
        // count (an event's own properties are read later, and only if it holds a token);
        // directly in a VCALENDAR, the properties that decide a link too.
        if seen_content
            && !holds_dollar
            && !holds_qp
            && name_ok
            && is_content_line(content, name_end)
        {
            let name = &content[..name_end];
            let skip = match innermost {
                Some(Open::Calendar) => {
                    matches!(Prop::of(name, options), Prop::Other | Prop::Value(_))
                }
                _ => !is_begin_or_end(name),
            };
            if skip {
                continue;
            }
        }
        // A fold may fall inside the name (Mozilla writes `SUMMARY` CRLF ` :...`): such a line
        // is classified after unfolding, never skipped on its raw bytes.
        let fold_in_name = raw.folded && memchr::memchr(b'\n', &content[..name_end]).is_some();
        let prop = if fold_in_name {
            Prop::Other
        } else {
            Prop::of(&content[..name_end], options)
        };
        let unfolded = line::unfold_line(&raw, content);
        let Some(parts) = Parts::split(&unfolded) else {
            problems.push(Problem::on_line(
                raw.line_no,
                "not an iCalendar content line (`NAME;PARAMS:VALUE`)",
                Some("is this an .ics file? a content line needs a name and a `:`".into()),
            ));
            continue;
        };
        let value = &unfolded[parts.value_at..];
        let prop = if fold_in_name {
            Prop::of(parts.name, options)
        } else {
            prop
        };
        if !seen_content {
            seen_content = true;
            // Usually `BEGIN:VCALENDAR`; streams of bare components (`BEGIN:VEVENT`) are read too.
            if prop != Prop::Begin {
                problems.push(Problem::on_line(
                    raw.line_no,
                    "an iCalendar file starts with `BEGIN:VCALENDAR`",
                    Some("is this an .ics file?".into()),
                ));
                break;
            }
        }
        // A reader that decodes vCalendar 1.0 quoted-printable shows `=24Event...` as a token:
        // nothing here can rewrite it, and it must not go out as it is.
        if holds_qp
            && is_quoted_printable(parts.params)
            && crate::parse::token_starts(&decode_quoted_printable(value))
                .next()
                .is_some()
        {
            problems.push(Problem::on_line(
                raw.line_no,
                "a token (or a look-alike of one) hidden by quoted-printable escapes \
                 (ENCODING=QUOTED-PRINTABLE, `=24` for `$`) cannot be rewritten safely",
                Some("export the invite as iCalendar 2.0 (plain TEXT values)".into()),
            ));
            continue;
        }
        // A token is resolved only in a value of a known type, where the component gives it a
        // session; anywhere else (a parameter, an X- property, a VTODO) it would go out raw.
        let resolves = matches!(prop, Prop::Value(_)) && resolves_in(&stack);
        if holds_dollar {
            // Checked by `Parts::split`: letters, digits, `-` and `_` only.
            let name = String::from_utf8_lossy(parts.name);
            let in_params = || format!("a parameter of {name}");
            let params_at = parts.name.len() + 1;
            unresolved(
                file,
                &raw,
                params_at,
                parts.params,
                &in_params,
                &mut problems,
            );
            if !resolves {
                let in_value = || match (prop, innermost) {
                    (Prop::Value(_), Some(open)) => {
                        format!("{name} of a {}", crate::shown(&open.name()))
                    }
                    (Prop::Value(_), None) => format!("{name} outside any component"),
                    _ => name.to_string(),
                };
                unresolved(file, &raw, parts.value_at, value, &in_value, &mut problems);
            }
        }
        let text = || String::from_utf8_lossy(value).into_owned();
        let calendar = current_calendar.filter(|_| matches!(innermost, Some(Open::Calendar)));
        let kind = match prop {
            Prop::Begin => {
                let open = Open::of(value);
                match open {
                    Open::Calendar => {
                        calendars.push(Calendar::default());
                        current_calendar = Some(calendars.len() - 1);
                    }
                    Open::Event => {
                        events.push((
                            Vevent {
                                begin: raw.range.start,
                                line: raw.line_no,
                                ..Vevent::default()
                            },
                            current_calendar.unwrap_or(usize::MAX),
                        ));
                        current_event = Some(events.len() - 1);
                    }
                    Open::Other(ref name) => {
                        if name.eq_ignore_ascii_case(b"VALARM")
                            && matches!(innermost, Some(Open::Event))
                        {
                            alarms.push(raw.range.start..file.len());
                            current_alarm = Some(alarms.len() - 1);
                        }
                    }
                }
                stack.push((open, raw.line_no));
                continue;
            }
            Prop::End => {
                match stack.pop() {
                    Some((open, _)) if open.is(value) => match open {
                        Open::Event => {
                            if let Some(e) = current_event.take() {
                                events[e].0.finish = Some(raw.range.end);
                            }
                        }
                        Open::Calendar => current_calendar = None,
                        Open::Other(name) => {
                            if name.eq_ignore_ascii_case(b"VALARM")
                                && let Some(a) = current_alarm.take()
                            {
                                alarms[a].end = raw.range.end;
                            }
                        }
                    },
                    Some((open, at)) => {
                        // Close up to the matching BEGIN, if any, so one slip is one problem.
                        let name = open.name();
                        if let Some(i) = stack.iter().rposition(|(n, _)| n.is(value)) {
                            stack.truncate(i);
                        } else {
                            stack.push((open, at));
                        }
                        problems.push(Problem::on_line(
                            raw.line_no,
                            format!(
                                "`END:{}` closes `BEGIN:{name}` of line {at}",
                                String::from_utf8_lossy(value),
                            ),
                            None,
                        ));
                    }
                    None => problems.push(Problem::on_line(
                        raw.line_no,
                        format!(
                            "`END:{}` with no open component",
                            String::from_utf8_lossy(value)
                        ),
                        None,
                    )),
                }
                continue;
            }
            Prop::Value(kind) if resolves => kind,
            Prop::Value(_) | Prop::Other => continue,
            decides => {
                if let Some(c) = calendar {
                    let cal = &mut calendars[c];
                    match decides {
                        Prop::Method => cal.cancelled = value.eq_ignore_ascii_case(b"CANCEL"),
                        Prop::Interview => cal.interview_id = Some(text()),
                        Prop::Template => cal.template_id = Some(text()),
                        Prop::Candidate => {
                            cal.candidate = Some(candidate(&unfolded, &parts, raw.line_no, options))
                        }
                        _ => {}
                    }
                }
                continue;
            }
        };
        // Tokens: only a value holding a `$` (or a look-alike of one) can have one.
        if !may_hold_token(value) {
            continue;
        }
        // vCalendar 1.0 quoted-printable: a URL written there as is would be misread (`=`).
        if is_quoted_printable(parts.params)
            && Template::parse(&String::from_utf8_lossy(value))
                .is_ok_and(|t| t.tokens().next().is_some())
        {
            problems.push(Problem::on_line(raw.line_no, "a token in a quoted-printable value (ENCODING=QUOTED-PRINTABLE) cannot be rewritten safely", Some("export the invite as iCalendar 2.0 (plain TEXT values)".into())));
            continue;
        }
        let value_at = parts.value_at;
        let Ok(unfolded) = String::from_utf8(unfolded.into_owned()) else {
            problems.push(Problem::on_line(
                raw.line_no,
                "a line with a `$` is not valid UTF-8",
                Some("save the file as UTF-8".into()),
            ));
            continue;
        };
        match Template::parse(&unfolded[value_at..]) {
            Err(findings) => {
                for f in findings {
                    problems.push(finding_problem(file, &raw, value_at, &f));
                }
            }
            Ok(template) => {
                let pieces: Vec<_> = template
                    .pieces()
                    .iter()
                    .map(|p| (p.clone(), None))
                    .collect();
                if pieces.iter().any(|(p, _)| matches!(p, Piece::Token { .. })) {
                    edits.push(Edit {
                        raw: raw.clone(),
                        unfolded,
                        value_at,
                        kind,
                        pieces,
                        alarm: current_alarm,
                    });
                    match current_event {
                        Some(e) => events[e].0.edits.push(edits.len() - 1),
                        None => {
                            loose.push((edits.len() - 1, current_calendar.unwrap_or(usize::MAX)))
                        }
                    }
                }
            }
        }
    }
    if let Some((open, at)) = stack.last() {
        problems.push(Problem::on_line(
            *at,
            // The name runs to the line's end: a CR-only file is one line of megabytes.
            format!("`BEGIN:{}` is never closed", crate::shown(&open.name())),
            Some("the file may be cut short".into()),
        ));
    }
    // Bind each token to its session.
    let mut out_events: Vec<EventInfo> = Vec::new();
    let mut occurrences: Vec<Occurrence> = Vec::new();
    let mut notes = Vec::new();
    let no_calendar = Calendar::default();
    let calendar_of = |c: usize| calendars.get(c).unwrap_or(&no_calendar);
    for (ev, cal) in &mut events {
        if ev.edits.is_empty() {
            continue;
        }
        ev.read(file, options, &mut problems);
        let cal = calendar_of(*cal);
        let Some(uid) = ev.uid.clone() else {
            problems.push(Problem::on_line(
                ev.line,
                "this VEVENT holds tokens but has no UID, so its link has no key",
                Some("give the event a UID".into()),
            ));
            continue;
        };
        let ends = ev.ends;
        let candidate = match ev.candidate.as_ref().or(cal.candidate.as_ref()) {
            Some(Ok(c)) => Some(c.clone()),
            Some(Err(p)) => {
                problems.push(p.clone());
                None
            }
            None => None,
        };
        let info = EventInfo {
            uid: uid.clone(),
            line: ev.line,
            interview_id: ev.interview_id.clone().or_else(|| cal.interview_id.clone()),
            template_id: ev.template_id.clone().or_else(|| cal.template_id.clone()),
            candidate,
            cancelled: ev.cancelled || cal.cancelled,
            ends,
        };
        let ids = [
            ("UID", Some(&info.uid), "UID"),
            (
                "interview id",
                info.interview_id.as_ref(),
                options.interview_property.as_str(),
            ),
            (
                "template id",
                info.template_id.as_ref(),
                options.template_property.as_str(),
            ),
        ];
        if let Some(problem) = unsafe_id(ev.line, &ids) {
            problems.push(problem);
            continue;
        }
        let index = out_events.len();
        for &edit in &ev.edits {
            bind(
                file,
                &mut edits[edit],
                Some((index, &info)),
                None,
                options,
                &mut occurrences,
                &mut problems,
            );
        }
        out_events.push(info);
    }
    for &(edit, cal) in &loose {
        let cal = calendar_of(cal);
        bind(
            file,
            &mut edits[edit],
            None,
            Some(cal),
            options,
            &mut occurrences,
            &mut problems,
        );
    }
    let mut uses_interview = vec![false; out_events.len()];
    for o in &occurrences {
        if let Some(e) = o.event
            && o.key.scope == Scope::Interview
        {
            uses_interview[e] = true;
        }
    }
    for (ev, _) in out_events.iter().zip(&uses_interview).filter(|(_, u)| **u) {
        if ev.interview_id.is_none() {
            notes.push(format!(
                "event `{}` (line {}) has no {}: its `$Interview` links are the event's own, as for a single-session interview",
                ev.uid, ev.line, options.interview_property
            ));
        }
    }
    if problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        Ok(Scanned {
            edits,
            alarms,
            events: out_events,
            occurrences,
            notes,
        })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// Whether `file` is an iCalendar stream: after a BOM and blank lines it starts with
/// `BEGIN:VCALENDAR` (any case). `check` reads such a file as batch does, whatever its name.
pub fn is_icalendar(file: &[u8]) -> bool {
    let file = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file);
    let start = file
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(file.len());
    file.get(start..start + 15)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"BEGIN:VCALENDAR"))
}

/// Whether `file` starts like iCalendar: its first non-blank line is a `BEGIN:` line.
fn sniff(file: &[u8]) -> Result<(), Vec<Problem>> {
    let file = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file);
    let start = file
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(file.len());
    let line = file[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    if file.len() >= start + 6 && file[start..start + 6].eq_ignore_ascii_case(b"BEGIN:") {
        Ok(())
    } else {
        Err(vec![Problem {
            line,
            col: 1,
            message: "not iCalendar: the first line is not `BEGIN:VCALENDAR`".into(),
            help: Some("is this an .ics file?".into()),
        }])
    }
}

/// What [`scan`] does with a property, from its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prop {
    Begin,
    End,
    Uid,
    Status,
    DtStart,
    DtEnd,
    Duration,
    Rrule,
    Method,
    Interview,
    Template,
    Candidate,
    /// A value tokens are resolved in.
    Value(ValueKind),
    /// Copied as it is.
    Other,
}

impl Prop {
    #[inline]
    fn of(name: &[u8], options: &IcsOptions) -> Prop {
        use Prop::*;
        use ValueKind::{Html, Text, Uri};
        // Length and first letter pick at most two candidates: most names are ruled out
        // without comparing a byte.
        let candidates: &[(&str, Prop)] =
            match (name.len(), name.first().map(u8::to_ascii_uppercase)) {
                (3, Some(b'E')) => &[("END", End)],
                (3, Some(b'U')) => &[("UID", Uid), ("URL", Value(Uri))],
                (5, Some(b'B')) => &[("BEGIN", Begin)],
                (5, Some(b'D')) => &[("DTEND", DtEnd)],
                (5, Some(b'R')) => &[("RRULE", Rrule)],
                (6, Some(b'S')) => &[("STATUS", Status)],
                (6, Some(b'M')) => &[("METHOD", Method)],
                (7, Some(b'D')) => &[("DTSTART", DtStart)],
                (7, Some(b'S')) => &[("SUMMARY", Value(Text))],
                (7, Some(b'C')) => &[("COMMENT", Value(Text)), ("CONTACT", Value(Text))],
                (8, Some(b'D')) => &[("DURATION", Duration)],
                (8, Some(b'L')) => &[("LOCATION", Value(Text))],
                (10, Some(b'X')) => &[("X-ALT-DESC", Value(Html))],
                (10, Some(b'C')) => &[("CONFERENCE", Value(Uri))],
                (11, Some(b'D')) => &[("DESCRIPTION", Value(Text))],
                _ => &[],
            };
        let is = |n: &str| n.len() == name.len() && name.eq_ignore_ascii_case(n.as_bytes());
        if let Some((_, prop)) = candidates.iter().find(|(n, _)| is(n)) {
            return *prop;
        }
        if is(&options.interview_property) {
            Prop::Interview
        } else if is(&options.template_property) {
            Prop::Template
        } else if is(&options.candidate_property) {
            Prop::Candidate
        } else {
            Prop::Other
        }
    }
}

/// A cheap check that a line whose name (valid characters, ending at `name_end`) was already
/// checked is `NAME[;PARAMS]:VALUE` (a `:` inside quoted parameters only is let through;
/// [`Parts::split`] is exact).
#[inline]
fn is_content_line(content: &[u8], name_end: usize) -> bool {
    name_end > 0
        && (content.get(name_end) == Some(&b':')
            || memchr::memchr(b':', &content[name_end..]).is_some())
}

/// Where a line's name ends (its first `;` or `:`, else the line's end), and whether every byte
/// up to there is a name character (letter, digit, `-`, `_`).
#[inline]
fn name_end(content: &[u8]) -> (usize, bool) {
    let run = content
        .iter()
        .position(|&b| NAME_BYTES[usize::from(b)] != NAME)
        .unwrap_or(content.len());
    match content.get(run) {
        None | Some(b';' | b':') => (run, true),
        Some(_) => {
            let end =
                memchr::memchr2(b';', b':', &content[run..]).map_or(content.len(), |i| run + i);
            (end, false)
        }
    }
}

const NAME: u8 = 1;

/// [`NAME`] for the bytes a property name is made of.
static NAME_BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            table[b] = NAME;
        }
        b += 1;
    }
    table
};

/// Whether a property name is `BEGIN` or `END`, in any case: what [`Prop::of`] says of it,
/// without its look at every name.
#[inline]
fn is_begin_or_end(name: &[u8]) -> bool {
    match name.len() {
        3 => name.eq_ignore_ascii_case(b"END"),
        5 => name.eq_ignore_ascii_case(b"BEGIN"),
        _ => false,
    }
}

/// Gives every token of `edit` its session, or a problem.
#[allow(clippy::too_many_arguments)]
fn bind(
    file: &[u8],
    edit: &mut Edit,
    event: Option<(usize, &EventInfo)>,
    calendar: Option<&Calendar>,
    options: &IcsOptions,
    occurrences: &mut Vec<Occurrence>,
    problems: &mut Vec<Problem>,
) {
    let line_no = edit.raw.line_no;
    for (piece, slot) in &mut edit.pieces {
        let Piece::Token { token, span } = piece else {
            continue;
        };
        let at = edit.value_at + span.start;
        let raw = &edit.raw;
        // Located only when there is a problem to report.
        let problem = |message: String, help: Option<String>| {
            let (line, col) = locate(file, raw, at);
            Problem {
                line,
                col,
                message,
                help,
            }
        };
        let Some((scope, product)) = token.link() else {
            problems.push(problem(
                format!("`{token}` needs a scheduling request: `batch` resolves link tokens only"),
                Some("use `invitoken resolve` with a request for context tokens".into()),
            ));
            continue;
        };
        let (event_index, uid, interview_id, template_id) = match (event, calendar) {
            (Some((i, info)), _) => (
                Some(i),
                Some(info.uid.clone()),
                info.interview_id
                    .clone()
                    .unwrap_or_else(|| info.uid.clone()),
                info.template_id.clone(),
            ),
            (None, Some(cal)) => {
                let Some(id) = cal
                    .interview_id
                    .clone()
                    .filter(|_| scope == Scope::Interview)
                else {
                    problems.push(problem(
                        format!("`{token}` is outside any VEVENT, so it has no event to link to"),
                        Some(format!(
                            "move it into a VEVENT, or (for `$Interview` links) give the VCALENDAR an {}",
                            options.interview_property
                        )),
                    ));
                    continue;
                };
                let ids = [
                    (
                        "interview id",
                        Some(&id),
                        options.interview_property.as_str(),
                    ),
                    (
                        "template id",
                        cal.template_id.as_ref(),
                        options.template_property.as_str(),
                    ),
                ];
                if let Some(p) = unsafe_id(line_no, &ids) {
                    problems.push(p);
                    continue;
                }
                (None, None, id, cal.template_id.clone())
            }
            (None, None) => continue,
        };
        let template_id = match product {
            Product::Live => None,
            Product::Template => match template_id {
                Some(t) => Some(t),
                None => {
                    problems.push(problem(
                        format!(
                            "`{token}` needs a template, but {} has no {}",
                            uid.as_deref()
                                .map_or("the calendar".to_string(), |u| format!("event `{u}`")),
                            options.template_property
                        ),
                        Some(format!(
                            "add {}:<template id> to the VEVENT or the VCALENDAR",
                            options.template_property
                        )),
                    ));
                    continue;
                }
            },
        };
        let key = MintKey {
            scope,
            interview_id,
            event_id: if scope == Scope::Event { uid } else { None },
            product,
            template_id,
        };
        *slot = Some(occurrences.len());
        occurrences.push(Occurrence {
            token: *token,
            event: event_index,
            key,
            line: line_no,
            cancelled: match (event, calendar) {
                (Some((_, info)), _) => info.cancelled,
                (None, Some(cal)) => cal.cancelled,
                (None, None) => false,
            },
        });
    }
}

/// A problem for the first of `ids` (what it is, its value, the property it comes from) that
/// holds a control character: ids go to CodeSignal, the ledger and messages, and must stay one
/// line that shows as it is (a lone CR is content in an `.ics` line).
fn unsafe_id(line: usize, ids: &[(&str, Option<&String>, &str)]) -> Option<Problem> {
    ids.iter().find_map(|&(what, id, property)| {
        let id = id?;
        // Printable ASCII, the usual id, needs no look at its characters.
        if id.bytes().all(|b| (0x20..0x7f).contains(&b))
            || !id.chars().any(crate::util::needs_escape)
        {
            return None;
        }
        Some(Problem::on_line(
            line,
            format!("the {what} {} holds a control character", crate::shown(id)),
            Some(format!(
                "write {} on one line, without control characters",
                crate::shown(property)
            )),
        ))
    })
}

/// Where batch resolves tokens, for errors about tokens elsewhere.
const RESOLVED_IN: &str = "batch resolves tokens only in the values of SUMMARY, DESCRIPTION, \
    LOCATION, COMMENT, CONTACT, X-ALT-DESC, URL and CONFERENCE, in a VEVENT or its VALARMs (and \
    `$Interview` links in those of a VCALENDAR with an interview id); move it there, or write \
    `$$` before it to keep it as text";

/// Whether a token in a value of a known type is resolved in the innermost open component: a
/// VEVENT, a VALARM of a VEVENT, or a VCALENDAR (where [`bind`] takes `$Interview` links only).
fn resolves_in(stack: &[(Open, usize)]) -> bool {
    match stack {
        [.., (Open::Event | Open::Calendar, _)] => true,
        [.., (Open::Event, _), (Open::Other(name), _)] => name.eq_ignore_ascii_case(b"VALARM"),
        _ => false,
    }
}

/// A problem for every token shape in `bytes`, which starts at byte `at` of `raw`'s unfolded
/// text, in `place`, where batch resolves none: a known token would go out raw, and a shape
/// that is no token is as wrong here as in a value. `$$` escapes are text, as everywhere.
fn unresolved(
    file: &[u8],
    raw: &RawLine,
    at: usize,
    bytes: &[u8],
    place: &dyn Fn() -> String,
    problems: &mut Vec<Problem>,
) {
    if memchr::memchr(b'$', bytes).is_none() {
        return;
    }
    // A shape is ASCII: bytes that are not UTF-8 end it, as any other non-shape byte does.
    for chunk in bytes.utf8_chunks() {
        let offset = at + (chunk.valid().as_ptr() as usize - bytes.as_ptr() as usize);
        let problem = |start: usize, message: String, help: Option<String>| {
            let (line, col) = locate(file, raw, offset + start);
            Problem {
                line,
                col,
                message,
                help,
            }
        };
        match Template::parse(chunk.valid()) {
            Ok(template) => {
                for (token, span) in template.tokens() {
                    problems.push(problem(
                        span.start,
                        format!(
                            "`{token}` in {} would go out unresolved: batch resolves no token there",
                            place()
                        ),
                        Some(RESOLVED_IN.into()),
                    ));
                }
            }
            Err(findings) => {
                for f in findings {
                    problems.push(problem(
                        f.span.start,
                        format!(
                            "{} (in {}, where no token is resolved)",
                            f.message(),
                            place()
                        ),
                        f.help(),
                    ));
                }
            }
        }
    }
}

fn finding_problem(file: &[u8], raw: &RawLine, value_at: usize, finding: &Finding) -> Problem {
    let (line, col) = locate(file, raw, value_at + finding.span.start);
    Problem {
        line,
        col,
        message: finding.message(),
        help: finding.help(),
    }
}

/// The physical line and column (characters, 1-based) of byte `target` of a line's unfolded
/// text: folds are undone backwards, so a place on a continuation line is reported there.
fn locate(file: &[u8], raw: &RawLine, target: usize) -> (usize, usize) {
    let content = &file[raw.range.clone()];
    let skip_bom = usize::from(raw.range.start == 0 && content.starts_with(b"\xEF\xBB\xBF")) * 3;
    let (mut seen, mut i, mut line, mut line_start) = (0, skip_bom, raw.line_no, skip_bom);
    while seen < target && i < content.len() {
        if content[i] == b'\n' {
            // A fold: the next physical line starts with its SPACE or TAB, which is not content.
            line += 1;
            line_start = i + 1;
            i += 2;
            continue;
        }
        if content[i] == b'\r' && content.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        seen += 1;
        i += 1;
    }
    let col = String::from_utf8_lossy(&content[line_start..i.min(content.len())])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// `X-CANDIDATE;CN=Ada Lovelace:mailto:ada@example.org` -> (email, name). Parameters are read
/// per RFC 5545 (in any order, quoted values may hold `;`, `:` and `,`), `CN` with its RFC 6868
/// escapes decoded. Both values go to CodeSignal: one that holds a control character or a line
/// break (`^n` decodes to one) is refused, as is a list that does not parse or names `CN` twice.
fn candidate(
    line: &[u8],
    parts: &Parts<'_>,
    line_no: usize,
    options: &IcsOptions,
) -> Result<(String, String), Problem> {
    let property = crate::shown(&options.candidate_property).into_owned();
    let problem =
        |message: String, help: &str| Problem::on_line(line_no, message, Some(help.into()));
    let params = line::params(parts.params).map_err(|e| {
        problem(
            format!("the parameters of {property} do not read: {e}"),
            "quote a value that holds `;`, `:` or `,`: CN=\"Doe, Jane\"",
        )
    })?;
    let mut names = params.iter().filter(|p| p.name.eq_ignore_ascii_case(b"CN"));
    let name = match (names.next(), names.next()) {
        (Some(cn), None) => cn
            .values
            .iter()
            .map(|v| line::decode_param(v))
            .collect::<Vec<_>>()
            .join(","),
        (None, _) => String::new(),
        (Some(_), Some(_)) => {
            return Err(problem(
                format!("{property} names CN twice"),
                "give the candidate's name once",
            ));
        }
    };
    let value = String::from_utf8_lossy(&line[parts.value_at..]);
    let email = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map_or(&*value, |_| &value[7..])
        .to_string();
    for (what, text) in [("name (CN)", &name), ("email", &email)] {
        if let Some(c) = text.chars().find(|&c| crate::util::needs_escape(c)) {
            return Err(problem(
                format!(
                    "the candidate's {what} in {property} holds a control character or line \
                     break (U+{:04X}): {}",
                    u32::from(c),
                    crate::shown(text)
                ),
                "CodeSignal gets it as it is: write it on one line, without control characters",
            ));
        }
    }
    Ok((email, name))
}

/// A DATE or DATE-TIME value, in UTC: `Z` times as they are, `TZID` times in their zone when it
/// is an IANA name, floating and unknown-zone times as UTC plus 14 hours (the latest they can
/// be, so a link never expires early because of it).
fn date_time(parts: &Parts<'_>, value: &[u8]) -> Option<DateTime<Utc>> {
    let value = std::str::from_utf8(value).ok()?.trim();
    if let Some(utc) = value.strip_suffix('Z') {
        return basic_date_time(utc).ok().map(|t| t.and_utc());
    }
    let naive = basic_date_time(value)
        .ok()
        .or_else(|| basic_date(value).ok()?.and_hms_opt(0, 0, 0))?;
    // A list that does not read names no zone: the time is taken as late as it can be.
    let params = line::params(parts.params).unwrap_or_default();
    let zone = params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(b"TZID"))
        .and_then(|p| {
            std::str::from_utf8(p.values.first()?)
                .ok()?
                .trim_start_matches('/')
                .parse::<chrono_tz::Tz>()
                .ok()
        });
    match zone.and_then(|z| z.from_local_datetime(&naive).latest()) {
        Some(t) => Some(t.with_timezone(&Utc)),
        None => Some(naive.and_utc() + chrono::TimeDelta::hours(14)),
    }
}

/// `YYYYMMDD` (RFC 5545 DATE). By hand: chrono's format parser was a fifth of a rewrite's time.
fn basic_date(value: &str) -> Result<NaiveDate, ()> {
    let b = value.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let n = |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    NaiveDate::from_ymd_opt(n(0..4) as i32, n(4..6), n(6..8)).ok_or(())
}

/// `YYYYMMDDTHHMMSS` (RFC 5545 DATE-TIME without its `Z`).
fn basic_date_time(value: &str) -> Result<NaiveDateTime, ()> {
    let b = value.as_bytes();
    if b.len() != 15 || b[8] != b'T' || !b[9..].iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let n = |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    basic_date(&value[..8])?
        .and_hms_opt(n(9..11), n(11..13), n(13..15).min(59))
        .ok_or(())
}

/// `PT1H30M`, `P1D`, `P1W` -> a span; anything else -> `None`.
fn duration(value: &[u8]) -> Option<chrono::TimeDelta> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let rest = value.strip_prefix('+').unwrap_or(value).strip_prefix('P')?;
    let mut total = chrono::TimeDelta::zero();
    let mut number = 0i64;
    for c in rest.chars() {
        let unit = match c {
            '0'..='9' => {
                number = number
                    .checked_mul(10)?
                    .checked_add(i64::from(c as u8 - b'0'))?;
                continue;
            }
            'T' => continue,
            'W' => 7 * 86_400,
            'D' => 86_400,
            'H' => 3_600,
            'M' => 60,
            'S' => 1,
            _ => return None,
        };
        total = total.checked_add(&chrono::TimeDelta::try_seconds(number.checked_mul(unit)?)?)?;
        number = 0;
    }
    Some(total)
}

/// An RRULE's UNTIL, if it has one; `None` for an endless or counted series.
fn until(value: &[u8]) -> Option<DateTime<Utc>> {
    let value = std::str::from_utf8(value).ok()?;
    let until = value
        .split(';')
        .find_map(|p| p.strip_prefix("UNTIL="))?
        .trim_end_matches('Z');
    basic_date_time(until)
        .ok()
        .map(|t| t.and_utc())
        .or_else(|| Some(basic_date(until).ok()?.and_hms_opt(23, 59, 59)?.and_utc()))
}

/// What a token's link is, when the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// The session's URL.
    Url(&'a str),
    /// Nothing: the token is removed (a cancelled event whose link was never minted).
    Removed,
}

impl Scanned {
    /// Whether the file holds no token: written back, it is byte-identical.
    pub fn is_unchanged(&self) -> bool {
        self.edits.is_empty()
    }

    /// Writes the file with every token replaced by `value(occurrence index)`. Lines without
    /// tokens are copied byte for byte; in a line with tokens, everything but the tokens is
    /// kept as written, `$$` escapes included, so the output reads as the same template and a
    /// second run over it finds nothing to do. A property whose value is left blank (its only
    /// content a token that was [`Value::Removed`]) is dropped whole: `URL:` or an empty
    /// `CONFERENCE` is invalid, and an empty `LOCATION:` says nothing. A VALARM whose SUMMARY or
    /// DESCRIPTION is left blank is dropped whole: RFC 5545 requires them of an alarm, and one
    /// that shows nothing (of a cancelled event) has nothing to remind of.
    pub fn write<'u>(&self, file: &[u8], value: impl FnMut(usize) -> Value<'u>) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_into(file, value, &mut out);
        out
    }

    /// [`Scanned::write`] into `out`, which is cleared first: a caller that rewrites many files
    /// (a batch worker, a bench) keeps one buffer, and the kernel does not page in a fresh one
    /// for every file. `value` is called once per token, those in VALARMs first.
    pub fn write_into<'u>(
        &self,
        file: &[u8],
        mut value: impl FnMut(usize) -> Value<'u>,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        // Room for every link (a URL is longer than its token) and the folds of the lines they
        // lengthen, so the buffer is not copied to a larger one halfway (pages never written
        // cost nothing).
        out.reserve(file.len() + self.occurrences.len() * 256);
        let mut line = String::new();
        // An alarm left blank is dropped whole, which an edit late in it may decide: alarms'
        // lines are written first, aside (alarms with tokens are few), the others in place.
        let mut silent = vec![false; self.alarms.len()];
        let mut alarm_lines = Vec::new();
        let alarm_written: Vec<Option<Range<usize>>> = self
            .edits
            .iter()
            .filter(|e| e.alarm.is_some())
            .map(|edit| {
                self.write_edit(
                    file,
                    edit,
                    &mut value,
                    &mut line,
                    &mut silent,
                    &mut alarm_lines,
                )
            })
            .collect();
        let mut alarm_written = alarm_written.into_iter();
        let mut copied = 0;
        for edit in &self.edits {
            if let Some(a) = edit.alarm {
                let new = alarm_written
                    .next()
                    .expect("one entry per edit in an alarm");
                if silent[a] {
                    let alarm = &self.alarms[a];
                    if copied <= alarm.start {
                        out.extend_from_slice(&file[copied..alarm.start]);
                        copied = alarm.end;
                    }
                    continue;
                }
                out.extend_from_slice(&file[copied..edit.raw.range.start]);
                if let Some(range) = new {
                    out.extend_from_slice(&alarm_lines[range]);
                }
            } else {
                out.extend_from_slice(&file[copied..edit.raw.range.start]);
                self.write_edit(file, edit, &mut value, &mut line, &mut silent, out);
            }
            copied = edit.raw.range.end;
        }
        out.extend_from_slice(&file[copied..]);
    }

    /// Appends `edit`'s new line (unfolded into `line`, then folded) to `out`, and says where it
    /// is; `None`, and nothing written, when its value is left blank (which silences its alarm
    /// if it is the alarm's SUMMARY or DESCRIPTION).
    fn write_edit<'u>(
        &self,
        file: &[u8],
        edit: &Edit,
        value: &mut impl FnMut(usize) -> Value<'u>,
        line: &mut String,
        silent: &mut [bool],
        out: &mut Vec<u8>,
    ) -> Option<Range<usize>> {
        line.clear();
        // Not reachable today (a file's first content line is a BEGIN), but a BOM is kept.
        if edit.raw.range.start == 0 && file.starts_with(b"\xEF\xBB\xBF") {
            line.push('\u{feff}');
        }
        let value_at = line.len() + edit.value_at;
        line.push_str(&edit.unfolded[..edit.value_at]);
        let source = &edit.unfolded[edit.value_at..];
        let mut kept = 0;
        for (piece, slot) in &edit.pieces {
            let Piece::Token { span, .. } = piece else {
                continue;
            };
            line.push_str(&source[kept..span.start]);
            kept = span.end;
            let index = slot.expect("every token of a scanned file is bound");
            if let Value::Url(url) = value(index) {
                match edit.kind {
                    ValueKind::Uri => line.push_str(url),
                    ValueKind::Text => line::escape_text(url, line),
                    ValueKind::Html => {
                        let mut html = String::new();
                        escape_html(url, &mut html);
                        line::escape_text(&html, line);
                    }
                }
            }
        }
        line.push_str(&source[kept..]);
        if blank(&line[value_at..]) {
            if let Some(a) = edit.alarm
                && let Some(parts) = Parts::split(edit.unfolded.as_bytes())
                && (parts.is("SUMMARY") || parts.is("DESCRIPTION"))
            {
                silent[a] = true;
            }
            return None;
        }
        // A line that ends the file without a line ending keeps having none; folds inside it
        // use the file's first line ending.
        let eol: &[u8] = if edit.raw.eol.is_empty() {
            first_eol(file)
        } else {
            edit.raw.eol
        };
        let start = out.len();
        line::fold(line.as_bytes(), eol, out);
        if edit.raw.eol.is_empty() {
            out.truncate(out.len() - eol.len());
        }
        Some(start..out.len())
    }
}

/// Whether a value says nothing: only whitespace and TEXT line breaks (`\n`, `\N`).
fn blank(value: &str) -> bool {
    let mut rest = value.trim_start();
    while let Some(after) = rest
        .strip_prefix("\\n")
        .or_else(|| rest.strip_prefix("\\N"))
    {
        rest = after.trim_start();
    }
    rest.is_empty()
}

fn first_eol(file: &[u8]) -> &'static [u8] {
    match memchr::memchr(b'\n', file) {
        Some(i) if i > 0 && file[i - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    }
}

/// Whether `text` holds no token shape (known or not): written into a file, it stays text.
pub fn inert(text: &str) -> bool {
    Template::parse(text).is_ok_and(|t| t.tokens().next().is_none())
}

/// Occurrence indexes grouped by key, in key order: what a batch must mint.
pub fn keys(occurrences: &[Occurrence]) -> BTreeMap<&MintKey, Vec<usize>> {
    let mut keys: BTreeMap<&MintKey, Vec<usize>> = BTreeMap::new();
    for (i, o) in occurrences.iter().enumerate() {
        keys.entry(&o.key).or_default().push(i);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://sandbox.invitoken.invalid/live/x?a=1&b=2";

    fn rewrite(file: &str) -> (Scanned, String) {
        let scanned = scan(file.as_bytes(), &IcsOptions::default()).expect("scans");
        let out = scanned.write(file.as_bytes(), |_| Value::Url(URL));
        (scanned, String::from_utf8(out).expect("UTF-8"))
    }

    fn problems(file: &str) -> Vec<Problem> {
        scan(file.as_bytes(), &IcsOptions::default()).expect_err("fails")
    }

    fn event(body: &str) -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u-1\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    }

    #[test]
    fn only_token_lines_change_and_values_are_escaped_for_their_type() {
        let file = event(
            "SUMMARY:Room: $Event.CodeSignal.Live.Link\r\nX-FOO:untouched ;, \\\r\n  kept\r\nX-ALT-DESC;FMTTYPE=text/html:<a href=\"$Event.CodeSignal.Live.Link\">x</a>\r\nURL:$Event.CodeSignal.Live.Link\r\n",
        );
        let (scanned, out) = rewrite(&file);
        assert_eq!(scanned.occurrences.len(), 3);
        assert!(out.contains("X-FOO:untouched ;, \\\r\n  kept\r\n"), "{out}");
        assert!(out.contains("SUMMARY:Room: https://sandbox.invitoken.invalid/live/x?a=1&b=2\r\n"));
        assert!(out.contains("URL:https://sandbox.invitoken.invalid/live/x?a=1&b=2\r\n"));
        // HTML-escaped, then TEXT-escaped (nothing to escape for TEXT here), then folded.
        let alt: String = out
            .split("X-ALT-DESC")
            .nth(1)
            .unwrap()
            .split("\r\nURL")
            .next()
            .unwrap()
            .replace("\r\n ", "");
        assert_eq!(
            alt,
            ";FMTTYPE=text/html:<a href=\"https://sandbox.invitoken.invalid/live/x?a=1&amp\\;b=2\">x</a>"
        );
    }

    #[test]
    fn a_token_split_by_a_fold_resolves_and_the_line_is_refolded() {
        let file = event("DESCRIPTION:caf\u{e9} join $Event.Code\n Signal.Live.Link now\n");
        let (scanned, out) = rewrite(&file.replace("\r\n", "\n"));
        assert_eq!(scanned.occurrences[0].token, Token::EventLiveLink);
        assert!(out.contains(
            "DESCRIPTION:café join https://sandbox.invitoken.invalid/live/x?a=1&b=2 now\n"
        ));
    }

    #[test]
    fn a_token_free_file_is_copied_byte_for_byte() {
        let file = "\u{feff}BEGIN:VCALENDAR\nX-A:1\r\n folded\rodd\nEND:VCALENDAR";
        let (scanned, out) = rewrite(file);
        assert!(scanned.is_unchanged());
        assert_eq!(out, file);
    }

    #[test]
    fn the_last_line_without_an_ending_keeps_none() {
        let file = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nEND:VEVENT\nX-WR-CALDESC:x\nCOMMENT:$Interview.CodeSignal.Live.Link\nX-INTERVIEW-ID:int-1\nEND:VCALENDAR";
        let (scanned, out) = rewrite(file);
        assert_eq!(scanned.occurrences[0].key.interview_id, "int-1");
        assert!(out.ends_with("\nEND:VCALENDAR"));
    }

    #[test]
    fn interview_ids_come_from_the_event_else_the_calendar_else_the_uid() {
        let file = "BEGIN:VCALENDAR\r\nX-INTERVIEW-ID:cal\r\nBEGIN:VEVENT\r\nUID:a\r\nDESCRIPTION:$Interview.CodeSignal.Live.Link\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nX-INTERVIEW-ID:own\r\nDESCRIPTION:$Interview.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:c\r\nDESCRIPTION:$Interview.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (scanned, _) = rewrite(file);
        let ids: Vec<&str> = scanned
            .occurrences
            .iter()
            .map(|o| o.key.interview_id.as_str())
            .collect();
        assert_eq!(ids, ["cal", "own", "c"]);
        assert_eq!(scanned.notes.len(), 1, "{:?}", scanned.notes);
        assert!(scanned.notes[0].contains("`c`"));
    }

    #[test]
    fn template_links_need_a_template_id() {
        let p = problems(&event("DESCRIPTION:$Event.CodeSignal.Template.Link\r\n"));
        assert_eq!((p[0].line, p[0].col), (5, 13));
        assert!(
            p[0].message
                .contains("event `u-1` has no X-CODESIGNAL-TEMPLATE-ID"),
            "{}",
            p[0]
        );
        let (scanned, _) = rewrite(&event(
            "X-CODESIGNAL-TEMPLATE-ID:tpl-9\r\nDESCRIPTION:$Event.CodeSignal.Template.Link\r\n",
        ));
        assert_eq!(
            scanned.occurrences[0].key.template_id.as_deref(),
            Some("tpl-9")
        );
    }

    #[test]
    fn cancelled_events_are_marked() {
        let (scanned, _) = rewrite(&event(
            "STATUS:CANCELLED\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\n",
        ));
        assert!(scanned.events[0].cancelled);
        let file = event("DESCRIPTION:$Event.CodeSignal.Live.Link\r\n")
            .replace("VERSION:2.0", "METHOD:CANCEL");
        assert!(rewrite(&file).0.events[0].cancelled);
        let out = scan(file.as_bytes(), &IcsOptions::default())
            .unwrap()
            .write(file.as_bytes(), |_| Value::Removed);
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("DESCRIPTION"), "{out}");
        assert!(out.contains("UID:u-1\r\nEND:VEVENT"), "{out}");
    }

    #[test]
    fn a_value_left_blank_by_a_removed_token_drops_its_property_and_only_it() {
        let file = event(
            "STATUS:CANCELLED\r\nLOCATION: $Event.CodeSignal.Live.Link \\n\r\nURL:$Event.CodeSignal.Live.Link\r\nCONFERENCE;VALUE=URI:$Event.CodeSignal.Live.Link\r\nDESCRIPTION:Was: $Event.CodeSignal.Live.Link\r\n",
        );
        let out = scan(file.as_bytes(), &IcsOptions::default())
            .unwrap()
            .write(file.as_bytes(), |_| Value::Removed);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            event("STATUS:CANCELLED\r\nDESCRIPTION:Was: \r\n"),
            "{out}"
        );
    }

    #[test]
    fn an_alarm_left_with_nothing_to_show_is_dropped_whole() {
        let alarm = |description: &str| {
            format!(
                "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:{description}\r\nEND:VALARM\r\n"
            )
        };
        let file = event(&format!(
            "STATUS:CANCELLED\r\n{}LOCATION:$Event.CodeSignal.Live.Link\r\n{}",
            alarm("$Event.CodeSignal.Live.Link"),
            alarm("Soon: $Event.CodeSignal.Live.Link")
        ));
        let out = scan(file.as_bytes(), &IcsOptions::default())
            .unwrap()
            .write(file.as_bytes(), |_| Value::Removed);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            event(&format!("STATUS:CANCELLED\r\n{}", alarm("Soon: ")))
        );
    }

    #[test]
    fn escapes_are_kept_as_written_on_lines_with_and_without_tokens() {
        let file = event(
            "SUMMARY:$$Event.CodeSignal.Live.Link is text\r\nDESCRIPTION:$$Event.CodeSignal.Live.Link: $Event.CodeSignal.Live.Link $$$Candidate.Name\r\n",
        );
        let (scanned, out) = rewrite(&file);
        assert_eq!(scanned.occurrences.len(), 1);
        let out = out.replace("\r\n ", "");
        assert!(out.contains("SUMMARY:$$Event.CodeSignal.Live.Link is text\r\n"));
        assert!(
            out.contains(&format!(
                "DESCRIPTION:$$Event.CodeSignal.Live.Link: {URL} $$$Candidate.Name\r\n"
            )),
            "{out}"
        );
        // The output is its own fixed point.
        let again = scan(out.as_bytes(), &IcsOptions::default()).unwrap();
        assert_eq!(
            again.write(out.as_bytes(), |_| unreachable!()),
            out.as_bytes()
        );
        assert!(again.is_unchanged());
        assert!(again.occurrences.is_empty());
    }

    #[test]
    fn tokens_where_batch_resolves_none_are_errors_with_places() {
        let cases = [
            (
                event("DESCRIPTION;ALTREP=\"$Event.CodeSignal.Live.Link\":x\r\n"),
                (5, 21),
                "a parameter of DESCRIPTION",
            ),
            (
                event("ATTENDEE;CN=$Candidate.Name:mailto:a@b\r\n"),
                (5, 13),
                "a parameter of ATTENDEE",
            ),
            (
                event("X-FOO:$Event.CodeSignal.Live.Link\r\n"),
                (5, 7),
                "in X-FOO would go out unresolved",
            ),
            (
                event("ATTACH:$Event.CodeSignal.Live.Link\r\n"),
                (5, 8),
                "ATTACH",
            ),
            (
                event("CATEGORIES:a,$Event.Topic\r\n"),
                (5, 14),
                "CATEGORIES",
            ),
            (
                event("UID:$Event.Topic\r\n"),
                (5, 5),
                "UID",
            ),
            (
                "BEGIN:VCALENDAR\r\nX-WR-CALDESC:$Interview.CodeSignal.Live.Link\r\nEND:VCALENDAR\r\n".into(),
                (2, 14),
                "X-WR-CALDESC",
            ),
            (
                "BEGIN:VCALENDAR\r\nX-INTERVIEW-ID:i\r\nBEGIN:VTODO\r\nUID:t\r\nSUMMARY:$Interview.CodeSignal.Live.Link\r\nEND:VTODO\r\nEND:VCALENDAR\r\n".into(),
                (5, 9),
                "SUMMARY of a VTODO",
            ),
            (
                "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nBEGIN:VALARM\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VALARM\r\nEND:VTODO\r\nEND:VCALENDAR\r\n".into(),
                (5, 13),
                "DESCRIPTION of a VALARM",
            ),
            // A typo is as wrong in a parameter as in a value.
            (
                event("DESCRIPTION;X-P=$Event.CodeSignl.Live.Link:x\r\n"),
                (5, 17),
                "where no token is resolved",
            ),
            // A fold inside the parameter hides nothing.
            (
                event("DESCRIPTION;ALTREP=\"$Event.Code\r\n Signal.Live.Link\":x\r\n"),
                (5, 21),
                "a parameter of DESCRIPTION",
            ),
        ];
        for (file, at, place) in cases {
            let p = problems(&file);
            assert_eq!((p[0].line, p[0].col), at, "{file:?}: {}", p[0]);
            assert!(p[0].message.contains(place), "{file:?}: {}", p[0]);
            assert!(p[0].help.is_some(), "{}", p[0]);
        }
        // Escapes and prices are text anywhere.
        let (scanned, _) = rewrite(&event(
            "X-FOO;X-P=\"$$Event.Topic\":$$Event.CodeSignal.Live.Link costs $5\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\n",
        ));
        assert_eq!(scanned.occurrences.len(), 1);
        // A VALARM of a VEVENT is the event's.
        let (scanned, out) = rewrite(&event(
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VALARM\r\n",
        ));
        assert_eq!(scanned.occurrences.len(), 1);
        assert!(!out.contains('$'));
    }

    #[test]
    fn ids_with_control_characters_never_become_keys() {
        for body in [
            "X-INTERVIEW-ID:int\r1\r\nX-CODESIGNAL-TEMPLATE-ID:t\r\n",
            "X-INTERVIEW-ID:i\r\nX-CODESIGNAL-TEMPLATE-ID:t\u{1b}[2J\r\n",
        ] {
            let p = problems(&event(&format!(
                "{body}DESCRIPTION:$Event.CodeSignal.Template.Link\r\n"
            )));
            // Reported at the event's BEGIN line.
            assert_eq!((p[0].line, p[0].col), (3, 1), "{}", p[0]);
            assert!(p[0].message.contains("control character"), "{}", p[0]);
            assert!(!p[0].message.contains(['\r', '\u{1b}']), "{}", p[0]);
        }
        let p = problems(
            &event("DESCRIPTION:$Event.CodeSignal.Live.Link\r\n")
                .replace("UID:u-1", "UID:u\u{202e}1"),
        );
        assert!(p[0].message.contains("UID"), "{}", p[0]);
        // On the calendar, for an `$Interview` link outside any event.
        let p = problems(
            "BEGIN:VCALENDAR\r\nX-INTERVIEW-ID:a\u{85}b\r\nCOMMENT:$Interview.CodeSignal.Live.Link\r\nEND:VCALENDAR\r\n",
        );
        assert!(p[0].message.contains("interview id"), "{}", p[0]);
        // Printable ids, ASCII or not, are fine.
        let (scanned, _) = rewrite(&event(
            "X-INTERVIEW-ID:entrevue-é 1\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\n",
        ));
        assert_eq!(scanned.occurrences[0].key.interview_id, "entrevue-é 1");
    }

    #[test]
    fn candidate_parameters_are_read_per_rfc_5545_and_6868() {
        let candidate = |line: &str| {
            scan(
                event(&format!(
                    "{line}\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\n"
                ))
                .as_bytes(),
                &IcsOptions::default(),
            )
            .map(|s| s.events[0].candidate.clone())
        };
        assert_eq!(
            candidate(
                "X-CANDIDATE;ROLE=REQ-PARTICIPANT;CN=\"Doe; J:r, ^'Ada^' ^^\":MAILTO:ada@example.org"
            ),
            Ok(Some((
                "ada@example.org".into(),
                "Doe; J:r, \"Ada\" ^".into()
            )))
        );
        assert_eq!(
            candidate("X-CANDIDATE;CN=Ada\r\n  Lovelace;X-X=1:mailto:ada@example.org"),
            Ok(Some(("ada@example.org".into(), "Ada Lovelace".into())))
        );
        for (line, says) in [
            ("X-CANDIDATE;CN=\"Ada^nBcc: x\":mailto:a@b", "U+000A"),
            ("X-CANDIDATE;CN=Ada\u{7}:mailto:a@b", "U+0007"),
            ("X-CANDIDATE;CN=Ada:mailto:a@b\u{1b}[2J", "email"),
            (
                "X-CANDIDATE;CN=\"Ada:mailto:a@b",
                "not an iCalendar content line",
            ),
            ("X-CANDIDATE;CN=\"Ada\"x:mailto:a@b", "stray"),
            ("X-CANDIDATE;CN=A;CN=B:mailto:a@b", "CN twice"),
        ] {
            let p = candidate(line).expect_err(line);
            assert_eq!(p[0].line, 5, "{line}");
            assert!(p[0].message.contains(says), "{line}: {}", p[0]);
            assert!(!p[0].message.contains('\u{1b}'), "{}", p[0]);
        }
        // On the calendar, a broken one fails the events that take it.
        let file = "BEGIN:VCALENDAR\r\nX-CANDIDATE;CN=\"x^ny\":mailto:a@b\r\nBEGIN:VEVENT\r\nUID:u\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(problems(file)[0].line, 2);
    }

    #[test]
    fn bad_tokens_context_tokens_and_misplaced_tokens_are_errors_with_places() {
        let p = problems(&event(
            "SUMMARY:x\r\nDESCRIPTION:a $Event.CodeSignal.Live.Lnk b\r\nLOCATION:$Candidate.Name\r\n",
        ));
        assert_eq!((p[0].line, p[0].col), (6, 15));
        assert!(
            p[0].help
                .as_deref()
                .unwrap()
                .contains("$Event.CodeSignal.Live.Link")
        );
        assert_eq!((p[1].line, p[1].col), (7, 10));
        assert!(p[1].message.contains("link tokens only"));
        let p =
            problems("BEGIN:VCALENDAR\r\nCOMMENT:$Event.CodeSignal.Live.Link\r\nEND:VCALENDAR\r\n");
        assert!(p[0].message.contains("outside any VEVENT"));
        let p = problems(
            &event("DESCRIPTION:$Event.CodeSignal.Live.Link\r\n").replace("UID:u-1\r\n", ""),
        );
        assert!(p[0].message.contains("no UID"));
    }

    #[test]
    fn a_finding_in_a_folded_line_points_at_its_physical_line() {
        let p = problems(&event(
            "DESCRIPTION:0123456789\r\n abc $Event.Zoom.Link\r\n",
        ));
        assert_eq!((p[0].line, p[0].col), (6, 6), "{}", p[0]);
    }

    #[test]
    fn broken_structure_is_reported_with_its_line() {
        let p = problems("BEGIN:VCALENDAR\r\nno colon $x\r\nEND:VCALENDAR\r\n");
        assert_eq!(p[0].line, 2);
        let p = problems("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:$5\r\nEND:VCALENDAR\r\n");
        assert!(p[0].message.contains("closes `BEGIN:VEVENT`"), "{}", p[0]);
        let p = problems("PK\u{3}\u{4} $binary");
        assert!(p[0].message.contains("not an iCalendar content line"));
        let p = problems("X-FIRST:$1\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
        assert!(p[0].message.contains("starts with `BEGIN:VCALENDAR`"));
        let p = problems("hello");
        assert!(p[0].message.contains("not iCalendar"));
    }

    #[test]
    fn times_are_read_for_expiry() {
        let ends = |body: &str| {
            rewrite(&event(&format!(
                "{body}DESCRIPTION:$Event.CodeSignal.Live.Link\r\n"
            )))
            .0
            .events[0]
                .ends
        };
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            ends("DTSTART:20270302T080000Z\r\nDTEND:20270302T090000Z\r\n"),
            Some(utc("2027-03-02T09:00:00Z"))
        );
        assert_eq!(
            ends("DTSTART;TZID=Europe/Paris:20270302T080000\r\nDURATION:PT1H30M\r\n"),
            Some(utc("2027-03-02T08:30:00Z"))
        );
        assert_eq!(
            ends("DTSTART;TZID=W. Europe Standard Time:20270302T080000\r\n"),
            Some(utc("2027-03-02T22:00:00Z"))
        );
        assert_eq!(
            ends("DTSTART:20270302T080000Z\r\nRRULE:FREQ=WEEKLY;UNTIL=20270401T000000Z\r\n"),
            Some(utc("2027-04-01T00:00:00Z"))
        );
        assert_eq!(
            ends("DTSTART:20270302T080000Z\r\nRRULE:FREQ=WEEKLY\r\n"),
            None
        );
        assert_eq!(
            ends("DTSTART;VALUE=DATE:20270302\r\nDURATION:P99999999999999W\r\n"),
            Some(utc("2027-03-02T14:00:00Z"))
        );
    }

    #[test]
    fn a_fold_inside_the_property_name_hides_nothing() {
        let file = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID\r\n :u\r\nSUMM\r\n ARY\r\n :Join $Event.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (scanned, out) = rewrite(file);
        assert_eq!(scanned.occurrences.len(), 1);
        assert_eq!(scanned.events[0].uid, "u");
        assert!(!out.contains('$'), "{out}");
    }

    proptest::proptest! {
        /// The table lookup finds the name's end as the loop it replaced did.
        #[test]
        fn name_end_matches_a_plain_loop(
            line in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"AZaz09-_;:\r\n \"=".to_vec()),
                    proptest::num::u8::ANY,
                ],
                0..40,
            )
        ) {
            let mut ok = true;
            let end = line
                .iter()
                .position(|&b| {
                    ok &= b.is_ascii_alphanumeric() || b"-_;:".contains(&b);
                    b == b';' || b == b':'
                })
                .unwrap_or(line.len());
            proptest::prop_assert_eq!(name_end(&line), (end, ok));
            let name = &line[..end];
            proptest::prop_assert_eq!(
                is_begin_or_end(name),
                matches!(Prop::of(name, &IcsOptions::default()), Prop::Begin | Prop::End)
            );
        }
    }

    #[test]
    fn write_into_a_reused_buffer_writes_what_write_does() {
        let alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VALARM\r\n";
        let files = [
            event(&format!(
                "STATUS:CANCELLED\r\nLOCATION:$Event.CodeSignal.Live.Link\r\n{alarm}"
            )),
            event(&format!(
                "DESCRIPTION:Join $Event.CodeSignal.Live.Link\r\n{alarm}"
            )),
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".into(),
        ];
        // Left over from a longer file: none of it may show.
        let mut out = vec![b'#'; 4096];
        for file in &files {
            let scanned = scan(file.as_bytes(), &IcsOptions::default()).unwrap();
            for removed in [false, true] {
                let value = |_| {
                    if removed {
                        Value::Removed
                    } else {
                        Value::Url(URL)
                    }
                };
                scanned.write_into(file.as_bytes(), value, &mut out);
                assert_eq!(out, scanned.write(file.as_bytes(), value), "{file}");
                assert!(!out.contains(&b'#'));
            }
        }
    }

    #[test]
    fn begin_and_end_are_known_in_any_case() {
        for name in ["BEGIN", "begin", "End", "END"] {
            assert!(is_begin_or_end(name.as_bytes()), "{name}");
        }
        for name in ["BEGINS", "EN", "ENDX", "BEGIN;", "X-END"] {
            assert!(!is_begin_or_end(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn quoted_printable_is_found_in_any_case_and_across_folds() {
        assert!(mentions_quoted_printable(b"X;ENCODING=Quoted-Printable:x"));
        assert!(mentions_quoted_printable(
            b"X;ENCODING=QUOTED-PRI\r\n NTABLE:x"
        ));
        assert!(!mentions_quoted_printable(
            b"X;ENCODING=BASE64:quoted printable"
        ));
        assert!(qp_may_hide_token(
            b"X;ENCODING=QUOTED-PRINTABLE:=2\r\n 4Event"
        ));
        assert!(qp_may_hide_token(b"X;ENCODING=QUOTED-PRINTABLE:=ef=bc=84"));
        assert!(!qp_may_hide_token(b"X;ENCODING=QUOTED-PRINTABLE:a =3D b"));
        assert!(!qp_may_hide_token(b"DESCRIPTION:price =24"));
        // A byte order mark, quoted-printable: its lead byte is no dollar.
        assert!(
            crate::parse::token_starts(&decode_quoted_printable(b"=EF=BB=BFx"))
                .next()
                .is_none()
        );
        assert_eq!(
            decode_quoted_printable(b"Join =24Event=\r\nx =3d"),
            b"Join $Eventx ="
        );
    }

    #[test]
    fn tokens_in_quoted_printable_values_are_refused() {
        let p = problems(&event(
            "DESCRIPTION;ENCODING=QUOTED-PRINTABLE:Join =3D $Event.CodeSignal.Live.Link\r\n",
        ));
        assert!(p[0].message.contains("quoted-printable"), "{}", p[0]);
        // A price in such a value is no token: nothing to refuse.
        let (scanned, _) = rewrite(&event("DESCRIPTION;ENCODING=QUOTED-PRINTABLE:$100\r\n"));
        assert!(scanned.is_unchanged());
    }

    #[test]
    fn an_overridden_occurrence_shares_its_series_link() {
        let file = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:series\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:series\r\nRECURRENCE-ID:20270309T080000Z\r\nDESCRIPTION:moved: $Event.CodeSignal.Live.Link\r\nBEGIN:VALARM\r\nUID:alarm-uid-is-not-the-event's\r\nDESCRIPTION:$Event.CodeSignal.Live.Link\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (scanned, _) = rewrite(file);
        assert_eq!(scanned.occurrences.len(), 3);
        assert_eq!(keys(&scanned.occurrences).len(), 1);
        assert_eq!(
            scanned.occurrences[2].key.event_id.as_deref(),
            Some("series")
        );
    }
}
