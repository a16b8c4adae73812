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

use std::ops::Range;

use super::{Finding, FindingKind, Piece, Token, Unknown, lookalike};

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
        let len = token.name_len();
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

/// Finds each next place the lexer must look at: every `$`, and the first byte of every
/// character that stands for a `$` ([`lookalike::DOLLAR_LEADS`]).
///
/// Where the CPU has AVX2, one pass finds `$` or any non-ASCII byte, at the cost of a plain
/// memchr for `$` (the lexer turns a non-ASCII stop that is not one of those leads away). Text
/// with much non-ASCII (Cyrillic, CJK) would stop at every character that way, so after
/// [`NON_ASCII_STOPS`] of them the scan switches to memchr's three-byte search for `$` and the
/// leads, which costs about twice a plain memchr but never stops in vain.
///
/// The lexer asks for the next stop at or after a place ([`Stops::next`]). Where stops come
/// near one another (token-dense text, price lists), they are read 64 bytes at a time into a
/// bit mask, and the next block is read whatever the lexer found in this one, so finding a stop
/// does not wait for the lexer to know where the last token ended. A block without a stop hands
/// back to [`Stops::find`], which skips sparse text fastest.
struct Stops {
    mode: Mode,
    non_ascii: usize,
    /// Stops in `src[block..end]` (bit `i`: byte `block + i`) not given yet.
    mask: u64,
    block: usize,
    end: usize,
    /// Whether stops are near one another, so that blocks are read one after another rather
    /// than searched for.
    dense: bool,
    /// Whether the last stop searched for was near the place asked from.
    near: bool,
}

enum Mode {
    #[cfg(target_arch = "x86_64")]
    DollarOrNonAscii,
    #[cfg(target_arch = "x86_64")]
    Avx2Three(memchr::arch::x86_64::avx2::memchr::Three),
    Any,
}

/// Non-ASCII characters passed before [`Stops`] gives up stopping at each.
const NON_ASCII_STOPS: usize = 64;

impl Stops {
    fn new() -> Stops {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Stops {
                mode: Mode::DollarOrNonAscii,
                non_ascii: 0,
                mask: 0,
                block: 0,
                end: 0,
                dense: false,
                near: false,
            };
        }
        Stops {
            mode: Mode::Any,
            non_ascii: 0,
            mask: 0,
            block: 0,
            end: 0,
            dense: false,
            near: false,
        }
    }

    /// Forgets the blocks read: the next source is another (or the same, moved).
    fn restart(&mut self) {
        (self.mask, self.block, self.end, self.dense, self.near) = (0, 0, 0, false, false);
    }

    /// The first stop at or after `pos` in `src` (the same `src` as every call since
    /// [`restart`](Stops::restart), with `pos` never going back).
    ///
    /// The stop given is taken off the mask, so the next one is known without `pos`: a stop
    /// below `pos` (inside the token just read) is rare and dropped by a test the CPU predicts,
    /// rather than by a shift that would make each token wait for the last one's end.
    #[inline(always)]
    fn next(&mut self, src: &[u8], mut pos: usize) -> Option<usize> {
        loop {
            while self.mask != 0 {
                let at = self.block + self.mask.trailing_zeros() as usize;
                if at >= pos {
                    self.mask &= self.mask - 1;
                    return Some(at);
                }
                // Stops the lexer went past (the rest of a character, a look-alike): all at once.
                let past = pos - self.block;
                self.mask &= if past < 64 { u64::MAX << past } else { 0 };
            }
            pos = pos.max(self.end);
            if !self.dense {
                // Stops far apart (most text): one search each, as fast as text is skipped; a
                // near one says the text got dense.
                let at = pos + self.find(&src[pos..])?;
                let near = at - pos < 64;
                // Two near ones in a row: a token and its neighbour in an HTML link are one.
                if near
                    && self.near
                    && let Some(mask) = self.block_mask(src, at)
                {
                    self.dense = true;
                    (self.mask, self.block, self.end) = (mask & (mask - 1), at, at + 64);
                }
                self.near = near;
                return Some(at);
            }
            // Dense text: the next block from `pos` on, until one holds no stop.
            let from = pos;
            let Some(mask) = self.block_mask(src, from) else {
                // Near the end, or without AVX2: a plain search, no block.
                (self.mask, self.block, self.end) = (0, from, from);
                return self.find(&src[from..]).map(|i| from + i);
            };
            (self.mask, self.block, self.end) = (mask, from, from + 64);
            self.dense = mask != 0;
        }
    }

    /// The stops of `src[at..at + 64]` as a bit mask, when the CPU can say at once.
    #[inline(always)]
    fn block_mask(&self, src: &[u8], at: usize) -> Option<u64> {
        if at + 64 > src.len() {
            return None;
        }
        match &self.mode {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: these modes are chosen only when the CPU has AVX2; `at + 64 <= src.len()`.
            Mode::DollarOrNonAscii => Some(unsafe { avx2::block_mask(src, at, false) }),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Mode::Avx2Three(_) => Some(unsafe { avx2::block_mask(src, at, true) }),
            Mode::Any => None,
        }
    }

    #[inline(always)]
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        let [a, b] = lookalike::DOLLAR_LEADS;
        match &self.mode {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: this mode is chosen only when the CPU has AVX2.
            Mode::DollarOrNonAscii => unsafe { avx2::dollar_or_non_ascii(haystack) },
            #[cfg(target_arch = "x86_64")]
            Mode::Avx2Three(three) => three.find(haystack),
            Mode::Any => memchr::memchr3(b'$', a, b, haystack),
        }
    }

    /// Notes a non-ASCII stop that was text.
    #[cold]
    fn passed_non_ascii(&mut self) {
        self.non_ascii += 1;
        #[cfg(target_arch = "x86_64")]
        if self.non_ascii == NON_ASCII_STOPS
            && let Mode::DollarOrNonAscii = self.mode
        {
            let [a, b] = lookalike::DOLLAR_LEADS;
            if let Some(three) = memchr::arch::x86_64::avx2::memchr::Three::new(b'$', a, b) {
                self.mode = Mode::Avx2Three(three);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    /// The stops of `src[at..at + 64]`, bit `i` for byte `at + i`: `$` and non-ASCII bytes, or
    /// (`three`) `$` and the lead bytes of characters standing for one.
    ///
    /// # Safety
    ///
    /// `at + 64 <= src.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block_mask(src: &[u8], at: usize, three: bool) -> u64 {
        debug_assert!(at + 64 <= src.len());
        // SAFETY: the caller has `at + 64 <= src.len()`; loadu needs no alignment.
        let (lo, hi) = unsafe {
            let p = src.as_ptr().add(at);
            (
                _mm256_loadu_si256(p.cast::<__m256i>()),
                _mm256_loadu_si256(p.add(32).cast::<__m256i>()),
            )
        };
        let dollar = _mm256_set1_epi8(b'$' as i8);
        let [a, b] = super::lookalike::DOLLAR_LEADS;
        let (a, b) = (_mm256_set1_epi8(a as i8), _mm256_set1_epi8(b as i8));
        let stop = |v: __m256i| {
            if three {
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(v, dollar),
                    _mm256_or_si256(_mm256_cmpeq_epi8(v, a), _mm256_cmpeq_epi8(v, b)),
                )
            } else {
                _mm256_or_si256(_mm256_cmpeq_epi8(v, dollar), v)
            }
        };
        let lo = _mm256_movemask_epi8(stop(lo)) as u32 as u64;
        let hi = _mm256_movemask_epi8(stop(hi)) as u32 as u64;
        lo | hi << 32
    }

    /// The first `$` or non-ASCII byte of `haystack`: a byte's high bit is what movemask reads,
    /// so or-ing the bytes into the `$` comparison finds both at the cost of finding one.
    #[target_feature(enable = "avx2")]
    pub(super) fn dollar_or_non_ascii(haystack: &[u8]) -> Option<usize> {
        let dollar = _mm256_set1_epi8(b'$' as i8);
        let stop = |v: __m256i| _mm256_or_si256(_mm256_cmpeq_epi8(v, dollar), v);
        let load = |at: usize| {
            debug_assert!(at + 32 <= haystack.len());
            // SAFETY: every caller has `at + 32 <= haystack.len()`; loadu needs no alignment.
            unsafe { _mm256_loadu_si256(haystack.as_ptr().add(at).cast()) }
        };
        let mut at = 0;
        // Most stops in text full of prices are near: one vector first, as memchr does.
        if haystack.len() >= 32 {
            let bits = _mm256_movemask_epi8(stop(load(0))) as u32;
            if bits != 0 {
                return Some(bits.trailing_zeros() as usize);
            }
            at = 32;
        }
        // Then four vectors a round, so the loop is bound by loads, not branches.
        while at + 128 <= haystack.len() {
            let (a, b, c, d) = (
                stop(load(at)),
                stop(load(at + 32)),
                stop(load(at + 64)),
                stop(load(at + 96)),
            );
            let any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
            if _mm256_movemask_epi8(any) != 0 {
                for (k, v) in [a, b, c, d].into_iter().enumerate() {
                    let bits = _mm256_movemask_epi8(v) as u32;
                    if bits != 0 {
                        return Some(at + 32 * k + bits.trailing_zeros() as usize);
                    }
                }
            }
            at += 128;
        }
        while at + 32 <= haystack.len() {
            let bits = _mm256_movemask_epi8(stop(load(at))) as u32;
            if bits != 0 {
                return Some(at + bits.trailing_zeros() as usize);
            }
            at += 32;
        }
        haystack[at..]
            .iter()
            .position(|&b| b == b'$' || !b.is_ascii())
            .map(|i| at + i)
    }
}

/// Where in `src` a token or a look-alike of one may start: every `$`, and every lead byte of a
/// character that stands for one (`＄`, `﹩`, ...), in order; a lead byte only where its character
/// is one (or cannot be read). The lexer decides whether a token or a look-alike is there.
pub(crate) fn token_starts(src: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let [a, b] = lookalike::DOLLAR_LEADS;
    memchr::memchr3_iter(b'$', a, b, src).filter(|&at| src[at] == b'$' || dollar_like_at(src, at))
}

/// Whether the character whose first byte is at `at` of `src` (raw iCalendar bytes: a fold,
/// CRLF or LF then a space or tab, may split it) stands for a `$`. A character that cannot be
/// read (cut short, not UTF-8) may be one.
fn dollar_like_at(src: &[u8], at: usize) -> bool {
    let mut bytes = [src[at], 0, 0, 0];
    let len = match src[at] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => return true,
    };
    let mut i = at + 1;
    for slot in bytes.iter_mut().take(len).skip(1) {
        loop {
            match src.get(i..) {
                Some([b'\r', b'\n', b' ' | b'\t', ..]) => i += 3,
                Some([b'\n', b' ' | b'\t', ..]) => i += 2,
                _ => break,
            }
        }
        let Some(&b) = src.get(i) else { return true };
        *slot = b;
        i += 1;
    }
    match std::str::from_utf8(&bytes[..len]) {
        Ok(s) => s.chars().next().is_some_and(lookalike::is_dollar),
        Err(_) => true,
    }
}

/// Whether `src` may hold a token or a look-alike of one: a `$`, or the first byte of a
/// character that stands for one. Code that skips text without tokens (the ICS rewrite) asks
/// this rather than memchr for `$`, so that look-alikes still reach the lexer and are refused.
/// A lead byte is enough (a fold may split the character after it).
pub(crate) fn may_hold_token(src: &[u8]) -> bool {
    let mut stops = Stops::new();
    let mut pos = 0;
    while let Some(found) = stops.find(&src[pos..]) {
        let at = pos + found;
        if src[at] == b'$' || lookalike::DOLLAR_LEADS.contains(&src[at]) {
            return true;
        }
        stops.passed_non_ascii();
        pos = at + 1;
    }
    false
}

/// Whether the run of identifier characters and dots from `from` ends at a non-ASCII byte:
/// where a shape (or a `$` and letters that are none) may go on as a look-alike.
fn non_ascii_follows(src: &[u8], from: usize) -> bool {
    let rest = &src[from..];
    let run = rest
        .iter()
        .position(|&b| !(is_ident_continue(b) || b == b'.'))
        .unwrap_or(rest.len());
    !rest.get(run).is_none_or(u8::is_ascii)
}

/// The character starting at byte `at` of `src` (a UTF-8 template), if one starts there.
fn char_at(src: &[u8], at: usize) -> Option<char> {
    let end = (at + 4).min(src.len());
    let bytes = &src[at..end];
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
    };
    text.chars().next()
}

/// Where the lexer puts what it finds, in source order.
pub(super) trait Sink {
    /// Text from the last piece up to a token, a finding or the end.
    fn text(&mut self, range: Range<usize>);
    /// A known token.
    fn token(&mut self, token: Token, span: Range<usize>);
    /// Something wrong.
    fn finding(&mut self, finding: Finding);
}

/// What [`lex`] gives: the pieces and findings of a whole template.
struct Lexed {
    pieces: Vec<Piece>,
    findings: Vec<Finding>,
}

impl Sink for Lexed {
    #[inline(always)]
    fn text(&mut self, range: Range<usize>) {
        self.pieces.push(Piece::Text(range));
    }

    #[inline(always)]
    fn token(&mut self, token: Token, span: Range<usize>) {
        self.pieces.push(Piece::Token { token, span });
    }

    fn finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// The look-alike token starting at `at`, if one does ([`lookalike::at`]): records it as a
/// finding, with the text before it as a piece, and gives where it ends. Inlined so that the
/// sink need not escape through a call on its cold paths.
#[inline(always)]
fn look_alike<S: Sink>(sink: &mut S, src: &[u8], text_start: usize, at: usize) -> Option<usize> {
    let (end, token) = lookalike::at(src, at)?;
    if text_start < at {
        sink.text(text_start..at);
    }
    sink.finding(Finding {
        span: at..end,
        kind: FindingKind::UnknownToken {
            shape: String::from_utf8_lossy(&src[at..end]).into_owned(),
            why: Unknown::LookAlike { token },
        },
    });
    Some(end)
}

/// Lexes `src` into pieces and findings. Both are in source order; pieces cover the source
/// except the first `$` of each `$$` escape.
pub(super) fn lex(src: &[u8]) -> (Vec<Piece>, Vec<Finding>) {
    let mut lexed = Lexed {
        pieces: Vec::with_capacity(pieces_estimate(src.len())),
        findings: Vec::new(),
    };
    let mut stops = Stops::new();
    let (_, text_start) = run(src, 0, usize::MAX, &mut stops, &mut lexed);
    if text_start < src.len() {
        lexed.pieces.push(Piece::Text(text_start..src.len()));
    }
    (lexed.pieces, lexed.findings)
}

/// Bytes past a place where a token or look-alike may start that the lexer may read to decide
/// what is there ([`lookalike::WINDOW`] and a little), besides the run of identifier characters
/// and dots after it.
pub(super) const LOOK_AHEAD: usize = lookalike::WINDOW + 8;

/// The state of a lexer that is given its source piece by piece ([`super::stream`]).
pub(super) struct Resumable {
    stops: Stops,
}

impl Resumable {
    pub(super) fn new() -> Resumable {
        Resumable {
            stops: Stops::new(),
        }
    }

    /// Lexes `src` (a piece of a longer source, whole characters) from `from`, up to the first
    /// place whose outcome could change with the bytes after `src`, or to its end when `last`
    /// (nothing follows it). Gives where to go on from: the next piece starts there.
    ///
    /// What the lexer decides at a `$` (or a character standing for one) depends on at most
    /// [`LOOK_AHEAD`] bytes after it, and on where the run of identifier characters and dots
    /// after it (or after `$$`) ends; so every such place is decided when it lies before
    /// `src.len() - LOOK_AHEAD` and before the run of those characters that `src` ends in.
    pub(super) fn lex<S: Sink>(
        &mut self,
        src: &[u8],
        from: usize,
        last: bool,
        sink: &mut S,
    ) -> usize {
        let limit = if last {
            usize::MAX
        } else {
            let run = src
                .iter()
                .rposition(|&b| !(is_ident_continue(b) || b == b'.'))
                .map_or(0, |i| i + 1);
            src.len()
                .saturating_sub(LOOK_AHEAD)
                .min(run.saturating_sub(2))
        };
        self.stops.restart();
        run(src, from, limit, &mut self.stops, sink).0
    }
}

/// Lexes `src` from `from` into `sink`, stopping at the first place a token or a look-alike may
/// start at or past `limit`. Gives that place (or `src.len()`) and where the text not yet given
/// to the sink starts.
#[inline(always)]
fn run<S: Sink>(
    src: &[u8],
    from: usize,
    limit: usize,
    stops: &mut Stops,
    sink: &mut S,
) -> (usize, usize) {
    let mut text_start = from;
    let mut pos = from;
    while let Some(at) = stops.next(src, pos) {
        if at >= limit {
            return (at, text_start);
        }
        // Most `$` start nothing (`$100`, `US$ 5`, `$$$.`): one test, with no branch inside,
        // turns them away. A shape needs a letter after the `$`, or after `$$`.
        let next = src.get(at + 1).copied().unwrap_or(0);
        let after = src.get(at + 2).copied().unwrap_or(0);
        if !(next.is_ascii_alphabetic() | ((next == b'$') & after.is_ascii_alphabetic())) {
            // A stop that is no `$` is the lead byte of a non-ASCII character, so a continuation
            // byte follows it and it lands here, off the path of tokens.
            if src[at] != b'$' {
                // A non-ASCII character: text, unless it stands for a `$` and starts a look-alike.
                if lookalike::DOLLAR_LEADS.contains(&src[at])
                    && char_at(src, at).is_some_and(lookalike::is_dollar)
                    && let Some(end) = look_alike(sink, src, text_start, at)
                {
                    text_start = end;
                    pos = end;
                    continue;
                }
                stops.passed_non_ascii();
                pos = at + 1;
                // The rest of the character is text too.
                while src.get(pos).is_some_and(|b| b & 0xC0 == 0x80) {
                    pos += 1;
                }
                continue;
            }
            // A `$` turned away may still start what only looks like a shape: `$Іnterview…`,
            // `${Event…}`.
            if (!next.is_ascii() || next == b'{')
                && let Some(end) = look_alike(sink, src, text_start, at)
            {
                text_start = end;
                pos = end;
                continue;
            }
            pos = at + 1;
            continue;
        }
        if let Some((len, token)) = shape_at(src, at) {
            let end = at + len;
            // A shape that non-ASCII text goes on from may be the start of a look-alike:
            // `$Interview.CodeSignal.Live.L` and a Cyrillic `іnk`, `$Interview.CodeSignal` and
            // `.Ｌive.Link`. (One byte decides for almost every token: a shape ends at ASCII
            // other than `.`.)
            let next = src.get(end).copied().unwrap_or(0);
            if (!next.is_ascii() || (next == b'.' && non_ascii_follows(src, end)))
                && let Some(end) = look_alike(sink, src, text_start, at)
            {
                text_start = end;
                pos = end;
                continue;
            }
            if text_start < at {
                sink.text(text_start..at);
            }
            match token {
                Some(token) => sink.token(token, at..end),
                None => unknown_shape(sink, src, at..end),
            }
            text_start = end;
            pos = end;
        } else if next == b'$' {
            if let Some((len, _)) = shape_at(src, at + 1) {
                // `$$shape`: drop this `$`, keep the shape as text, and do not look inside it.
                if text_start < at {
                    sink.text(text_start..at);
                }
                text_start = at + 1;
                pos = at + 1 + len;
            } else {
                pos = at + 1;
            }
        } else {
            // `$Interview` and no shape: a look-alike if non-ASCII goes on from the identifiers
            // (`$Interview\u{200B}.CodeSignal.Live.Link`).
            if non_ascii_follows(src, at + 1)
                && let Some(end) = look_alike(sink, src, text_start, at)
            {
                text_start = end;
                pos = end;
                continue;
            }
            pos = at + 1;
        }
    }
    (src.len(), text_start)
}

/// A shape that is no known token: a finding, classified. Out of line, off the path of tokens.
#[inline(never)]
fn unknown_shape<S: Sink>(sink: &mut S, src: &[u8], span: Range<usize>) {
    // The shape is ASCII by construction.
    let shape = String::from_utf8_lossy(&src[span.clone()]).into_owned();
    let why = Unknown::classify(&shape);
    sink.finding(Finding {
        span,
        kind: FindingKind::UnknownToken { shape, why },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic xorshift64 generator for the randomized tests.
    #[cfg(target_arch = "x86_64")]
    fn xorshift() -> impl FnMut() -> u64 {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_scan_finds_the_first_dollar_or_non_ascii_byte() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: no AVX2 on this CPU");
            return;
        }
        let mut next = xorshift();
        for _ in 0..5_000 {
            let len = (next() % 300) as usize;
            // Mostly plain letters, so the first stop lands anywhere, at every vector offset.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 400 {
                    0 => b'$',
                    1 => 0x80 | (next() as u8),
                    _ => b'a' + (next() % 26) as u8,
                })
                .collect();
            let expected = bytes.iter().position(|&b| b == b'$' || b >= 0x80);
            // SAFETY: AVX2 was detected above.
            let got = unsafe { avx2::dollar_or_non_ascii(&bytes) };
            assert_eq!(got, expected, "{bytes:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_block_masks_agree_with_a_plain_loop() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: no AVX2 on this CPU");
            return;
        }
        let mut next = xorshift();
        let [a, b] = lookalike::DOLLAR_LEADS;
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..64 + next() % 64)
                .map(|_| match next() % 8 {
                    0 => b'$',
                    1 => 0x80 | (next() as u8),
                    2 => [a, b][(next() % 2) as usize],
                    _ => next() as u8 & 0x7f,
                })
                .collect();
            let at = (next() % (bytes.len() as u64 - 63)) as usize;
            for three in [false, true] {
                let expected = (0..64)
                    .filter(|&i| {
                        let c = bytes[at + i];
                        c == b'$' || if three { c == a || c == b } else { c >= 0x80 }
                    })
                    .fold(0u64, |m, i| m | 1 << i);
                // SAFETY: AVX2 was detected above; `at + 64 <= bytes.len()`.
                let got = unsafe { avx2::block_mask(&bytes, at, three) };
                assert_eq!(got, expected, "{bytes:?} at {at}, three {three}");
            }
        }
    }

    #[test]
    fn stops_by_blocks_are_the_stops_of_a_plain_search() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            let len = (state % 400) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    match state % 50 {
                        0 => b'$',
                        1 => 0xC3,
                        _ => b'a',
                    }
                })
                .collect();
            // Steps of 1 to 40 bytes past each stop, as the lexer moves past tokens.
            let (mut blocks, plain) = (Stops::new(), Stops::new());
            let (mut pos, mut step) = (0, 1);
            loop {
                let got = blocks.next(&bytes, pos);
                let expected = plain.find(&bytes[pos..]).map(|i| pos + i);
                assert_eq!(got, expected, "{bytes:?} from {pos}");
                let Some(at) = got else { break };
                step = step % 40 + 7;
                pos = (at + 1 + step % 5).min(bytes.len());
            }
        }
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
