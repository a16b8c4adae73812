//! The lexer: memchr jumps from `$` to `$`, nom recognises a token shape at each one.
//!
//! Everything between shapes is text and is never looked at twice, so text without `$` costs
//! one memchr scan. See `grammar/tokens.abnf` for the rules implemented here.

use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while},
    combinator::{recognize, verify},
    multi::many1_count,
    sequence::preceded,
};

use super::{Finding, FindingKind, Piece, Token, Unknown};

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `ident = ALPHA *(ALPHA / DIGIT / "_")`
fn ident(input: &[u8]) -> IResult<&[u8], &[u8]> {
    verify(take_while(is_ident_continue), |s: &[u8]| {
        s.first().is_some_and(u8::is_ascii_alphabetic)
    })
    .parse(input)
}

/// `shape = "$" ident 1*("." ident)`: the longest match, so a trailing `.` that no identifier
/// follows is left as text.
fn shape(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((
        tag(&b"$"[..]),
        ident,
        many1_count(preceded(tag(&b"."[..]), ident)),
    ))
    .parse(input)
}

/// Length of the token shape starting at `at` (a `$`), if one does.
fn shape_len(src: &[u8], at: usize) -> Option<usize> {
    // Cheap pre-check: most `$` in real text are prices, not shapes.
    if !src.get(at + 1).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    shape(&src[at..]).ok().map(|(_, s)| s.len())
}

/// Lexes `src` into pieces and findings. Both are in source order; pieces cover the source
/// except the first `$` of each `$$` escape.
pub(super) fn lex(src: &[u8]) -> (Vec<Piece>, Vec<Finding>) {
    let mut pieces = Vec::new();
    let mut findings = Vec::new();
    let mut text_start = 0;
    let mut pos = 0;
    while let Some(found) = memchr::memchr(b'$', &src[pos..]) {
        let at = pos + found;
        if let Some(len) = shape_len(src, at) {
            let end = at + len;
            if text_start < at {
                pieces.push(Piece::Text(text_start..at));
            }
            match Token::from_shape(&src[at..end]) {
                Some(token) => pieces.push(Piece::Token {
                    token,
                    span: at..end,
                }),
                None => {
                    // The shape is ASCII by construction.
                    let shape = String::from_utf8_lossy(&src[at..end]).into_owned();
                    let why = Unknown::classify(&shape);
                    findings.push(Finding {
                        span: at..end,
                        kind: FindingKind::UnknownToken { shape, why },
                    });
                }
            }
            text_start = end;
            pos = end;
        } else if src.get(at + 1) == Some(&b'$') {
            if let Some(len) = shape_len(src, at + 1) {
                // `$$shape`: drop this `$`, keep the shape as text, and do not look inside it.
                if text_start < at {
                    pieces.push(Piece::Text(text_start..at));
                }
                text_start = at + 1;
                pos = at + 1 + len;
            } else {
                pos = at + 1;
            }
        } else {
            pos = at + 1;
        }
    }
    if text_start < src.len() {
        pieces.push(Piece::Text(text_start..src.len()));
    }
    (pieces, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(s: &str) -> Option<&str> {
        shape_len(s.as_bytes(), 0).map(|n| &s[..n])
    }

    #[test]
    fn shape_stops_at_first_character_that_cannot_continue_it() {
        assert_eq!(shape_of("$A.B."), Some("$A.B"));
        assert_eq!(shape_of("$A.B,"), Some("$A.B"));
        assert_eq!(shape_of("$A.B。"), Some("$A.B"));
        assert_eq!(shape_of("$A.B.1"), Some("$A.B"));
        assert_eq!(shape_of("$A_1.b2_"), Some("$A_1.b2_"));
        assert_eq!(shape_of("$A"), None);
        assert_eq!(shape_of("$A."), None);
        assert_eq!(shape_of("$1.B"), None);
        assert_eq!(shape_of("$_A.B"), None);
    }
}
