//! Snapshot tests of the lexer and its diagnostics, one per template in `fixtures/lexer/`.
//!
//! A template that lexes cleanly is shown as its pieces, one a line (`text 0..6 "Hello "`,
//! `token 6..21 $Candidate.Name`); a template with findings is shown as the plain (colourless)
//! report `invitoken check` prints, with the fixture's path, relative to the repository, as origin.

use std::fmt::Write as _;
use std::path::Path;

use invitoken::{Piece, Template, render_findings};

/// The fixture's path relative to the repository root, with forward slashes on every platform.
fn origin(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let relative = path.strip_prefix(&root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// One line per piece: its kind, its byte range and what it holds.
fn describe_pieces(template: &Template<'_>) -> String {
    let source = template.source();
    if template.pieces().is_empty() {
        return "(no pieces)\n".to_owned();
    }
    let mut out = String::new();
    for piece in template.pieces() {
        match piece {
            Piece::Text(range) => {
                writeln!(out, "text {range:?} {:?}", &source[range.clone()]).unwrap();
            }
            Piece::Token { token, span } => {
                writeln!(out, "token {span:?} {token}").unwrap();
            }
        }
    }
    out
}

#[test]
fn lexer_fixtures() {
    insta::glob!("../fixtures/lexer", "*.txt", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let snapshot = match Template::parse(&source) {
            Ok(template) => describe_pieces(&template),
            Err(findings) => render_findings(&origin(path), &source, &findings, false),
        };
        insta::assert_snapshot!(snapshot);
    });
}
