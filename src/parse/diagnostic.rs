//! Rendering findings for people, with annotate-snippets: `origin:line:col`, the source line, a
//! caret under the bad token and a `help:` line (`did you mean ...?`).
//!
//! Only the line holding a finding is handed to the renderer, so showing one finding in a
//! megabyte body costs a line, not the body.
use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use super::Finding;

/// Renders every finding in `source` (named `origin` in the output, e.g. a file path or a JSON
/// pointer into a request) as a compiler-style report, one after another. `color` adds ANSI
/// styles.
pub fn render_findings(origin: &str, source: &str, findings: &[Finding], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Ascii);
    let mut out = String::new();
    for finding in findings {
        // annotate-snippets appends `:line:col` to the path itself.
        let line_no = super::line_col(source, finding.span.start).0;
        let (line_start, line) = line_around(source, finding.span.start);
        let start = finding.span.start - line_start;
        // A span never crosses a line (tokens hold no whitespace), but stay safe if one did.
        let end = (finding.span.end - line_start).clamp(start, line.len());
        let (line, start, end) = visible(line, start..end);
        let message = finding.message();
        let help = finding.help();
        let mut group = Level::ERROR.primary_title(message.as_str()).element(
            Snippet::source(&*line)
                .line_start(line_no)
                .path(origin)
                .annotation(
                    AnnotationKind::Primary
                        .span(start..end)
                        .label(finding.label()),
                ),
        );
        if let Some(help) = &help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let report = [group];
        out.push_str(&renderer.render(&report));
        out.push_str("\n\n");
    }
    out
}

/// `line` with every control character and line break (a lone CR, U+2028, ESC, ...) shown as
/// one visible character (`␍`, `␛`, `�`), so the terminal shows what is there and the caret
/// stays under it; `span` moved to match.
fn visible(line: &str, span: std::ops::Range<usize>) -> (std::borrow::Cow<'_, str>, usize, usize) {
    // Tabs are left to the renderer, which shows them as spaces.
    let hidden = |c: char| c != '\t' && super::breaks_line(c);
    if !line.chars().any(hidden) {
        return (line.into(), span.start, span.end);
    }
    let mut out = String::with_capacity(line.len() + 8);
    let (mut start, mut end) = (span.start, span.end);
    for (at, c) in line.char_indices() {
        if at == span.start {
            start = out.len();
        }
        if at == span.end {
            end = out.len();
        }
        let shown = match u32::from(c) {
            _ if !hidden(c) => c,
            n @ 0..0x20 => char::from_u32(0x2400 + n).expect("a control picture"),
            0x7f => '\u{2421}',
            _ => '\u{fffd}',
        };
        out.push(shown);
    }
    if span.end >= line.len() {
        end = out.len();
    }
    if span.start >= line.len() {
        start = out.len();
    }
    (out.into(), start, end)
}

/// The line holding byte `offset` (without its line break) and where it starts.
fn line_around(source: &str, offset: usize) -> (usize, &str) {
    let bytes = source.as_bytes();
    let offset = offset.min(bytes.len());
    let start = memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i);
    let line = &source[start..end];
    (start, line.strip_suffix('\r').unwrap_or(line))
}
