//! Rendering findings for people, with annotate-snippets: `origin:line:col`, the source line, a
//! caret under the bad token and a `help:` line (`did you mean ...?`).
//!
//! Only a window of the line holding a finding is handed to the renderer, so showing one finding
//! in a megabyte body (or a file whose only line breaks are CRs) costs a few hundred characters,
//! not the body. The source text is escaped piece by piece ([`crate::shown`]) before it is laid
//! out, so a control character in a template cannot reach the terminal and the caret stays
//! under the token; the report itself keeps its line breaks.
use std::ops::Range;

use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use super::Finding;

/// Characters of context kept on each side of a finding: a little more than annotate-snippets
/// shows (it trims a line to 140 columns around the caret), so its layout is unchanged.
const CONTEXT: usize = 160;
/// Characters of a finding's own text shown at most (a token is far shorter).
const MAX_MARKED: usize = 100;

/// Renders every finding in `source` (named `origin` in the output, e.g. a file path or a JSON
/// pointer into a request) as a compiler-style report, one after another. `color` adds ANSI
/// styles. `origin` is shown as given: the caller makes it safe (see [`crate::shown`]).
pub fn render_findings(origin: &str, source: &str, findings: &[Finding], color: bool) -> String {
    let renderer = renderer(color);
    let origin = crate::shown_with(origin, usize::MAX);
    let mut out = String::new();
    let mut cursor = Cursor::default();
    for finding in findings {
        let (line_no, col) = cursor.line_col(source, finding.span.start);
        render_one(&renderer, &origin, source, finding, line_no, col, &mut out);
    }
    out
}

/// [`render_findings`] of one finding whose line and column are known, in `source`: a
/// [`window`] of the template around it (the finding's span counted in it).
pub(crate) fn render_finding_at(
    origin: &str,
    source: &str,
    finding: &Finding,
    (line_no, col): (usize, usize),
    color: bool,
) -> String {
    let origin = crate::shown_with(origin, usize::MAX);
    let mut out = String::new();
    render_one(
        &renderer(color),
        &origin,
        source,
        finding,
        line_no,
        col,
        &mut out,
    );
    out
}

fn renderer(color: bool) -> Renderer {
    if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Ascii)
}

fn render_one(
    renderer: &Renderer,
    origin: &str,
    source: &str,
    finding: &Finding,
    line_no: usize,
    col: usize,
    out: &mut String,
) {
    let excerpt = Excerpt::around(source, finding.span.clone());
    let message = escaped(&finding.message()).into_owned();
    let help = finding.help().map(|h| escaped(&h).into_owned());
    let mut group = Level::ERROR.primary_title(message.as_str()).element(
        Snippet::source(excerpt.text.as_str())
            .line_start(line_no)
            .path(origin)
            .annotation(
                AnnotationKind::Primary
                    .span(excerpt.marked.clone())
                    .label(finding.label()),
            ),
    );
    if let Some(help) = &help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    let mut text = renderer.render(&[group]);
    // annotate-snippets counts the column in the excerpt; a cut or an escape before the
    // finding moves it, so the real one is put back.
    let shown_col = excerpt.text[..excerpt.marked.start].chars().count() + 1;
    if shown_col != col {
        let wrong = format!("{origin}:{line_no}:{shown_col}");
        if let Some(at) = text.find(&wrong) {
            text.replace_range(at..at + wrong.len(), &format!("{origin}:{line_no}:{col}"));
        }
    }
    out.push_str(&text);
    out.push_str("\n\n");
}

/// Bytes before a finding that [`Excerpt::around`] may read: `4 * CONTEXT` characters' worth
/// at most, and a character more where it rounds down to a character's start.
pub(super) const WINDOW_BEFORE: usize = 4 * CONTEXT + 4;
/// Bytes after a finding's start that [`Excerpt::around`] may read, likewise.
const WINDOW_AFTER: usize = 4 * (MAX_MARKED + CONTEXT + 1);

/// Where the part of a source that showing a finding at `start` reads begins: at the line
/// break before the finding's line (its line starts at `line_start`, if that is known: it may
/// lie before the bytes kept) or [`WINDOW_BEFORE`] bytes back, whichever is later. `src` holds
/// whole characters and at least `WINDOW_BEFORE` bytes before `start` unless it begins the
/// source. Rendering the finding in the window from there to [`window_end`] gives the report
/// rendering it in the whole source gives; a test checks that.
pub(super) fn window_start(src: &[u8], start: usize, line_start: Option<usize>) -> usize {
    let back = floor_byte_boundary(src, start.saturating_sub(WINDOW_BEFORE));
    line_start.map_or(back, |l| back.max(l.saturating_sub(1)))
}

/// Where that part ends: after the line break ending the finding's line, or a character past
/// [`WINDOW_AFTER`] bytes from `start`, or at the end of the source (`last`: nothing follows
/// `src`). `None` while the bytes after `src` are needed to say.
pub(super) fn window_end(src: &[u8], start: usize, last: bool) -> Option<usize> {
    let reach = start + WINDOW_AFTER;
    if let Some(i) = memchr::memchr(b'\n', &src[start..reach.min(src.len())]) {
        return Some(start + i + 1);
    }
    if src.len() >= reach + 4 {
        let mut end = reach + 1;
        while src.get(end).is_some_and(|&b| (b as i8) < -0x40) {
            end += 1;
        }
        return Some(end);
    }
    last.then_some(src.len())
}

fn floor_byte_boundary(src: &[u8], mut at: usize) -> usize {
    while src.get(at).is_some_and(|&b| (b as i8) < -0x40) {
        at -= 1;
    }
    at
}

/// `text` with every control character escaped, whatever its length.
fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    crate::shown_with(text, usize::MAX)
}

/// Source text escaped, but for its tabs: annotate-snippets lays a tab out as spaces, and an
/// indented template should look indented.
fn escaped_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, piece) in text.split('\t').enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(&escaped(piece));
    }
    out
}

/// The part of a finding's line that is shown: escaped, at most [`CONTEXT`] characters each
/// side of the finding, `...` where the line was cut.
#[derive(Debug, PartialEq, Eq)]
struct Excerpt {
    text: String,
    /// Where the finding is in `text` (bytes).
    marked: Range<usize>,
}

impl Excerpt {
    fn around(source: &str, span: Range<usize>) -> Excerpt {
        let start = floor_char_boundary(source, span.start.min(source.len()));
        // Look no further for the line's end than can be shown (characters are at most 4
        // bytes): many findings on one long line must not each scan the rest of it.
        let reach = floor_char_boundary(
            source,
            source.len().min(start + 4 * (MAX_MARKED + CONTEXT + 1)),
        );
        let (line_end, whole_line) = match memchr::memchr(b'\n', &source.as_bytes()[start..reach]) {
            Some(i) => (start + i, true),
            None => (reach, reach == source.len()),
        };
        // A span never crosses a line (tokens hold no whitespace), but stay safe if one did.
        let end = floor_char_boundary(source, span.end.clamp(start, line_end));
        let (before, cut_left) = last_chars(&source[..start], CONTEXT);
        let (marked, cut_marked) = first_chars(&source[start..end], MAX_MARKED);
        let (after, cut_right) = if cut_marked {
            ("", true)
        } else {
            let (after, cut) = first_chars(&source[end..line_end], CONTEXT);
            (after, cut || !whole_line)
        };
        let after = after
            .strip_suffix('\r')
            .filter(|_| !cut_right)
            .unwrap_or(after);
        let mut text = String::new();
        if cut_left {
            text.push_str("...");
        }
        text.push_str(&escaped_source(before));
        let from = text.len();
        text.push_str(&escaped_source(marked));
        if cut_marked {
            text.push_str("...");
        }
        let to = text.len();
        text.push_str(&escaped_source(after));
        if cut_right && !cut_marked {
            text.push_str("...");
        }
        Excerpt {
            text,
            marked: from..to,
        }
    }
}

/// The last `n` characters of `text` after its last line break, and whether that cut anything.
fn last_chars(text: &str, n: usize) -> (&str, bool) {
    // Only the tail can be shown: `n` characters are at most `4 * n` bytes.
    let floor = floor_char_boundary(text, text.len().saturating_sub(4 * n));
    let tail = &text[floor..];
    let (tail, whole) = match memchr::memrchr(b'\n', tail.as_bytes()) {
        Some(i) => (&tail[i + 1..], true),
        None => (tail, floor == 0),
    };
    let count = tail.chars().count();
    match tail.char_indices().nth(count.saturating_sub(n)) {
        Some((i, _)) if count > n => (&tail[i..], true),
        _ => (tail, !whole),
    }
}

/// The first `n` characters of `text` (which holds no line break), and whether that cut
/// anything.
fn first_chars(text: &str, n: usize) -> (&str, bool) {
    match text.char_indices().nth(n) {
        Some((i, _)) => (&text[..i], true),
        None => (text, false),
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Lines and columns of ascending offsets, each counted from the last: many findings on one long
/// line cost one pass over it, not one each.
#[derive(Default)]
struct Cursor {
    offset: usize,
    line: usize,
    line_start: usize,
}

impl Cursor {
    fn line_col(&mut self, source: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        if offset < self.offset || self.line == 0 {
            *self = Cursor {
                offset: 0,
                line: 1,
                line_start: 0,
            };
        }
        let gap = &source.as_bytes()[self.offset..offset];
        self.line += memchr::memchr_iter(b'\n', gap).count();
        if let Some(i) = memchr::memrchr(b'\n', gap) {
            self.line_start = self.offset + i + 1;
        }
        self.offset = offset;
        let col = source[self.line_start..offset].chars().count() + 1;
        (self.line, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_shown_whole() {
        let source = "a\nhello $X world\r\nb";
        let e = Excerpt::around(source, 8..10);
        assert_eq!(e.text, "hello $X world");
        assert_eq!(&e.text[e.marked.clone()], "$X");
    }

    #[test]
    fn long_lines_are_cut_around_the_finding() {
        let source = format!("{}$Bad{}", "a".repeat(1000), "b".repeat(1000));
        let e = Excerpt::around(&source, 1000..1004);
        assert_eq!(&e.text[e.marked.clone()], "$Bad");
        assert!(e.text.starts_with(&format!("...{}", "a".repeat(CONTEXT))));
        assert!(e.text.ends_with(&format!("{}...", "b".repeat(CONTEXT))));
        assert_eq!(e.text.len(), CONTEXT * 2 + 4 + 6);
    }

    #[test]
    fn lines_are_cut_where_the_look_ahead_stops() {
        for tail in ["é", "a", "\u{1F600}"] {
            let source = format!("$Bad {}", tail.repeat(10_000));
            let e = Excerpt::around(&source, 0..4);
            assert!(e.text.ends_with("..."), "{tail}");
            assert_eq!(e.text.chars().count(), 4 + 1 + CONTEXT - 1 + 3, "{tail}");
        }
        // A line that ends within reach is shown whole.
        let source = format!("$Bad {}\nnext", "é".repeat(CONTEXT - 1));
        let e = Excerpt::around(&source, 0..4);
        assert!(!e.text.ends_with("..."), "{}", e.text);
    }

    #[test]
    fn control_characters_are_escaped_and_the_caret_follows() {
        let source = "\u{1b}[2J\r\u{85}$Bad\u{9b}31m\r";
        let e = Excerpt::around(source, 7..11);
        assert_eq!(e.text, "\\u{1b}[2J\\r\\u{85}$Bad\\u{9b}31m");
        assert_eq!(&e.text[e.marked.clone()], "$Bad");
    }

    #[test]
    fn columns_are_counted_in_characters_across_calls() {
        let source = "é\néé $A $B\n$C";
        let mut c = Cursor::default();
        assert_eq!(c.line_col(source, 8), (2, 4));
        assert_eq!(c.line_col(source, 11), (2, 7));
        assert_eq!(c.line_col(source, 14), (3, 1));
        assert_eq!(c.line_col(source, 0), (1, 1));
        for (at, _) in source.char_indices() {
            assert_eq!(
                Cursor::default().line_col(source, at),
                super::super::line_col(source, at)
            );
        }
    }
}
