//! `check`: every problem of templates, requests and `.ics` files, where it is and how to fix
//! it, without minting anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::input::{input_name, input_text, read_input};
use crate::ics::rewrite::IcsOptions;
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
            Shown::Line(text) => text.clone(),
        }
    }

    /// Whether [`render`](Diagnostic::render) gives a snippet rather than one line.
    pub fn is_snippet(&self) -> bool {
        matches!(self.shown, Shown::Snippet { .. })
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
