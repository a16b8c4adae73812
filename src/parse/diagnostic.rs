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
        let message = finding.message();
        let help = finding.help();
        let mut group = Level::ERROR.primary_title(message.as_str()).element(
            Snippet::source(line)
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

/// The line holding byte `offset` (without its line break) and where it starts.
fn line_around(source: &str, offset: usize) -> (usize, &str) {
    let bytes = source.as_bytes();
    let offset = offset.min(bytes.len());
    let start = memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i);
    let line = &source[start..end];
    (start, line.strip_suffix('\r').unwrap_or(line))
}
