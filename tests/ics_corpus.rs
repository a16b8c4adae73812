//! The shared `.ics` corpus through the rewriter (issue "ICS: lossless batch reprocessing").
//!
//! 1. Every corpus file, as it is and normalised to CRLF, is either read with no token and
//!    written back byte for byte, or refused with located problems.
//! 2. Into every file that reads, a token is injected into one VEVENT's DESCRIPTION, SUMMARY
//!    and X-ALT-DESC (plainly, folded in the middle of the token, and folded in the middle of a
//!    UTF-8 sequence); the file is rewritten, and an independent parser (calcard) must read the
//!    changed values exactly as expected and every other property unchanged, while the bytes
//!    outside the changed lines stay identical.
//!
//! The corpus is read from `INVITOKEN_CORPUS` (`.ci/run` sets it). The corpus tests are
//! `#[ignore]`d, so a plain `cargo test` lists them as ignored; run with `-- --ignored`, they fail
//! when the variable is unset or not a directory. Every file written is also put in `INVITOKEN_ICS_OUT` when that is set,
//! for `scripts/check_ics.py` to read with a third parser.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use calcard::icalendar::{
    ICalendar, ICalendarComponentType, ICalendarEntry, ICalendarProperty, ICalendarValue,
};
use calcard::{Entry, Parser};
use invitoken::internals::rewrite::{Value, scan};
use invitoken::{Product, Scope};

const TOKEN: &str = "$Event.CodeSignal.Live.Link";
/// Every occurrence gets this URL. Its `,` and `;` must be escaped as TEXT, and its `&` for
/// HTML too, so the escaping is exercised as well.
const URL: &str = "https://sandbox.invitoken.invalid/live/abc?a=1,2;b=3&c=4";
/// Octets of a physical line, line ending excluded (RFC 5545 3.1).
const MAX_LINE: usize = 75;

// ---------------------------------------------------------------------------------------------
// The corpus, and where written files go.

/// The corpus directory from `INVITOKEN_CORPUS`. Unset is a failure too: the tests that call
/// this are ignored unless asked for, and asking for them without the corpus must not pass.
fn corpus_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("INVITOKEN_CORPUS") else {
        panic!(
            "INVITOKEN_CORPUS is not set: this test reads the shared .ics corpus; run it as \
             INVITOKEN_CORPUS=../shared/corpus/ics cargo test -- --ignored"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "INVITOKEN_CORPUS is set to {}, which is not a directory",
        dir.display()
    );
    dir
}

/// Every `*.ics` (any case) under `dir`, recursively, with its path relative to `dir`, sorted.
fn corpus_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("ics"))
            {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
                found.push((relative, bytes));
            }
        }
    }
    found.sort();
    assert!(!found.is_empty(), "no .ics file under {}", dir.display());
    found
}

/// Writes `bytes` as `name` into `INVITOKEN_ICS_OUT`, when it is set, with the corpus file it
/// was made from named in a `.source` file beside it: `scripts/check_ics.py` excuses a file
/// that fails exactly as its source already does (corpus data the third parser rejects).
fn emit(name: &str, bytes: &[u8], source: &Path) {
    let Some(dir) = std::env::var_os("INVITOKEN_ICS_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let name: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' => "__".to_string(),
            c if c.is_ascii_alphanumeric() || "-_.".contains(c) => c.to_string(),
            _ => "_".to_string(),
        })
        .collect();
    let path = dir.join(format!("ics_corpus-{name}.ics"));
    std::fs::write(&path, bytes).unwrap();
    let mut sidecar = path.into_os_string();
    sidecar.push(".source");
    std::fs::write(sidecar, source.to_string_lossy().as_bytes()).unwrap();
}

/// Whether every line ending is a bare `\n`.
fn lf_only(file: &[u8]) -> bool {
    file.contains(&b'\n') && !file.windows(2).any(|w| w == b"\r\n")
}

fn to_crlf(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len() + file.len() / 16);
    for &b in file {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The file as it is, and (for LF-only files) normalised to CRLF.
fn eol_variants(file: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut variants = vec![("as-is", file.to_vec())];
    if lf_only(file) {
        variants.push(("crlf", to_crlf(file)));
    }
    variants
}

// ---------------------------------------------------------------------------------------------
// 1. Lossless when there is nothing to do.

#[test]
#[ignore = "needs INVITOKEN_CORPUS"]
fn every_corpus_file_is_written_back_byte_identical_or_refused_with_located_problems() {
    let dir = corpus_dir();
    let files = corpus_files(&dir);
    let mut ok: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut refused: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (name, original) in &files {
        for (variant, bytes) in eol_variants(original) {
            let physical_lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            match scan(&bytes, &Default::default()) {
                Ok(scanned) => {
                    if !scanned.occurrences.is_empty() || !scanned.is_unchanged() {
                        wrong.push(format!(
                            "{name} ({variant}): {} token(s) found in a corpus file",
                            scanned.occurrences.len()
                        ));
                        continue;
                    }
                    let written = scanned.write(&bytes, |i| {
                        panic!("{name}: asked for the value of occurrence {i} of none")
                    });
                    if written != bytes {
                        let at = written
                            .iter()
                            .zip(&bytes)
                            .position(|(a, b)| a != b)
                            .unwrap_or(written.len().min(bytes.len()));
                        wrong.push(format!(
                            "{name} ({variant}): written back differs from byte {at} \
                             ({} bytes in, {} out)",
                            bytes.len(),
                            written.len()
                        ));
                        continue;
                    }
                    ok.entry(name).or_default().push(variant);
                }
                Err(problems) => {
                    if problems.is_empty() {
                        wrong.push(format!("{name} ({variant}): refused with no problem"));
                    }
                    for p in &problems {
                        if p.line < 1 || p.line > physical_lines || p.col < 1 {
                            wrong.push(format!(
                                "{name} ({variant}): problem at {}:{} outside the file's {} \
                                 line(s): {p}",
                                p.line, p.col, physical_lines
                            ));
                        }
                    }
                    let first = problems.first().map(|p| p.to_string()).unwrap_or_default();
                    refused
                        .entry(name)
                        .or_default()
                        .push(format!("{variant}: {first}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A file and its CRLF normalisation are read alike.
    let split: Vec<_> = ok.keys().filter(|n| refused.contains_key(*n)).collect();
    assert!(
        split.is_empty(),
        "read as-is but refused normalised to CRLF, or the other way: {split:?}"
    );
    let listing = refused
        .iter()
        .map(|(name, why)| format!("  {name}: {}", why.join(" | ")))
        .collect::<Vec<_>>()
        .join("\n");
    let crlf = ok.values().filter(|v| v.contains(&"crlf")).count();
    eprintln!(
        "corpus: {} file(s): {} written back byte-identical ({crlf} also normalised to CRLF), \
         {} refused:\n{listing}",
        files.len(),
        ok.len(),
        refused.len()
    );
    // 371 of the 400 read today; a regression that refuses good files must fail here.
    assert!(
        ok.len() >= 360,
        "only {} of {} corpus files read; refused:\n{listing}",
        ok.len(),
        files.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Exact where a token was injected.

/// One logical content line: its bytes in the file (folds and line ending included).
#[derive(Debug, Clone)]
struct Logical {
    range: Range<usize>,
    eol: Range<usize>,
}

/// Logical lines, split independently of the crate: a physical line ends at `\n` (with a `\r`
/// before it, if any); one starting with SPACE or TAB continues the line before it.
fn logical_lines(file: &[u8]) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < file.len() {
        let mut from = start;
        let line = loop {
            match file[from..].iter().position(|&b| b == b'\n') {
                None => {
                    break Logical {
                        range: start..file.len(),
                        eol: file.len()..file.len(),
                    };
                }
                Some(i) => {
                    let nl = from + i;
                    if matches!(file.get(nl + 1), Some(b' ' | b'\t')) {
                        from = nl + 1;
                        continue;
                    }
                    let eol_start = if nl > start && file[nl - 1] == b'\r' {
                        nl - 1
                    } else {
                        nl
                    };
                    break Logical {
                        range: start..nl + 1,
                        eol: eol_start..nl + 1,
                    };
                }
            }
        };
        start = line.range.end;
        out.push(line);
    }
    out
}

/// A logical line without its line ending, unfolded at the byte level.
fn unfolded(file: &[u8], line: &Logical) -> Vec<u8> {
    let content = &file[line.range.start..line.eol.start];
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i..].starts_with(b"\r\n") && i + 2 < content.len() {
            i += 3;
        } else if content[i] == b'\n' {
            i += 2;
        } else {
            out.push(content[i]);
            i += 1;
        }
    }
    out
}

/// The properties we inject a token into, and what we append to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Description,
    Summary,
    AltDesc,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Description => "DESCRIPTION",
            Target::Summary => "SUMMARY",
            Target::AltDesc => "X-ALT-DESC",
        }
    }

    /// Text before and after the token (as written: none of it needs TEXT escaping).
    fn around(self) -> (&'static str, &'static str) {
        match self {
            Target::Description => (" Join: ", " — café ☕"),
            Target::Summary => (" café☕", "。"),
            Target::AltDesc => (" <a href=\"", "\">Join ☕</a>"),
        }
    }

    /// The URL as an iCalendar reader sees it, after TEXT unescaping.
    fn url_read(self) -> String {
        match self {
            Target::AltDesc => {
                let mut html = String::new();
                invitoken::escape_html(URL, &mut html);
                html
            }
            _ => URL.to_string(),
        }
    }

    /// The URL as written in the line: escaped for HTML (X-ALT-DESC), then as TEXT.
    fn url_written(self) -> String {
        let mut out = String::new();
        for c in self.url_read().chars() {
            match c {
                '\\' | ';' | ',' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out
    }

    fn is(self, property: &ICalendarProperty) -> bool {
        match (self, property) {
            (Target::Description, ICalendarProperty::Description)
            | (Target::Summary, ICalendarProperty::Summary) => true,
            (Target::AltDesc, ICalendarProperty::Other(name)) => {
                name.eq_ignore_ascii_case("X-ALT-DESC")
            }
            _ => false,
        }
    }
}

/// How the injected text is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// On the property's last physical line.
    Plain,
    /// With a fold in the middle of the token.
    SplitToken,
    /// With a fold in the middle of a UTF-8 sequence next to the token.
    SplitUtf8,
    /// No token, but a `$` that starts none (`$100`): the control that tells whether the file
    /// is read at all once it holds a `$`.
    Control,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Plain => "plain",
            Layout::SplitToken => "split-token",
            Layout::SplitUtf8 => "split-utf8",
            Layout::Control => "control",
        }
    }

    /// The bytes appended to a `target` line ending with `eol`.
    fn suffix(self, target: Target, eol: &[u8]) -> Vec<u8> {
        let (before, after) = target.around();
        if self == Layout::Control {
            return format!("{before}$100{after}").into_bytes();
        }
        let logical = format!("{before}{TOKEN}{after}").into_bytes();
        let cut = match self {
            Layout::Plain | Layout::Control => return logical,
            Layout::SplitToken => before.len() + "$Event.Code".len(),
            Layout::SplitUtf8 => {
                // One byte into the first multibyte character after the token.
                let at = before.len() + TOKEN.len();
                at + after
                    .char_indices()
                    .find(|(_, c)| c.len_utf8() > 1)
                    .unwrap()
                    .0
                    + 1
            }
        };
        let mut out = logical[..cut].to_vec();
        out.extend_from_slice(eol);
        out.push(b' ');
        out.extend_from_slice(&logical[cut..]);
        out
    }
}

/// The VEVENT we inject into: its UID and the lines of its first DESCRIPTION, SUMMARY and
/// X-ALT-DESC (indexes into the logical lines).
#[derive(Debug, Default, Clone)]
struct EventLines {
    uid: Option<String>,
    targets: BTreeMap<Target, usize>,
}

/// The first VEVENT with a UID and at least one target property of its own; and whether a
/// target property was left out for its ENCODING or CHARSET parameter on the way.
fn find_event(file: &[u8], lines: &[Logical]) -> (Option<EventLines>, bool) {
    let mut encoded = false;
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut event: Option<EventLines> = None;
    for (i, line) in lines.iter().enumerate() {
        let mut content = unfolded(file, line);
        if i == 0 && content.starts_with(b"\xEF\xBB\xBF") {
            content.drain(..3);
        }
        let Some(end) = content.iter().position(|&b| b == b':' || b == b';') else {
            continue;
        };
        let name = content[..end].to_ascii_uppercase();
        let value = content
            .iter()
            .position(|&b| b == b':')
            .map(|c| content[c + 1..].to_ascii_uppercase())
            .unwrap_or_default();
        match name.as_slice() {
            b"BEGIN" => {
                if value == b"VEVENT" {
                    event = Some(EventLines::default());
                }
                stack.push(value);
            }
            b"END" => {
                stack.pop();
                if value == b"VEVENT"
                    && let Some(e) = event.take()
                    && e.uid.is_some()
                    && !e.targets.is_empty()
                {
                    return (Some(e), encoded);
                }
            }
            _ if stack.last().is_some_and(|n| n == b"VEVENT") => {
                let Some(e) = event.as_mut() else { continue };
                let target = match name.as_slice() {
                    b"UID" => {
                        let at = content.iter().position(|&b| b == b':').unwrap_or(end);
                        e.uid = Some(String::from_utf8_lossy(&content[at + 1..]).into_owned());
                        continue;
                    }
                    b"DESCRIPTION" => Target::Description,
                    b"SUMMARY" => Target::Summary,
                    b"X-ALT-DESC" => Target::AltDesc,
                    _ => continue,
                };
                // A vCalendar 1.0 `ENCODING=QUOTED-PRINTABLE` or `CHARSET=` value is not RFC
                // 5545 TEXT: readers decode it, so appending UTF-8 text to it means something
                // else to them. Such a property is left out (and counted).
                let params = content[..content.iter().position(|&b| b == b':').unwrap_or(0)]
                    .to_ascii_uppercase();
                if [&b";ENCODING="[..], b";CHARSET="]
                    .iter()
                    .any(|p| params.windows(p.len()).any(|w| w == *p))
                {
                    encoded = true;
                    continue;
                }
                e.targets.entry(target).or_insert(i);
            }
            _ => {}
        }
    }
    (None, encoded)
}

/// `file` with `layout`'s suffix appended to each target line of `event`.
fn inject(file: &[u8], lines: &[Logical], event: &EventLines, layout: Layout) -> Vec<u8> {
    let mut by_line: BTreeMap<usize, Target> = BTreeMap::new();
    for (&target, &line) in &event.targets {
        by_line.insert(line, target);
    }
    let mut out = Vec::with_capacity(file.len() + 256);
    let mut copied = 0;
    for (line, target) in by_line {
        let l = &lines[line];
        out.extend_from_slice(&file[copied..l.eol.start]);
        out.extend_from_slice(&layout.suffix(target, &file[l.eol.clone()]));
        copied = l.eol.start;
    }
    out.extend_from_slice(&file[copied..]);
    out
}

/// Every entry calcard reads from `file` (several calendars, stray lines), or `None` when it
/// cannot read it: not UTF-8, or no calendar at all.
fn calcard_read(file: &[u8]) -> Option<Vec<Entry>> {
    let text = std::str::from_utf8(file).ok()?;
    let mut parser = Parser::new(text);
    let mut entries = Vec::new();
    loop {
        match parser.entry() {
            Entry::Eof => break,
            entry => entries.push(entry),
        }
        if entries.len() > 100_000 {
            return None;
        }
    }
    entries
        .iter()
        .any(|e| matches!(e, Entry::ICalendar(_)))
        .then_some(entries)
}

/// A changed property, as calcard read it in two versions of a file.
struct Changed<'a> {
    component: ICalendarComponentType,
    before: &'a ICalendarEntry,
    after: &'a ICalendarEntry,
}

/// Compares two reads: the same entries, calendars, components and properties in the same
/// order, except properties whose values differ, which are returned.
fn diff<'a>(before: &'a [Entry], after: &'a [Entry]) -> Result<Vec<Changed<'a>>, String> {
    if before.len() != after.len() {
        return Err(format!("{} entries, then {}", before.len(), after.len()));
    }
    let mut changed = Vec::new();
    for (b, a) in before.iter().zip(after) {
        let (Entry::ICalendar(b), Entry::ICalendar(a)) = (b, a) else {
            if b != a {
                return Err(format!("entry {b:?} became {a:?}"));
            }
            continue;
        };
        diff_calendar(b, a, &mut changed)?;
    }
    Ok(changed)
}

fn diff_calendar<'a>(
    before: &'a ICalendar,
    after: &'a ICalendar,
    changed: &mut Vec<Changed<'a>>,
) -> Result<(), String> {
    if before.components.len() != after.components.len() {
        return Err(format!(
            "{} components, then {}",
            before.components.len(),
            after.components.len()
        ));
    }
    for (i, (b, a)) in before.components.iter().zip(&after.components).enumerate() {
        if b.component_type != a.component_type || b.component_ids != a.component_ids {
            return Err(format!(
                "component {i}: {:?} {:?}, then {:?} {:?}",
                b.component_type, b.component_ids, a.component_type, a.component_ids
            ));
        }
        if b.entries.len() != a.entries.len() {
            return Err(format!(
                "component {i} ({:?}): {} properties, then {}",
                b.component_type,
                b.entries.len(),
                a.entries.len()
            ));
        }
        for (eb, ea) in b.entries.iter().zip(&a.entries) {
            if eb == ea {
                continue;
            }
            if eb.name != ea.name || eb.params != ea.params {
                return Err(format!(
                    "component {i} ({:?}): {:?} {:?} became {:?} {:?}",
                    b.component_type, eb.name, eb.params, ea.name, ea.params
                ));
            }
            changed.push(Changed {
                component: b.component_type.clone(),
                before: eb,
                after: ea,
            });
        }
    }
    Ok(())
}

/// The text values of a property: one, unless it holds unescaped `;` or `,` that calcard reads
/// as separators; none (an empty value) reads as one empty text.
fn texts(entry: &ICalendarEntry) -> Result<Vec<String>, String> {
    if entry.values.is_empty() {
        return Ok(vec![String::new()]);
    }
    entry
        .values
        .iter()
        .map(|v| match v {
            ICalendarValue::Text(t) => Ok(t.clone()),
            other => Err(format!(
                "{:?} holds a value that is not text: {other:?}",
                entry.name
            )),
        })
        .collect()
}

/// Checks that exactly the `targets` of one VEVENT changed between two reads, each from its
/// values before to `expect(target, before)`.
fn check_changes(
    before: &[Entry],
    after: &[Entry],
    targets: &[Target],
    expect: impl Fn(Target, Vec<String>) -> Result<Vec<String>, String>,
) -> Result<(), String> {
    let changed = diff(before, after)?;
    let mut seen = Vec::new();
    for c in &changed {
        let Some(&target) = targets.iter().find(|t| t.is(&c.before.name)) else {
            return Err(format!(
                "{:?} of a {:?} changed: {:?} became {:?}",
                c.before.name, c.component, c.before.values, c.after.values
            ));
        };
        if c.component != ICalendarComponentType::VEvent {
            return Err(format!("{:?} of a {:?} changed", target, c.component));
        }
        let (b, a) = (texts(c.before)?, texts(c.after)?);
        let want = expect(target, b).map_err(|e| format!("{}: {e}", target.name()))?;
        if a != want {
            return Err(format!(
                "{}: expected\n    {want:?}\n  read\n    {a:?}",
                target.name()
            ));
        }
        seen.push(target);
    }
    seen.sort();
    if seen != targets {
        return Err(format!("changed {seen:?}, expected {targets:?}"));
    }
    Ok(())
}

/// What appending `target`'s injected text does to its values: the last one gets it.
fn appended(target: Target, mut values: Vec<String>) -> Result<Vec<String>, String> {
    let (b, a) = target.around();
    let last = values.last_mut().ok_or("no value")?;
    last.push_str(&format!("{b}{TOKEN}{a}"));
    Ok(values)
}

/// What resolving the token does to `target`'s values: the one holding it gets the URL (as
/// read, HTML-escaped for X-ALT-DESC) in its place.
fn resolved(target: Target, mut values: Vec<String>) -> Result<Vec<String>, String> {
    let holding: Vec<_> = values.iter().filter(|v| v.contains(TOKEN)).collect();
    if holding.len() != 1 || holding[0].matches(TOKEN).count() != 1 {
        return Err(format!("the token is not read once before: {values:?}"));
    }
    for v in &mut values {
        *v = v.replacen(TOKEN, &target.url_read(), 1);
    }
    Ok(values)
}

/// Checks the bytes: every logical line but the targets is identical; each target line keeps
/// its line ending, has physical lines of at most 75 octets that are each valid UTF-8, and
/// unfolds to the injected line with the token replaced by the URL as written.
fn check_bytes(
    injected: &[u8],
    output: &[u8],
    targets: &BTreeMap<usize, Target>,
) -> Result<(), String> {
    let (lines_in, lines_out) = (logical_lines(injected), logical_lines(output));
    if lines_in.len() != lines_out.len() {
        return Err(format!(
            "{} logical lines in, {} out",
            lines_in.len(),
            lines_out.len()
        ));
    }
    for (i, (li, lo)) in lines_in.iter().zip(&lines_out).enumerate() {
        let (bi, bo) = (&injected[li.range.clone()], &output[lo.range.clone()]);
        let Some(&target) = targets.get(&i) else {
            if bi != bo {
                return Err(format!(
                    "logical line {} changed with no token on it:\n  {:?}\n  {:?}",
                    i + 1,
                    String::from_utf8_lossy(bi),
                    String::from_utf8_lossy(bo)
                ));
            }
            continue;
        };
        let eol = &injected[li.eol.clone()];
        if &output[lo.eol.clone()] != eol {
            return Err(format!("the {} line lost its line ending", target.name()));
        }
        let content = &output[lo.range.start..lo.eol.start];
        let eol_text = if eol == b"\r\n" { &b"\r\n"[..] } else { b"\n" };
        let mut physical = Vec::new();
        let mut rest = content;
        while let Some(at) = rest.windows(eol_text.len()).position(|w| w == eol_text) {
            physical.push(&rest[..at]);
            rest = &rest[at + eol_text.len()..];
        }
        physical.push(rest);
        for (n, p) in physical.iter().enumerate() {
            if p.len() > MAX_LINE {
                return Err(format!(
                    "{} physical line {n} has {} octets: {:?}",
                    target.name(),
                    p.len(),
                    String::from_utf8_lossy(p)
                ));
            }
            if std::str::from_utf8(p).is_err() {
                return Err(format!(
                    "{} physical line {n} splits a UTF-8 sequence: {p:?}",
                    target.name()
                ));
            }
            if n > 0 && p.first() != Some(&b' ') {
                return Err(format!(
                    "{} continuation line {n} does not start with a SPACE",
                    target.name()
                ));
            }
        }
        let want = String::from_utf8(unfolded(injected, li))
            .map_err(|e| format!("{}: injected line not UTF-8: {e}", target.name()))?
            .replacen(TOKEN, &target.url_written(), 1);
        let got = unfolded(output, lo);
        if got != want.as_bytes() {
            return Err(format!(
                "{} unfolds to\n    {:?}\n  expected\n    {want:?}",
                target.name(),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Counts {
    files: usize,
    refused: usize,
    no_event: usize,
    calcard_skipped: Vec<String>,
    files_checked: usize,
    files_failed: usize,
    rewrites_checked: usize,
    by_target: BTreeMap<&'static str, usize>,
    alt_desc_files: Vec<String>,
    encoded_left_out: Vec<String>,
    refused_with_dollar: Vec<String>,
}

#[test]
#[ignore = "needs INVITOKEN_CORPUS"]
fn tokens_injected_into_corpus_events_are_resolved_exactly_and_nothing_else_changes() {
    let dir = corpus_dir();
    let files = corpus_files(&dir);
    let mut counts = Counts {
        files: files.len(),
        ..Counts::default()
    };
    let mut failures = Vec::new();
    for (name, original) in &files {
        if scan(original, &Default::default()).is_err() {
            counts.refused += 1;
            continue;
        }
        let mut checked_file = false;
        let mut skipped_file = false;
        let failures_before = failures.len();
        for (eol_variant, base) in eol_variants(original) {
            let lines = logical_lines(&base);
            let (event, encoded) = find_event(&base, &lines);
            if encoded && eol_variant == "as-is" {
                counts.encoded_left_out.push(name.clone());
            }
            let Some(event) = event else {
                break;
            };
            let Some(read_base) = calcard_read(&base) else {
                skipped_file = true;
                break;
            };
            // A token-free file is copied without a look at its structure; once it holds a `$`
            // it is read whole, and a malformed one is refused. Such files are left out here
            // (and counted): refusing them is right, and the first test covers that.
            if scan(
                &inject(&base, &lines, &event, Layout::Control),
                &Default::default(),
            )
            .is_err()
            {
                counts
                    .refused_with_dollar
                    .push(format!("{name} ({eol_variant})"));
                continue;
            }
            let targets: Vec<Target> = event.targets.keys().copied().collect();
            let by_line: BTreeMap<usize, Target> =
                event.targets.iter().map(|(&t, &l)| (l, t)).collect();
            let uid = event.uid.clone().unwrap();
            for layout in [Layout::Plain, Layout::SplitToken, Layout::SplitUtf8] {
                let label = format!("{name} ({eol_variant}, {})", layout.name());
                let injected = inject(&base, &lines, &event, layout);
                let result = (|| -> Result<Vec<u8>, String> {
                    let scanned = scan(&injected, &Default::default()).map_err(|p| {
                        format!(
                            "refused after injection: {}",
                            p.iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    })?;
                    if scanned.occurrences.len() != targets.len() {
                        return Err(format!(
                            "{} occurrence(s) for {} injected token(s): the others would \
                             reach a recipient raw",
                            scanned.occurrences.len(),
                            targets.len()
                        ));
                    }
                    for o in &scanned.occurrences {
                        let event_uid = o.event.map(|e| scanned.events[e].uid.as_str());
                        if o.key.scope != Scope::Event
                            || o.key.product != Product::Live
                            || o.key.event_id.as_deref() != Some(uid.as_str())
                            || event_uid != Some(uid.as_str())
                            || o.key.interview_id.is_empty()
                        {
                            return Err(format!("occurrence bound wrongly: {o:?}"));
                        }
                    }
                    let output = scanned.write(&injected, |_| Value::Url(URL));
                    check_bytes(&injected, &output, &by_line)?;
                    // The injected file as calcard reads it. A fold inside a UTF-8 sequence
                    // makes the file invalid UTF-8 for calcard's `&str` input, so for that
                    // layout the same content without the fold stands in for it.
                    let before_bytes = match layout {
                        Layout::SplitUtf8 => inject(&base, &lines, &event, Layout::Plain),
                        _ => injected.clone(),
                    };
                    let before = calcard_read(&before_bytes)
                        .ok_or("calcard cannot read the file after injection")?;
                    check_changes(&read_base, &before, &targets, appended)
                        .map_err(|e| format!("injection read by calcard: {e}"))?;
                    let after =
                        calcard_read(&output).ok_or("calcard cannot read the rewritten file")?;
                    check_changes(&before, &after, &targets, resolved)
                        .map_err(|e| format!("rewritten file read by calcard: {e}"))?;
                    Ok(output)
                })();
                match result {
                    Ok(output) => {
                        emit(
                            &format!("{name}.{eol_variant}.{}", layout.name()),
                            &output,
                            &dir.canonicalize().unwrap().join(name),
                        );
                        if targets.contains(&Target::AltDesc) && !checked_file {
                            counts.alt_desc_files.push(name.clone());
                        }
                        checked_file = true;
                        counts.rewrites_checked += 1;
                        for t in &targets {
                            *counts.by_target.entry(t.name()).or_default() += 1;
                        }
                    }
                    Err(e) => failures.push(format!("{label}: {e}")),
                }
            }
        }
        if failures.len() > failures_before {
            counts.files_failed += 1;
        } else if checked_file {
            counts.files_checked += 1;
        } else if skipped_file {
            counts.calcard_skipped.push(name.clone());
        } else {
            counts.no_event += 1;
        }
    }
    eprintln!(
        "injection: {} corpus file(s); {} refused by scan, {} without a VEVENT with a UID and \
         DESCRIPTION/SUMMARY/X-ALT-DESC, {} skipped (calcard cannot read them: {:?}); \
         {} refused once they hold a `$` ({:?}); {} file(s) checked in {} rewrite(s), {} with \
         wrong rewrites; \
         tokens per property: {:?}; X-ALT-DESC in {} file(s): {:?}; properties with \
         ENCODING/CHARSET left out in {:?}",
        counts.files,
        counts.refused,
        counts.no_event,
        counts.calcard_skipped.len(),
        counts.calcard_skipped,
        counts.refused_with_dollar.len(),
        counts.refused_with_dollar,
        counts.files_checked,
        counts.rewrites_checked,
        counts.files_failed,
        counts.by_target,
        counts.alt_desc_files.len(),
        counts.alt_desc_files,
        counts.encoded_left_out,
    );
    assert!(
        failures.is_empty(),
        "{} of the rewrites are wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        counts.files_checked >= 200,
        "only {} corpus files checked: {counts:?}",
        counts.files_checked
    );
    assert!(
        counts.alt_desc_files.len() >= 10,
        "X-ALT-DESC injected into only {} files: {counts:?}",
        counts.alt_desc_files.len()
    );
}

/// Mozilla and KOrganizer fold every property right after its name (`SUMMARY` CRLF SPACE
/// `:New Year's Day`; 9 corpus files). Such a file must be read as if unfolded: here the token
/// is found and replaced. (9012750 classified a property by its raw name, fold included, so it
/// found no token and wrote the file back with the token raw, reporting success.)
#[test]
fn a_fold_right_after_the_property_name_hides_no_token() {
    let file =
        b"BEGIN:VCALENDAR\r\nVERSION\r\n :2.0\r\nBEGIN:VEVENT\r\nUID\r\n :fold-1@example.com\r\n\
SUMMARY\r\n :Join $Event.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let scanned = scan(file, &Default::default()).expect("a valid file");
    assert_eq!(scanned.occurrences.len(), 1, "the token was not found");
    let written = scanned.write(file, |_| Value::Url(URL));
    assert!(
        !String::from_utf8_lossy(&written).contains(TOKEN),
        "the token is still there"
    );
}
