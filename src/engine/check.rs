//! `check`: every problem of templates, requests and `.ics` files, where it is and how to fix
//! it, without minting anything.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::input::{InputError, input_name, input_text, read_failed, read_input};
use crate::ics::rewrite::IcsOptions;
use crate::parse::stream::{PlacedFinding, StreamError, TextStream};
use crate::{Context, Field, Finding, Located, Plan, Request, RequestError, Template, TemplateSet};

/// One problem, with where it is and how to fix it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// 1-based line, in the template (for a request's template: in that field's text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column (characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// How to fix it ("did you mean ...?"), when that can be said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The request field it is in, as a JSON pointer (`/templates/candidate/body`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    shown: Shown,
}

/// How a diagnostic is shown to people.
#[derive(Debug, Clone)]
enum Shown {
    /// With its source line and a caret (a finding in a template).
    Snippet {
        origin: String,
        source: Arc<str>,
        finding: Finding,
    },
    /// With its source line and a caret: a finding of a streamed template, kept with the part
    /// of its line the report shows.
    Window {
        origin: String,
        placed: Box<PlacedFinding>,
    },
    /// One line, as it is.
    Line(String),
}

impl Diagnostic {
    /// A finding in `source`, a template shown as `origin`.
    fn finding(origin: &str, source: &Arc<str>, finding: &Finding, field: Option<Field>) -> Self {
        let (line, column) = crate::line_col(source, finding.span.start);
        Diagnostic {
            message: finding.message(),
            line: Some(line),
            column: Some(column),
            help: finding.help(),
            field: field.map(|f| f.pointer().to_owned()),
            shown: Shown::Snippet {
                origin: origin.to_owned(),
                source: Arc::clone(source),
                finding: finding.clone(),
            },
        }
    }

    /// A finding of a streamed template shown as `origin`.
    fn placed(origin: &str, placed: PlacedFinding) -> Self {
        let (line, column) = placed.line_col;
        Diagnostic {
            message: placed.finding.message(),
            line: Some(line),
            column: Some(column),
            help: placed.finding.help(),
            field: None,
            shown: Shown::Window {
                origin: origin.to_owned(),
                placed: Box::new(placed),
            },
        }
    }

    /// A problem shown as the one line `text` (its message: `message`).
    fn line(
        text: String,
        message: String,
        at: Option<(usize, usize)>,
        help: Option<String>,
    ) -> Self {
        Diagnostic {
            message,
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            help,
            field: None,
            shown: Shown::Line(text),
        }
    }

    /// The diagnostic for people: a snippet with a caret (several lines, ending in a blank
    /// line) for a template finding, else one line (no newline) to print after `error: `.
    /// Control characters in it are escaped.
    pub fn render(&self, color: bool) -> String {
        match &self.shown {
            Shown::Snippet {
                origin,
                source,
                finding,
            } => crate::render_findings(origin, source, std::slice::from_ref(finding), color),
            Shown::Window { origin, placed } => crate::parse::render_finding_at(
                origin,
                &placed.window,
                &placed.finding,
                placed.line_col,
                color,
            ),
            Shown::Line(text) => text.clone(),
        }
    }

    /// Whether [`render`](Diagnostic::render) gives a snippet rather than one line.
    pub fn is_snippet(&self) -> bool {
        matches!(self.shown, Shown::Snippet { .. } | Shown::Window { .. })
    }
}

/// What `check` says of one input.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CheckedFile {
    /// The input, as shown (`<stdin>` for standard input).
    pub name: String,
    /// Tokens found in it.
    pub tokens: usize,
    /// Its problems; none means it is fine.
    pub problems: Vec<Diagnostic>,
    /// Things worth knowing that are not problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How many problems it counts as (a request that does not parse counts once, whatever
    /// it lists).
    #[serde(skip)]
    count: usize,
}

impl CheckedFile {
    fn new(name: &str) -> CheckedFile {
        CheckedFile {
            name: name.to_owned(),
            tokens: 0,
            problems: Vec::new(),
            notes: Vec::new(),
            count: 0,
        }
    }

    fn problem(&mut self, d: Diagnostic) {
        self.problems.push(d);
        self.count += 1;
    }
}

/// What `check` says of all its inputs.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// One entry per input (`.ics` files first, as one batch reads them together).
    pub files: Vec<CheckedFile>,
    /// Problems not of one input (the `.ics` inputs could not be listed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Diagnostic>,
}

impl CheckReport {
    /// Tokens found in all inputs.
    pub fn tokens(&self) -> usize {
        self.files.iter().map(|f| f.tokens).sum()
    }

    /// How many problems there are (zero: every input is fine).
    pub fn problems(&self) -> usize {
        self.errors.len() + self.files.iter().map(|f| f.count).sum::<usize>()
    }
}

/// The text of the template field `field` of `request`, if it has that template.
pub(crate) fn template_text(request: &Request, field: Field) -> Option<&str> {
    let t = request.templates();
    let (template, subject) = match field {
        Field::CandidateSubject => (&t.candidate, true),
        Field::CandidateBody => (&t.candidate, false),
        Field::InterviewerSubject => (&t.interviewer, true),
        Field::InterviewerBody => (&t.interviewer, false),
    };
    let template = template.as_ref()?;
    Some(if subject {
        &template.subject
    } else {
        &template.body
    })
}

/// Diagnostics for findings located in `request`'s templates, each against its own template
/// text; the request is shown as `name`.
pub fn located(name: &str, request: &Request, found: &[Located]) -> Vec<Diagnostic> {
    found
        .iter()
        .map(|l| {
            let origin = format!("{name}#{}", l.field.pointer());
            let source: Arc<str> = template_text(request, l.field).unwrap_or_default().into();
            Diagnostic::finding(&origin, &source, &l.finding, Some(l.field))
        })
        .collect()
}

/// Checks a request's templates as `resolve` would see them.
pub fn request(name: &str, request: &Request) -> CheckedFile {
    let mut file = CheckedFile::new(name);
    let checked = TemplateSet::parse(request).and_then(|templates| {
        file.tokens += [&templates.candidate, &templates.interviewer]
            .into_iter()
            .flatten()
            .map(|t| t.subject.tokens().count() + t.body.tokens().count())
            .sum::<usize>();
        Plan::new(request, &templates)
    });
    if let Err(found) = checked {
        for d in located(name, request, &found) {
            file.problem(d);
        }
    }
    file
}

/// The diagnostics of a request that could not be read from JSON, shown as `name`.
pub fn request_error(name: &str, e: &RequestError) -> Vec<Diagnostic> {
    match e {
        RequestError::Json {
            path,
            message,
            line,
            column,
        } => vec![Diagnostic::line(
            format!("{name}:{line}:{column}: {path}: {message}"),
            format!("{path}: {message}"),
            Some((*line, *column)),
            None,
        )],
        RequestError::Invalid(problems) => {
            let mut out: Vec<Diagnostic> = problems
                .iter()
                .map(|p| Diagnostic::line(format!("{name}: {p}"), p.to_string(), None, None))
                .collect();
            out.push(Diagnostic::line(
                format!("{name}: {} problem(s) in the request", problems.len()),
                format!("{} problem(s) in the request", problems.len()),
                None,
                None,
            ));
            out
        }
    }
}

/// Checks a request given as JSON text.
pub fn request_json(name: &str, json: &str) -> CheckedFile {
    match Request::from_json(json) {
        Ok(r) => request(name, &r),
        Err(e) => failed(name, request_error(name, &e)),
    }
}

/// An input that failed as a whole: it counts as one problem, whatever it lists.
fn failed(name: &str, problems: Vec<Diagnostic>) -> CheckedFile {
    let mut file = CheckedFile::new(name);
    file.problems = problems;
    file.count = 1;
    file
}

/// An input that could not be read, or is not text.
fn unreadable(name: &str, e: &super::InputError) -> CheckedFile {
    failed(
        name,
        vec![Diagnostic::line(e.to_string(), e.to_string(), None, None)],
    )
}

/// Checks one template (an HTML one where its tokens stand, as `resolve` checks an HTML body).
pub fn template(name: &str, text: &str, html: bool) -> CheckedFile {
    let mut file = CheckedFile::new(name);
    let checked = Template::parse(text)
        .and_then(|t| Context::of_template(&t, false, html).map(|_| t.tokens().count()));
    match checked {
        Ok(n) => file.tokens = n,
        Err(found) => {
            let source: Arc<str> = text.into();
            for f in &found {
                file.problem(Diagnostic::finding(name, &source, f, None));
            }
        }
    }
    file
}

/// Bytes `check` reads of a plain-text template at a time: it is lexed as it is read, so memory
/// does not grow with it.
pub const CHUNK: usize = 1 << 20;

/// Checks one plain-text template read from `reader` `chunk` bytes at a time, as [`template`]
/// checks its whole text (same tokens, problems and reports), holding a chunk and an
/// unfinished token at a time. At most 10,000 problems are kept with their reports; the
/// rest are counted in a note. Fails past `cap` bytes (`too_large` says so), and on a token
/// shape of more than a MiB (never a token; the whole read would hold it).
pub fn text_stream(
    name: &str,
    reader: &mut impl Read,
    cap: u64,
    chunk: usize,
    failed: impl Fn(Option<std::io::Error>) -> InputError,
) -> CheckedFile {
    text_stream_from(name, TextStream::new(chunk), reader, cap, failed)
}

fn text_stream_from(
    name: &str,
    mut stream: TextStream,
    reader: &mut impl Read,
    cap: u64,
    failed: impl Fn(Option<std::io::Error>) -> InputError,
) -> CheckedFile {
    loop {
        let more = match stream.read(reader) {
            Ok(more) => more,
            Err(e) => return unreadable(name, &failed(Some(e))),
        };
        if stream.given() as u64 > cap {
            return unreadable(name, &failed(None));
        }
        if !more {
            break;
        }
    }
    let streamed = stream.finish();
    match streamed.failed {
        Some(StreamError::NotUtf8 { line_col, byte }) => {
            let e = InputError::NotUtf8 {
                name: name.to_owned(),
                line: line_col.0,
                column: line_col.1,
                byte,
            };
            return unreadable(name, &e);
        }
        Some(StreamError::TooLong {
            line_col: (line, column),
            byte,
            limit,
        }) => {
            let message = format!(
                "a `$` and identifier characters go on for more than {limit} bytes (from byte \
                 {byte}); no token is that long: is this a template?"
            );
            return self::failed(
                name,
                vec![Diagnostic::line(
                    format!("{name}:{line}:{column}: {message}"),
                    message,
                    Some((line, column)),
                    None,
                )],
            );
        }
        _ => {}
    }
    let mut file = CheckedFile::new(name);
    if streamed.findings.is_empty() && streamed.more == 0 {
        file.tokens = streamed.tokens;
        return file;
    }
    for placed in streamed.findings {
        file.problem(Diagnostic::placed(name, placed));
    }
    if streamed.more > 0 {
        file.count += streamed.more;
        file.notes.push(format!(
            "{} more problem(s) not shown: only the first {} are kept",
            streamed.more,
            file.problems.len()
        ));
    }
    file
}

/// Checks the input `path` (`-`: standard input), not a request nor HTML, read `chunk` bytes at
/// a time: as iCalendar when it is one (read whole, as `batch` reads it), else as a plain-text
/// template, streamed ([`text_stream`]).
pub fn stream_input(path: &Path, options: &IcsOptions, cap: u64, chunk: usize) -> CheckedFile {
    let name = input_name(path);
    let failed = |e| read_failed(path, cap, e);
    if path == Path::new("-") {
        return sniffed(
            &name,
            &mut std::io::stdin().lock(),
            options,
            cap,
            chunk,
            failed,
        );
    }
    match crate::util::fs::open_regular(path, cap) {
        Ok((mut file, _)) => sniffed(&name, &mut file, options, cap, chunk, failed),
        Err(e) => unreadable(
            &name,
            &InputError::Unreadable {
                name: name.clone(),
                message: e.to_string(),
            },
        ),
    }
}

/// Reads the start of `reader` to see whether it is iCalendar (see
/// [`crate::ics::rewrite::is_icalendar`]), then checks it as that or as a streamed template.
fn sniffed(
    name: &str,
    reader: &mut impl Read,
    options: &IcsOptions,
    cap: u64,
    chunk: usize,
    failed: impl Fn(Option<std::io::Error>) -> InputError,
) -> CheckedFile {
    let mut head = Vec::new();
    loop {
        let n = match reader.by_ref().take(chunk as u64).read_to_end(&mut head) {
            Ok(n) => n,
            Err(e) => return unreadable(name, &failed(Some(e))),
        };
        if head.len() as u64 > cap {
            return unreadable(name, &failed(None));
        }
        if n < chunk || sniff_decided(&head) {
            break;
        }
    }
    if crate::ics::rewrite::is_icalendar(&head) {
        let left = cap - head.len() as u64;
        return match crate::read_capped(reader, left) {
            Ok(Some(rest)) => {
                head.extend_from_slice(&rest);
                ics(name, &head, options)
            }
            Ok(None) => unreadable(name, &failed(None)),
            Err(e) => unreadable(name, &failed(Some(e))),
        };
    }
    let mut stream = TextStream::new(chunk);
    stream.push(&head);
    drop(head);
    text_stream_from(name, stream, reader, cap, failed)
}

/// Whether `head`, the start of an input, shows whether it is iCalendar: past a byte-order mark
/// and blanks, 15 bytes for `BEGIN:VCALENDAR`.
fn sniff_decided(head: &[u8]) -> bool {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if head.len() < BOM.len() && BOM.starts_with(head) {
        return false;
    }
    let file = head.strip_prefix(BOM).unwrap_or(head);
    file.iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|start| file.len() >= start + 15)
}

/// Checks one iCalendar stream as `batch` reads a file on its own.
pub fn ics(name: &str, bytes: &[u8], options: &IcsOptions) -> CheckedFile {
    let mut file = CheckedFile::new(name);
    match crate::ics::rewrite::scan(bytes, options) {
        Ok(scanned) => {
            file.tokens = scanned.occurrences.len();
            file.notes = scanned.notes;
        }
        Err(found) => {
            for p in &found {
                file.problem(Diagnostic::line(
                    format!("{name}:{p}"),
                    p.message.clone(),
                    Some((p.line, p.col)),
                    p.help.clone(),
                ));
            }
        }
    }
    file
}

/// The diagnostic of a problem of the `.ics` file shown as `name`.
pub fn file_error(name: &str, e: &crate::batch::FileError) -> Diagnostic {
    let (at, message, help) = match e {
        crate::batch::FileError::At(p) => {
            (Some((p.line, p.col)), p.message.clone(), p.help.clone())
        }
        other => (None, other.to_string(), None),
    };
    Diagnostic::line(format!("{name}:{e}"), message, at, help)
}

/// Checks files: `.ics` files together, as one batch reads them (so check fails one exactly
/// when batch would, at the same line and column); `.json` as requests; anything else as a
/// template (HTML for `.html`/`.htm`), or as iCalendar when it is one. `-` reads standard input.
/// Each file is read capped at `cap` bytes.
pub fn files(paths: &[PathBuf], options: &IcsOptions, cap: u64) -> CheckReport {
    let mut report = CheckReport {
        files: Vec::new(),
        errors: Vec::new(),
    };
    let has_ext = |p: &Path, ext: &str| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    let (batch, rest): (Vec<&PathBuf>, Vec<&PathBuf>) =
        paths.iter().partition(|p| has_ext(p, "ics"));
    if !batch.is_empty() {
        let batch: Vec<PathBuf> = batch.into_iter().cloned().collect();
        match crate::batch::check(&batch, options, cap) {
            Ok(checked) => {
                for c in checked {
                    let name = crate::shown(&c.path.display().to_string()).into_owned();
                    let mut file = CheckedFile::new(&name);
                    file.tokens = c.tokens;
                    file.notes = c.notes;
                    for e in c.errors {
                        file.problem(file_error(&name, &e));
                    }
                    report.files.push(file);
                }
            }
            Err(e) => {
                report
                    .errors
                    .push(Diagnostic::line(e.to_string(), e.to_string(), None, None))
            }
        }
    }
    for path in rest {
        let (json, html) = (
            has_ext(path, "json"),
            has_ext(path, "html") || has_ext(path, "htm"),
        );
        // A request and an HTML body are read whole (capped): JSON and the HTML tokenizer need
        // all of it. Anything else may be a plain-text template, which is streamed.
        if !json && !html {
            report.files.push(stream_input(path, options, cap, CHUNK));
            continue;
        }
        let name = input_name(path);
        let bytes = match read_input(path, cap) {
            Ok(bytes) => bytes,
            Err(e) => {
                report.files.push(unreadable(&name, &e));
                continue;
            }
        };
        // An iCalendar stream named otherwise (stdin, `.txt`): read as batch reads it.
        if !has_ext(path, "json") && crate::ics::rewrite::is_icalendar(&bytes) {
            report.files.push(ics(&name, &bytes, options));
            continue;
        }
        let text = match input_text(&name, bytes) {
            Ok(text) => text,
            Err(e) => {
                report.files.push(unreadable(&name, &e));
                continue;
            }
        };
        report.files.push(if has_ext(path, "json") {
            request_json(&name, &text)
        } else {
            template(&name, &text, has_ext(path, "html") || has_ext(path, "htm"))
        });
    }
    report
}
