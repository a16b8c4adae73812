//! Properties of `ics::line::fold` and `unfold` over arbitrary UTF-8 logical lines (issue "ICS:
//! lossless batch reprocessing"): folding then unfolding gives the line back, no physical line
//! is over 75 octets, none splits a UTF-8 sequence or a `\` escape, and a line is folded no
//! sooner than it must be; with `\r\n` and with `\n` line endings.

use invitoken::internals::line::{self, MAX_LINE};
use proptest::prelude::*;

/// One piece of a logical line, from a kind, a character and a length: plain ASCII, TEXT
/// escapes, runs of `\`, multibyte characters of every width (alone or escaped), any character
/// but a line break, a token. (Drawn as numbers and mapped: a union of string strategies is
/// several times slower to generate in a debug build.)
fn piece(kind: u8, c: char, n: usize) -> String {
    const ESCAPES: [&str; 5] = ["\\\\", "\\;", "\\,", "\\n", "\\N"];
    const WIDE: [&str; 8] = ["é", "ß", "☕", "。", "€", "𝄞", "🎉", "\u{0301}"];
    let ascii = |i: usize| char::from(b' ' + ((c as u32 as usize + i * 7) % 95) as u8);
    match kind {
        0..=3 => (0..n).map(ascii).collect(),
        4 | 5 => ESCAPES[n % ESCAPES.len()].to_string(),
        6 => "\\".repeat(n % 5 + 1),
        7 | 8 => WIDE[(c as usize + n) % WIDE.len()].to_string(),
        9 => format!("\\{}", WIDE[n % WIDE.len()]),
        10 => match c {
            '\r' | '\n' => "\\n".to_string(),
            c => c.to_string(),
        },
        _ => "$Event.CodeSignal.Live.Link".to_string(),
    }
}

/// A logical line: sometimes a property name first, then up to a few hundred pieces.
fn logical_line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "DESCRIPTION:", "X-ALT-DESC;FMTTYPE=text/html:"]),
        prop::collection::vec((0u8..12, any::<char>(), 1usize..12), 0..300),
    )
        .prop_map(|(name, pieces)| {
            let mut line = name.to_string();
            for (kind, c, n) in pieces {
                line.push_str(&piece(kind, c, n));
            }
            line
        })
}

fn eol() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..])]
}

/// Splits folded content (final line ending removed) into its physical lines.
fn physical<'a>(content: &'a [u8], eol: &[u8]) -> Vec<&'a [u8]> {
    let mut lines = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.windows(eol.len()).position(|w| w == eol) {
        lines.push(&rest[..at]);
        rest = &rest[at + eol.len()..];
    }
    lines.push(rest);
    lines
}

/// Whether the byte before `at` ends an odd run of `\`: a cut there would split an escape.
fn splits_escape(line: &[u8], at: usize) -> bool {
    line[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn fold_then_unfold_is_the_identity(line in logical_line(), eol in eol()) {
        let mut out = Vec::new();
        line::fold(line.as_bytes(), eol, &mut out);
        let content = out.strip_suffix(eol).expect("fold ends with the line ending");
        prop_assert_eq!(&*line::unfold(content), line.as_bytes());
    }

    #[test]
    fn folded_lines_are_short_whole_and_continued(line in logical_line(), eol in eol()) {
        let mut out = Vec::new();
        line::fold(line.as_bytes(), eol, &mut out);
        let content = out.strip_suffix(eol).unwrap();
        let lines = physical(content, eol);
        let mut at = 0; // where each physical line starts in the logical line
        for (i, p) in lines.iter().enumerate() {
            prop_assert!(p.len() <= MAX_LINE, "line {} has {} octets", i, p.len());
            prop_assert!(
                std::str::from_utf8(p).is_ok(),
                "line {} splits a UTF-8 sequence: {:?}", i, p
            );
            let text = if i == 0 {
                &p[..]
            } else {
                prop_assert_eq!(p.first(), Some(&b' '), "continuation {} starts with SPACE", i);
                &p[1..]
            };
            prop_assert_eq!(text, &line.as_bytes()[at..at + text.len()]);
            at += text.len();
            if i + 1 < lines.len() {
                prop_assert!(!splits_escape(line.as_bytes(), at), "line {} splits an escape", i);
                // No sooner than it must: at most a character (4 octets) and a `\` short.
                prop_assert!(
                    p.len() + 5 > MAX_LINE,
                    "line {} folded at {} octets, with more to come", i, p.len()
                );
            }
        }
        prop_assert_eq!(at, line.len());
    }

    #[test]
    fn a_folded_line_is_one_content_line(value in logical_line(), eol in eol()) {
        // A content line starts with its name (one starting with SPACE would be a fold).
        let line = format!("SUMMARY:{value}");
        let mut out = b"BEGIN:VEVENT".to_vec();
        out.extend_from_slice(eol);
        let start = out.len();
        line::fold(line.as_bytes(), eol, &mut out);
        let lines: Vec<_> = line::lines(&out).collect();
        prop_assert_eq!(lines.len(), 2);
        prop_assert_eq!(lines[1].range.clone(), start..out.len());
        prop_assert_eq!(lines[1].eol, eol);
        prop_assert_eq!(lines[1].line_no, 2);
        prop_assert_eq!(lines[1].folded, line.len() > MAX_LINE);
        prop_assert_eq!(&*line::unfold(lines[1].content(&out)), line.as_bytes());
    }
}

#[test]
fn edge_cases_fold_exactly() {
    for eol in [&b"\r\n"[..], b"\n"] {
        for line in [
            String::new(),
            "x".repeat(MAX_LINE),
            "x".repeat(MAX_LINE + 1),
            "\\".repeat(MAX_LINE * 3 + 1),
            "é".repeat(200),
            "𝄞".repeat(100),
            format!("{}\\,", "x".repeat(MAX_LINE - 1)),
            format!("{}é", "x".repeat(MAX_LINE - 1)),
            format!("{}\\é", "x".repeat(MAX_LINE - 2)),
        ] {
            let mut out = Vec::new();
            line::fold(line.as_bytes(), eol, &mut out);
            let content = out.strip_suffix(eol).unwrap();
            assert_eq!(&*line::unfold(content), line.as_bytes(), "{line:?}");
            for p in physical(content, eol) {
                assert!(p.len() <= MAX_LINE, "{line:?}: {} octets", p.len());
                assert!(std::str::from_utf8(p).is_ok(), "{line:?}: {p:?}");
            }
        }
    }
}
