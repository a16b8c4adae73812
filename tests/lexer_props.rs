//! Property tests of the lexer: it is total, it leaves text alone, `$$` escapes a token shape and
//! nothing else, its pieces rebuild the source, and every finding points at a token shape.

use std::convert::Infallible;
use std::ops::Range;

use invitoken::{Finding, FindingKind, Piece, Template, Token, Unknown, line_col, render_findings};
use proptest::prelude::*;
use proptest::sample::select;

/// Characters that cannot continue a token shape, so one ends right before them.
const TERMINATORS: &[&str] = &[
    " ", ".", ",", ";", "!", "?", ")", "<", "\"", "'", "-", "/", "\\", "\n", "\r\n", "\t", "。",
    "é", "🎉",
];

/// Near misses of every kind the lexer reports.
const NEAR_MISSES: &[&str] = &[
    "$Interview.CodeSignal.Live.Lnk",
    "$Interview.CodeSignal.Live.Linkage",
    "$event.codesignal.live.link",
    "$Interview.Zoom.Link",
    "$Event.CoderPad.Link",
    "$Price.Total",
    "$A.B",
];

/// Multibyte characters: 2, 3 and 4 bytes long, a combining mark, line breaks.
const ODD_CHARS: &[&str] = &[
    "é", "ü", "。", "面", "🎉", "👋🏽", "\u{301}", "\u{200d}", "\n", "\r\n", "\r", " ", "\t",
];

fn known_token() -> impl Strategy<Value = Token> {
    select(Token::ALL.to_vec())
}

fn name_of(token: Token) -> String {
    token.name().to_owned()
}

/// Strings biased toward what the lexer looks at: `$`, `.`, identifiers, digits, token names
/// and near misses, glued to multibyte characters.
fn biased_string() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        3 => Just("$".to_owned()),
        2 => Just("$$".to_owned()),
        3 => Just(".".to_owned()),
        3 => "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
        1 => "[0-9]{1,3}",
        2 => select(ODD_CHARS).prop_map(str::to_owned),
        2 => known_token().prop_map(name_of),
        2 => select(NEAR_MISSES).prop_map(str::to_owned),
        1 => select(TERMINATORS).prop_map(str::to_owned),
    ];
    prop::collection::vec(fragment, 0..48).prop_map(|v| v.concat())
}

/// Arbitrary strings, and strings biased toward token shapes.
fn any_source() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[$.a-zA-Z0-9_ é。🎉]{0,64}",
        biased_string()
    ]
}

/// The template with every token replaced by `value(token)`.
fn expand(template: &Template<'_>, value: impl Fn(Token) -> String) -> String {
    let mut out = String::new();
    let source = template.source();
    template
        .expand(
            &mut out,
            |token: Token, span: &Range<usize>, out: &mut String| {
                assert_eq!(&source[span.clone()], token.name());
                out.push_str(&value(token));
                Ok::<(), Infallible>(())
            },
        )
        .unwrap();
    out
}

/// A placeholder for a token's value that no template text can contain by accident.
fn placeholder(token: Token) -> String {
    format!("\u{0}{}\u{0}", token.index())
}

fn range_of(piece: &Piece) -> &Range<usize> {
    match piece {
        Piece::Text(range) => range,
        Piece::Token { span, .. } => span,
    }
}

/// Pieces of a clean template are non-empty, in order, on char boundaries, and cover the source
/// but for the first `$` of each `$$` escape; token pieces hold their token's name.
fn check_pieces(source: &str, template: &Template<'_>) -> Result<(), TestCaseError> {
    let mut pos = 0;
    for piece in template.pieces() {
        let range = range_of(piece);
        prop_assert!(range.start < range.end, "empty piece {piece:?}");
        prop_assert!(range.end <= source.len(), "{piece:?} past the end");
        prop_assert!(source.is_char_boundary(range.start) && source.is_char_boundary(range.end));
        if range.start != pos {
            // The only gap is one dropped `$`, the first of `$$`.
            prop_assert_eq!(range.start, pos + 1, "gap before {:?}", piece);
            prop_assert_eq!(&source[pos..range.start + 1], "$$");
        }
        if let Piece::Token { token, span } = piece {
            prop_assert_eq!(&source[span.clone()], token.name());
        }
        pos = range.end;
    }
    prop_assert_eq!(pos, source.len(), "pieces stop short of the end");
    Ok(())
}

/// Findings are in order, do not overlap, lie on char boundaries and are token shapes.
fn check_findings(source: &str, findings: &[Finding]) -> Result<(), TestCaseError> {
    prop_assert!(!findings.is_empty(), "Err without a finding");
    let mut pos = 0;
    for finding in findings {
        let span = &finding.span;
        prop_assert!(pos <= span.start && span.start < span.end && span.end <= source.len());
        prop_assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
        let text = &source[span.clone()];
        let look_alike = matches!(
            &finding.kind,
            invitoken::FindingKind::UnknownToken {
                why: Unknown::LookAlike { .. },
                ..
            }
        );
        // A look-alike is not a shape: that is the point of it (`＄Event.Start`, `${...}`).
        if !look_alike {
            prop_assert!(text.starts_with('$'), "finding {:?} is not a shape", text);
            prop_assert!(
                text.len() > 1
                    && text[1..]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            );
        }
        if let invitoken::FindingKind::UnknownToken { shape, .. } = &finding.kind {
            prop_assert_eq!(shape.as_str(), text);
        }
        let (line, col) = line_col(source, span.start);
        prop_assert!(line >= 1 && col >= 1);
        pos = span.end;
    }
    let plain = render_findings("t.txt", source, findings, false);
    prop_assert_eq!(plain.matches("\n --> t.txt:").count(), findings.len());
    let _ = render_findings("t.txt", source, findings, true);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// (a) + (e): `parse` is total; a clean result has sound pieces, a failed one sound findings.
    #[test]
    fn parse_never_panics_and_is_well_formed(source in any_source()) {
        match Template::parse(&source) {
            Ok(template) => {
                prop_assert_eq!(template.source(), source.as_str());
                check_pieces(&source, &template)?;
            }
            Err(findings) => check_findings(&source, &findings)?,
        }
    }
}

proptest! {
    /// (b) Text without `$` (nor a character standing for one) is one text piece (none when empty) and expands to itself.
    #[test]
    fn text_without_dollar_is_one_piece(
        source in prop_oneof!["[^$]{0,64}", prop::collection::vec(select(ODD_CHARS), 0..16).prop_map(|v| v.concat())]
    ) {
        let template = Template::parse(&source).unwrap();
        if source.is_empty() {
            prop_assert!(template.pieces().is_empty());
        } else {
            prop_assert_eq!(template.pieces(), &[Piece::Text(0..source.len())][..]);
        }
        prop_assert_eq!(expand(&template, placeholder), source);
    }

    /// (c) `$$` before a known token writes the token literally, and what follows it is lexed as
    /// usual: a real token after the escaped one is still replaced.
    #[test]
    fn double_dollar_escapes_a_known_token(
        prefix in "[^$]{0,16}",
        escaped in known_token(),
        terminator in proptest::option::of(select(TERMINATORS)),
        after in proptest::option::of(known_token()),
    ) {
        let terminator = terminator.unwrap_or("");
        let after_text = after.map_or(String::new(), |t| t.name().to_owned());
        let source = format!("{prefix}${}{terminator}{after_text}", escaped.name());
        let template = Template::parse(&source).unwrap();
        prop_assert_eq!(template.tokens().map(|(t, _)| t).collect::<Vec<_>>(), after.into_iter().collect::<Vec<_>>());
        let expected = format!(
            "{prefix}{}{terminator}{}",
            escaped.name(),
            after.map_or(String::new(), placeholder)
        );
        prop_assert_eq!(expand(&template, placeholder), expected);
        check_pieces(&source, &template)?;
    }

    /// (c) `$$` not followed by a token shape is text, unchanged.
    #[test]
    fn double_dollar_without_a_shape_is_unchanged(
        prefix in "[^$]{0,16}",
        rest in prop_oneof![
            Just(String::new()),
            Just("$.".to_owned()),
            "[^$a-zA-Z][^$]{0,16}",
            // One identifier, not followed by `.` or anything that continues it.
            "[a-zA-Z][a-zA-Z0-9_]{0,8}([^$a-zA-Z0-9_.][^$]{0,8})?",
            // An identifier and a `.` that no identifier follows.
            "[a-zA-Z][a-zA-Z0-9_]{0,8}\\.([^$a-zA-Z][^$]{0,8})?",
        ],
    ) {
        let source = format!("{prefix}$${rest}");
        let template = Template::parse(&source).unwrap();
        prop_assert_eq!(template.tokens().count(), 0);
        prop_assert_eq!(expand(&template, placeholder), source.clone());
        check_pieces(&source, &template)?;
    }

    /// (d) Text fragments and known tokens, glued together, lex back into the same sequence:
    /// pieces cover the source exactly in order, and each token piece spans its token's name.
    #[test]
    fn pieces_rebuild_text_and_tokens(
        parts in prop::collection::vec(
            prop_oneof![
                known_token().prop_map(Ok),
                // Text after a token starts with a character that cannot continue it.
                "[^$a-zA-Z0-9_.][^$]{0,12}".prop_map(Err),
            ],
            0..12,
        )
    ) {
        let source: String = parts
            .iter()
            .map(|p| match p {
                Ok(token) => token.name(),
                Err(text) => text.as_str(),
            })
            .collect();
        let template = Template::parse(&source).unwrap();

        let mut pos = 0;
        let mut last_was_text = false;
        for piece in template.pieces() {
            let range = range_of(piece);
            prop_assert_eq!(range.start, pos, "pieces are not contiguous at {:?}", piece);
            prop_assert!(range.start < range.end);
            match piece {
                Piece::Text(_) => {
                    prop_assert!(!last_was_text, "two text pieces in a row at {:?}", range);
                    prop_assert!(!source[range.clone()].contains('$'));
                    last_was_text = true;
                }
                Piece::Token { token, span } => {
                    let text = &source[span.clone()];
                    prop_assert_eq!(text, token.name());
                    prop_assert_eq!(&text[..1], "$");
                    last_was_text = false;
                }
            }
            pos = range.end;
        }
        prop_assert_eq!(pos, source.len());

        let tokens: Vec<Token> = parts.iter().filter_map(|p| p.as_ref().ok().copied()).collect();
        prop_assert_eq!(template.tokens().map(|(t, _)| t).collect::<Vec<_>>(), tokens);
        prop_assert_eq!(expand(&template, name_of), source.clone());
        let expected: String = parts
            .iter()
            .map(|p| match p {
                Ok(token) => placeholder(*token),
                Err(text) => text.clone(),
            })
            .collect();
        prop_assert_eq!(expand(&template, placeholder), expected);
    }

    /// (e) Near misses among text: every one is reported, at its own `$`, and nothing else is.
    #[test]
    fn every_near_miss_is_reported_where_it_stands(
        parts in prop::collection::vec(
            prop_oneof![
                select(NEAR_MISSES).prop_map(|s| Ok(s.to_owned())),
                known_token().prop_map(|t| Ok(t.name().to_owned())),
                "[^$a-zA-Z0-9_.][^$]{0,12}".prop_map(Err),
            ],
            1..12,
        )
    ) {
        let mut source = String::new();
        let mut expected = Vec::new();
        for part in &parts {
            if let Ok(shape) = part
                && Token::from_shape(shape.as_bytes()).is_none()
            {
                expected.push(source.len()..source.len() + shape.len());
            }
            source.push_str(match part {
                Ok(s) | Err(s) => s,
            });
        }
        match Template::parse(&source) {
            Ok(template) => {
                prop_assert!(expected.is_empty());
                check_pieces(&source, &template)?;
            }
            Err(findings) => {
                check_findings(&source, &findings)?;
                let spans: Vec<Range<usize>> = findings.iter().map(|f| f.span.clone()).collect();
                prop_assert_eq!(spans, expected);
            }
        }
    }
}

/// One way to disguise a token: what the lexer must still see through.
#[derive(Debug, Clone)]
enum Disguise {
    /// An invisible character (zero-width space, word joiner, soft hyphen) after `at` chars.
    Invisible(usize, char),
    /// The ASCII character at `at` in its fullwidth form (U+FF01..U+FF5E).
    Fullwidth(usize),
    /// The `$` as another character that stands for it.
    Dollar(char),
    /// `${...}`, another template language's braces.
    Braces,
}

fn disguise(name: &str, how: &Disguise) -> String {
    let chars: Vec<char> = name.chars().collect();
    match *how {
        Disguise::Invisible(at, c) => {
            let at = 1 + at % (chars.len() - 1);
            let mut out: String = chars[..at].iter().collect();
            out.push(c);
            out.extend(&chars[at..]);
            out
        }
        Disguise::Fullwidth(at) => chars
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if i == at % chars.len() {
                    char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap()
                } else {
                    c
                }
            })
            .collect(),
        Disguise::Dollar(d) => format!("{d}{}", &name[1..]),
        Disguise::Braces => format!("${{{}}}", &name[1..]),
    }
}

proptest! {
    /// (g) A known token in disguise is a look-alike finding that names it, wherever it stands.
    #[test]
    fn a_disguised_token_is_a_look_alike_of_it(
        token in known_token(),
        how in prop_oneof![
            (any::<usize>(), select(vec!['\u{200b}', '\u{2060}', '\u{ad}', '\u{feff}']))
                .prop_map(|(at, c)| Disguise::Invisible(at, c)),
            any::<usize>().prop_map(Disguise::Fullwidth),
            select(vec!['＄', '﹩', 'ֆ']).prop_map(Disguise::Dollar),
            Just(Disguise::Braces),
        ],
        before in "[a-z (<\"\n]{0,6}",
        after in "[ ,;)<\"\n]{0,6}",
    ) {
        let disguised = disguise(token.name(), &how);
        let source = format!("{before}{disguised}{after}");
        let findings = Template::parse(&source).expect_err("a look-alike must not lex cleanly");
        prop_assert_eq!(findings.len(), 1, "{:?}", findings);
        prop_assert_eq!(&findings[0].span, &(before.len()..before.len() + disguised.len()));
        let is_look_alike = matches!(
            &findings[0].kind,
            FindingKind::UnknownToken { why: Unknown::LookAlike { token: t }, .. } if *t == token
        );
        prop_assert!(is_look_alike, "{:?}", findings[0]);
        check_findings(&source, &findings)?;
    }
}
