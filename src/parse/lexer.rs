//! The lexer: memchr jumps from `$` to `$`, nom recognises a token shape at each one.
//!
//! Everything between shapes is text and is never looked at twice, so text without `$` costs
//! one memchr scan. See `grammar/tokens.abnf` for the rules implemented here.
//!
//! The nom parser `shape` is the grammar. Two shortcuts give its answer without running it:
//! a `$` with no letter after it (or after `$$`) starts no shape, and a known token written in
//! full and not continued is that token (see `shape_at`; tests check both against the parser).
//! `cargo bench --bench lexer` measures the lexer beside a bare memchr scan for `$`.

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

/// Whether a shape that has reached the start of `after` goes on into it: with another
/// identifier character, or with a `.` and a letter (a `.` with no identifier after it is text).
fn continues(after: &[u8]) -> bool {
    match after {
        [b, ..] if is_ident_continue(*b) => true,
        [b'.', b, ..] => b.is_ascii_alphabetic(),
        _ => false,
    }
}

/// The token shape starting at `at` (a `$`), if one does: its length, and the known token it
/// is, if it is one.
///
/// Most `$` in real text are prices, turned away by one byte. A known token written out in
/// full and not continued is recognised by [`Token::prefix_of`] without running the parser;
/// that is the same answer `shape` gives, since every name is a whole shape and `continues`
/// says exactly when `shape` would take more. Anything else goes to `shape`.
#[inline(always)]
fn shape_at(src: &[u8], at: usize) -> Option<(usize, Option<Token>)> {
    let rest = &src[at..];
    if !rest.get(1).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    if let Some(token) = Token::prefix_of(rest) {
        let len = token.name().len();
        if !continues(&rest[len..]) {
            return Some((len, Some(token)));
        }
    }
    parsed_shape(rest)
}

/// The token shape at the start of `rest`, by the parser.
#[inline(never)]
fn parsed_shape(rest: &[u8]) -> Option<(usize, Option<Token>)> {
    let (_, found) = shape(rest).ok()?;
    Some((found.len(), Token::from_shape(found)))
}

/// A first guess at the number of pieces, so that a typical invite (a token or two per few
/// hundred bytes) lexes without growing the vector; denser text grows it as usual.
fn pieces_estimate(len: usize) -> usize {
    8 + len / 64
}

/// Finds each next `$`. Where the CPU has AVX2, memchr's AVX2 searcher is built once per
/// template and called directly, rather than through `memchr::memchr`'s run-time dispatch on
/// every call, which is most of the cost of a `$` in text full of prices.
enum Dollars {
    #[cfg(target_arch = "x86_64")]
    Avx2(memchr::arch::x86_64::avx2::memchr::One),
    Any,
}

impl Dollars {
    fn new() -> Dollars {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = memchr::arch::x86_64::avx2::memchr::One::new(b'$') {
            return Dollars::Avx2(one);
        }
        Dollars::Any
    }

    #[inline(always)]
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Dollars::Avx2(one) => one.find(haystack),
            Dollars::Any => memchr::memchr(b'$', haystack),
        }
    }
}

/// Lexes `src` into pieces and findings. Both are in source order; pieces cover the source
/// except the first `$` of each `$$` escape.
pub(super) fn lex(src: &[u8]) -> (Vec<Piece>, Vec<Finding>) {
    let mut pieces = Vec::with_capacity(pieces_estimate(src.len()));
    let mut findings = Vec::new();
    let mut text_start = 0;
    let mut pos = 0;
    let dollars = Dollars::new();
    while let Some(found) = dollars.find(&src[pos..]) {
        let at = pos + found;
        // Most `$` start nothing (`$100`, `US$ 5`, `$$$.`): one test, with no branch inside,
        // turns them away. A shape needs a letter after the `$`, or after `$$`.
        let next = src.get(at + 1).copied().unwrap_or(0);
        let after = src.get(at + 2).copied().unwrap_or(0);
        if !(next.is_ascii_alphabetic() | ((next == b'$') & after.is_ascii_alphabetic())) {
            pos = at + 1;
            continue;
        }
        if let Some((len, token)) = shape_at(src, at) {
            let end = at + len;
            if text_start < at {
                pieces.push(Piece::Text(text_start..at));
            }
            match token {
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
        } else if next == b'$' {
            if let Some((len, _)) = shape_at(src, at + 1) {
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
        shape_at(s.as_bytes(), 0).map(|(n, _)| &s[..n])
    }

    /// What the parser alone says: the shape's length and token.
    fn by_parser(s: &[u8]) -> Option<(usize, Option<Token>)> {
        if !s.get(1).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let (_, found) = shape(s).ok()?;
        Some((found.len(), Token::from_shape(found)))
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

    #[test]
    fn fast_path_agrees_with_the_parser() {
        let afters = [
            "", " ", ".", "..", ".a", ".A", ".1", "._", ".a.b", "a", "Z", "0", "_", ",", "$",
            "$A.B", "。", "<", "\"", "-x", ".Link",
        ];
        for token in Token::ALL {
            let name = token.name();
            // The name, each of its prefixes, and case-changed forms, each followed by all sorts.
            let mut heads: Vec<String> = (2..=name.len()).map(|n| name[..n].to_owned()).collect();
            heads.push(name.to_ascii_lowercase());
            heads.push(name.to_ascii_uppercase());
            for head in &heads {
                for after in afters {
                    let s = format!("{head}{after}");
                    assert_eq!(shape_at(s.as_bytes(), 0), by_parser(s.as_bytes()), "{s:?}");
                }
            }
        }
        assert_eq!(
            shape_at(b"$Event.Start.", 0),
            Some((12, Some(Token::EventStart)))
        );
        assert_eq!(shape_at(b"$Event.Start.x", 0), Some((14, None)));
        assert_eq!(shape_at(b"$Event.Starts", 0), Some((13, None)));
    }

    #[test]
    fn fast_path_agrees_with_the_parser_on_generated_text() {
        let mut pieces: Vec<&str> = Token::ALL.iter().map(|t| t.name()).collect();
        pieces.extend([
            "$",
            "$$",
            ".",
            "..",
            "a",
            "Z",
            "1",
            "_",
            " ",
            "x.y",
            ".Link",
            "$Event.",
            "$Interview",
            "CodeSignal",
            ".Live",
            ".Template",
            "$Candidate.",
            "é",
            "\n",
        ]);
        // xorshift: the same strings on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..6 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            for (at, _) in s.match_indices('$') {
                assert_eq!(
                    shape_at(s.as_bytes(), at),
                    by_parser(&s.as_bytes()[at..]),
                    "{s:?} at {at}"
                );
            }
        }
    }
}
