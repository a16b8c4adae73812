//! Rendering findings for people: placeholder until the annotate-snippets renderer lands.
use super::Finding;

/// Findings of one source, ready to show.
pub struct Diagnostics;

/// Renders `findings` in `source` named `origin`.
pub fn render_findings(origin: &str, source: &str, findings: &[Finding], _color: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let (l, c) = super::line_col(source, f.span.start);
        out.push_str(&format!("error: {origin}:{l}:{c}: {f}\n"));
    }
    out
}
