//! RFC 5545 content lines at the byte level: finding them, unfolding, folding, TEXT escaping.
//!
//! Nothing here decodes or normalises: a logical line is a byte range of the file, folds and line
//! ending included, so a line we do not change is copied exactly as it was read.

use std::borrow::Cow;
use std::ops::Range;

/// The longest physical line we write, in octets, line ending excluded (RFC 5545 3.1).
pub const MAX_LINE: usize = 75;

/// One logical content line: its physical lines (folds included) and how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The whole line in the file, from its first byte through its final line ending.
    pub range: Range<usize>,
    /// The line ending it ends with: `\r\n`, `\n`, or empty at the end of the file.
    pub eol: &'static [u8],
    /// Line number (1-based) of its first physical line.
    pub line_no: usize,
    /// Whether it spans several physical lines.
    pub folded: bool,
}

impl RawLine {
    /// The line without its final line ending (folds still in).
    pub fn content<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        &file[self.range.start..self.range.end - self.eol.len()]
    }
}

/// Logical content lines of `file`, in order. A physical line ends at `\n` (a `\r` before it is
/// part of the ending); one that starts with SPACE or TAB continues the line before it. A lone
/// `\r` is content, as it is to most parsers. Every byte of `file` is in exactly one line.
pub fn lines(file: &[u8]) -> Lines<'_> {
    Lines {
        file,
        newlines: newlines(file),
        at: 0,
        line_no: 1,
    }
}

/// Iterator returned by [`lines`]. Inlined into its callers: a calendar's lines are short
/// (140,000 in a 5.6 MB export), so the cost of a call and of returning a line through memory
/// was a third of a rewrite's time.
#[derive(Debug)]
pub struct Lines<'a> {
    file: &'a [u8],
    newlines: Newlines<'a>,
    at: usize,
    line_no: usize,
}

impl Iterator for Lines<'_> {
    type Item = RawLine;

    #[inline]
    fn next(&mut self) -> Option<RawLine> {
        let file = self.file;
        let start = self.at;
        if start >= file.len() {
            return None;
        }
        let first_line = self.line_no;
        let mut folded = false;
        loop {
            match self.newlines.next() {
                None => {
                    self.at = file.len();
                    return Some(RawLine {
                        range: start..file.len(),
                        eol: b"",
                        line_no: first_line,
                        folded,
                    });
                }
                Some(nl) => {
                    self.line_no += 1;
                    if matches!(file.get(nl + 1), Some(b' ' | b'\t')) {
                        folded = true;
                        continue;
                    }
                    self.at = nl + 1;
                    let eol: &'static [u8] = if nl > start && file[nl - 1] == b'\r' {
                        b"\r\n"
                    } else {
                        b"\n"
                    };
                    return Some(RawLine {
                        range: start..nl + 1,
                        eol,
                        line_no: first_line,
                        folded,
                    });
                }
            }
        }
    }
}

/// Every `\n` of `bytes`, in order.
pub fn newlines(bytes: &[u8]) -> Newlines<'_> {
    Positions::new(bytes)
}

/// Iterator returned by [`newlines`].
pub type Newlines<'a> = Positions<'a, Newline>;

/// Every `q` or `Q` of `bytes`, in order.
pub(crate) fn qs(bytes: &[u8]) -> Positions<'_, LetterQ> {
    Positions::new(bytes)
}

const BLOCK: usize = 64;

/// A set of bytes [`Positions`] finds.
pub trait ByteSet {
    /// Whether `b` is in the set.
    fn has(b: u8) -> bool;
    /// A bit per byte of `block`, set where the byte is in the set.
    fn mask(block: &[u8; BLOCK]) -> u64;
}

/// `\n`.
#[derive(Debug, Clone)]
pub struct Newline;

impl ByteSet for Newline {
    fn has(b: u8) -> bool {
        b == b'\n'
    }

    #[inline]
    fn mask(block: &[u8; BLOCK]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 processor has it.
            unsafe { sse2::mask(block, b'\n', 0) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            plain_mask::<Self>(block)
        }
    }
}

/// `q` in either case.
#[derive(Debug, Clone)]
pub struct LetterQ;

impl ByteSet for LetterQ {
    fn has(b: u8) -> bool {
        b | 0x20 == b'q'
    }

    #[inline]
    fn mask(block: &[u8; BLOCK]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: as in `Newline::mask`.
            unsafe { sse2::mask(block, b'q', 0x20) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            plain_mask::<Self>(block)
        }
    }
}

/// Where the bytes of a [`ByteSet`] are in a slice, in order: a bit per byte of a 64-byte block
/// says where they are, so the next one is a `trailing_zeros` away. A memchr search per line
/// costs a call and a vector set-up each time, which on 40-byte lines was most of the work;
/// and `q`, common in calendars (`SEQUENCE`, `REQUEST`, `FREQ`), restarted a memchr search
/// ten thousand times in the shared corpus.
#[derive(Debug, Clone)]
pub struct Positions<'a, S> {
    bytes: &'a [u8],
    /// Where the block `bits` describes starts.
    base: usize,
    /// The bytes of that block not yet returned.
    bits: u64,
    /// Where the next block starts.
    next: usize,
    set: std::marker::PhantomData<S>,
}

impl<'a, S: ByteSet> Positions<'a, S> {
    fn new(bytes: &'a [u8]) -> Positions<'a, S> {
        Positions {
            bytes,
            base: 0,
            bits: 0,
            next: 0,
            set: std::marker::PhantomData,
        }
    }

    /// The mask of the last, short block; `None` past the end.
    #[cold]
    fn tail_mask(&self) -> Option<u64> {
        let tail = self.bytes.get(self.base..).filter(|t| !t.is_empty())?;
        Some(plain_mask::<S>(tail))
    }
}

impl<S: ByteSet> Iterator for Positions<'_, S> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.base = self.next;
            match self.bytes.get(self.base..self.base + BLOCK) {
                Some(b) => self.bits = S::mask(b.try_into().expect("a full block")),
                None => self.bits = self.tail_mask()?,
            }
            self.next = self.base + BLOCK;
        }
        let at = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }
}

/// [`ByteSet::mask`] of up to 64 bytes, one at a time: the last block of a slice, and the
/// reference the vector version is tested against.
fn plain_mask<S: ByteSet>(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() <= BLOCK);
    bytes
        .iter()
        .rev()
        .fold(0, |bits, &b| bits << 1 | u64::from(S::has(b)))
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
    };

    /// A bit per byte of `block` that equals `byte` once or-ed with `fold` (`0x20` folds ASCII
    /// letters to lower case). 16 bytes a compare; each vector is built from two `u64` reads,
    /// so no pointer is read unchecked.
    #[target_feature(enable = "sse2")]
    pub(super) fn mask(block: &[u8; super::BLOCK], byte: u8, fold: u8) -> u64 {
        let (want, fold) = (_mm_set1_epi8(byte as i8), _mm_set1_epi8(fold as i8));
        let mut bits = 0;
        for (k, part) in block.chunks_exact(16).enumerate() {
            let word =
                |at: usize| i64::from_le_bytes(part[at..at + 8].try_into().expect("8 bytes of 16"));
            let v = _mm_or_si128(_mm_set_epi64x(word(8), word(0)), fold);
            let found = _mm_movemask_epi8(_mm_cmpeq_epi8(v, want)) as u16;
            bits |= u64::from(found) << (16 * k);
        }
        bits
    }
}

/// Removes every fold (a line ending followed by one SPACE or TAB) from a line's content, at the
/// byte level: a fold may split a token or a UTF-8 sequence, and unfolding joins them again.
pub fn unfold(content: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\n', content).is_none() {
        return Cow::Borrowed(content);
    }
    let mut out = Vec::with_capacity(content.len());
    let mut rest = content;
    while let Some(i) = memchr::memchr(b'\n', rest) {
        let before = &rest[..i];
        out.extend_from_slice(before.strip_suffix(b"\r").unwrap_or(before));
        // The byte after `\n` inside a line's content is always the fold's SPACE or TAB.
        rest = rest.get(i + 2..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// [`unfold`] of `content`, a part of `line`'s content: a line that is not folded has nothing
/// to join, and needs no search for a line feed.
#[inline]
pub fn unfold_line<'a>(line: &RawLine, content: &'a [u8]) -> Cow<'a, [u8]> {
    if line.folded {
        unfold(content)
    } else {
        Cow::Borrowed(content)
    }
}

/// Writes `line` (one unfolded logical line, no line ending) folded so that no physical line
/// exceeds [`MAX_LINE`] octets, each continuation starting with one SPACE, then `eol`.
///
/// A fold never falls inside a UTF-8 sequence, nor between a `\` and the character it escapes,
/// so every physical line of a UTF-8 value is itself valid UTF-8 and readers that unfold after
/// decoding still see the same text.
pub fn fold(line: &[u8], eol: &[u8], out: &mut Vec<u8>) {
    let mut rest = line;
    let mut room = MAX_LINE;
    loop {
        if rest.len() <= room {
            out.extend_from_slice(rest);
            out.extend_from_slice(eol);
            return;
        }
        let mut cut = room;
        // Back off to a character boundary: never before a UTF-8 continuation byte.
        while cut > 0 && is_continuation(rest[cut]) {
            cut -= 1;
        }
        // Never split an escape: if the cut leaves an odd run of `\` at the end, keep the last
        // one with what it escapes.
        let backslashes = rest[..cut]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 1 {
            cut -= 1;
        }
        if cut == 0 {
            // Only reachable with a malformed byte run longer than a line: cut where we must.
            cut = room;
        }
        out.extend_from_slice(&rest[..cut]);
        out.extend_from_slice(eol);
        out.push(b' ');
        rest = &rest[cut..];
        room = MAX_LINE - 1;
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Escapes `value` for an RFC 5545 TEXT value: `\` `;` `,` and line breaks.
pub fn escape_text(value: &str, out: &mut String) {
    // URLs and most names need nothing: one branch-free pass decides that.
    let special = |b: u8| matches!(b, b'\\' | b';' | b',' | b'\n' | b'\r');
    if !value.bytes().fold(false, |any, b| any | special(b)) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
}

/// The parts of an unfolded content line: `name *(";" param) ":" value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The property name as written (compare case-insensitively).
    pub name: &'a [u8],
    /// The parameters, without their leading `;`.
    pub params: &'a [u8],
    /// Where the value starts in the line.
    pub value_at: usize,
}

impl<'a> Parts<'a> {
    /// Splits an unfolded content line. `None` when it has no name or no `:` outside quotes.
    pub fn split(line: &'a [u8]) -> Option<Parts<'a>> {
        let name_end = line.iter().position(|&b| b == b';' || b == b':')?;
        let name = &line[..name_end];
        if name.is_empty()
            || !name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let mut quoted = false;
        let mut i = name_end;
        while i < line.len() {
            match line[i] {
                b'"' => quoted = !quoted,
                b':' if !quoted => {
                    let params = if name_end < i {
                        &line[name_end + 1..i]
                    } else {
                        &line[..0]
                    };
                    return Some(Parts {
                        name,
                        params,
                        value_at: i + 1,
                    });
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    /// Whether the property is `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// One property parameter (RFC 5545 3.2): its name and its values, quotes removed, RFC 6868
/// escapes still in (see [`decode_param`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name as written (compare case-insensitively).
    pub name: &'a [u8],
    /// Its values: `a,b` and `"a","b"` are two; `"a,b"` is one.
    pub values: Vec<&'a [u8]>,
}

/// Why a parameter list does not read as RFC 5545 parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A parameter without `=` or without a name.
    #[error("a parameter without a name or `=` at byte {at}")]
    NoName {
        /// Byte offset in the parameter list.
        at: usize,
    },
    /// A `"` opens a value that never closes.
    #[error("a quoted parameter value is never closed (byte {at})")]
    Unclosed {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A `"` inside an unquoted value, or text after a closing `"`.
    #[error("a stray `\"` in a parameter value at byte {at}")]
    StrayQuote {
        /// Byte offset of the quote (or of what follows the closing one).
        at: usize,
    },
}

/// Reads a parameter list (the text between the name's `;` and the value's `:`, as
/// [`Parts::params`] holds it): `name=value[,value]` separated by `;`, a value quoted when it
/// holds `;`, `:` or `,`.
pub fn params(list: &[u8]) -> Result<Vec<Param<'_>>, ParamError> {
    let mut out = Vec::new();
    if list.is_empty() {
        return Ok(out);
    }
    let mut i = 0;
    loop {
        let start = i;
        let eq = list[i..]
            .iter()
            .position(|&b| matches!(b, b'=' | b';' | b'"' | b','))
            .map(|p| i + p)
            .filter(|&p| list[p] == b'=' && p > start)
            .ok_or(ParamError::NoName { at: start })?;
        let mut param = Param {
            name: &list[start..eq],
            values: Vec::new(),
        };
        i = eq + 1;
        loop {
            if list.get(i) == Some(&b'"') {
                let close = memchr::memchr(b'"', &list[i + 1..])
                    .map(|p| i + 1 + p)
                    .ok_or(ParamError::Unclosed { at: i })?;
                param.values.push(&list[i + 1..close]);
                i = close + 1;
                if !matches!(list.get(i), None | Some(b';' | b',')) {
                    return Err(ParamError::StrayQuote { at: i });
                }
            } else {
                let end = list[i..]
                    .iter()
                    .position(|&b| matches!(b, b';' | b',' | b'"'))
                    .map_or(list.len(), |p| i + p);
                if list.get(end) == Some(&b'"') {
                    return Err(ParamError::StrayQuote { at: end });
                }
                param.values.push(&list[i..end]);
                i = end;
            }
            if list.get(i) == Some(&b',') {
                i += 1;
                continue;
            }
            break;
        }
        out.push(param);
        match list.get(i) {
            None => return Ok(out),
            // `;` then the next parameter.
            Some(_) => i += 1,
        }
    }
}

/// Decodes RFC 6868 escapes in a parameter value: `^n` a line feed, `^^` a `^`, `^'` a `"`;
/// any other `^` (`^N` too) stays as it is. Bytes that are not UTF-8 become U+FFFD.
pub fn decode_param(value: &[u8]) -> Cow<'_, str> {
    let text = String::from_utf8_lossy(value);
    if !text.contains('^') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            match chars.peek() {
                Some('n') => {
                    out.push('\n');
                    chars.next();
                    continue;
                }
                Some('^') => {
                    out.push('^');
                    chars.next();
                    continue;
                }
                Some('\'') => {
                    out.push('"');
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn physical_lines(folded: &[u8]) -> Vec<&[u8]> {
        folded
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect()
    }

    #[test]
    fn lines_cover_the_file_and_keep_folds_and_endings() {
        let file =
            b"\xEF\xBB\xBFBEGIN:VCALENDAR\r\nDESCRIPTION:a\r\n  b\r\n\tc\nX:1\rY\nEND:VCALENDAR";
        let got: Vec<_> = lines(file).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[1].content(file), b"DESCRIPTION:a\r\n  b\r\n\tc");
        assert!(got[1].folded);
        assert_eq!(
            (got[1].eol, got[2].eol, got[3].eol),
            (&b"\n"[..], &b"\n"[..], &b""[..])
        );
        assert_eq!(got[2].content(file), b"X:1\rY");
        assert_eq!(got[3].line_no, 6);
        let joined: Vec<u8> = got
            .iter()
            .flat_map(|l| file[l.range.clone()].to_vec())
            .collect();
        assert_eq!(joined, file);
    }

    proptest::proptest! {
        /// The block-at-a-time search finds what a plain loop finds, at every length and
        /// alignment (bytes drawn mostly from the ones searched for).
        #[test]
        fn positions_match_a_plain_loop(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'q'),
                    proptest::strategy::Just(b'Q'),
                    proptest::strategy::Just(b'\r'),
                    proptest::num::u8::ANY,
                ],
                0..300,
            ),
            skip in 0usize..64,
        ) {
            let bytes = &bytes[skip.min(bytes.len())..];
            let plain = |f: fn(u8) -> bool| -> Vec<usize> {
                (0..bytes.len()).filter(|&i| f(bytes[i])).collect()
            };
            proptest::prop_assert_eq!(newlines(bytes).collect::<Vec<_>>(), plain(|b| b == b'\n'));
            proptest::prop_assert_eq!(
                qs(bytes).collect::<Vec<_>>(),
                plain(|b| b == b'q' || b == b'Q')
            );
            for block in bytes.chunks_exact(BLOCK) {
                let block: &[u8; BLOCK] = block.try_into().unwrap();
                proptest::prop_assert_eq!(Newline::mask(block), plain_mask::<Newline>(block));
                proptest::prop_assert_eq!(LetterQ::mask(block), plain_mask::<LetterQ>(block));
            }
        }
    }

    #[test]
    fn positions_cover_the_last_byte_of_every_block() {
        for len in [0, 1, 63, 64, 65, 127, 128, 129] {
            let bytes = vec![b'\n'; len];
            assert_eq!(newlines(&bytes).count(), len);
            let q = vec![b'Q'; len];
            assert_eq!(qs(&q).count(), len);
            assert_eq!(newlines(&q).count(), 0);
        }
        // `q` folded to lower case is `q`; no other byte is (0x51 | 0x20 == 0x71 only).
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            qs(&all).collect::<Vec<_>>(),
            [usize::from(b'Q'), usize::from(b'q')]
        );
    }

    #[test]
    fn unfold_joins_split_utf8_and_tokens() {
        let raw = b"DESCRIPTION:caf\xC3\r\n \xA9 $Interview.Code\n\tSignal.Live.Link";
        assert_eq!(
            &*unfold(raw),
            "DESCRIPTION:café $Interview.CodeSignal.Live.Link".as_bytes()
        );
    }

    #[test]
    fn fold_keeps_lines_short_and_sequences_whole() {
        let value = format!("DESCRIPTION:{}", "é\\,a".repeat(40));
        let mut out = Vec::new();
        fold(value.as_bytes(), b"\r\n", &mut out);
        let lines = physical_lines(out.strip_suffix(b"\r\n").unwrap());
        assert!(lines.len() > 2);
        for (i, line) in lines.iter().enumerate() {
            assert!(line.len() <= MAX_LINE, "line {i} has {} octets", line.len());
            assert!(
                std::str::from_utf8(line).is_ok(),
                "line {i} splits a character"
            );
            assert!(i == 0 || line[0] == b' ');
            let trailing = line.iter().rev().take_while(|&&b| b == b'\\').count();
            assert_eq!(trailing % 2, 0, "line {i} splits an escape");
        }
        assert_eq!(
            &*unfold(out.strip_suffix(b"\r\n").unwrap()),
            value.as_bytes()
        );
    }

    #[test]
    fn short_lines_are_not_folded() {
        let mut out = Vec::new();
        fold(b"SUMMARY:hi", b"\n", &mut out);
        assert_eq!(out, b"SUMMARY:hi\n");
        let exact = vec![b'x'; MAX_LINE];
        out.clear();
        fold(&exact, b"\n", &mut out);
        assert_eq!(out.len(), MAX_LINE + 1);
    }

    #[test]
    fn parts_split_at_the_first_unquoted_colon() {
        let p = Parts::split(b"ATTENDEE;CN=\"Doe: J\";ROLE=CHAIR:mailto:j@x").unwrap();
        assert_eq!(p.name, b"ATTENDEE");
        assert_eq!(p.params, b"CN=\"Doe: J\";ROLE=CHAIR");
        assert_eq!(
            &b"ATTENDEE;CN=\"Doe: J\";ROLE=CHAIR:mailto:j@x"[p.value_at..],
            b"mailto:j@x"
        );
        assert!(Parts::split(b"no colon here").is_none());
        assert!(Parts::split(b":value").is_none());
        assert!(Parts::split(b"SUMMARY:").unwrap().is("summary"));
    }

    #[test]
    fn text_escaping() {
        let mut out = String::new();
        escape_text("a\\b;c,d\r\ne", &mut out);
        assert_eq!(out, "a\\\\b\\;c\\,d\\ne");
    }

    #[test]
    fn params_are_read_per_rfc_5545_quotes_and_all() {
        let got = params(b"ROLE=REQ-PARTICIPANT;CN=\"a;b:c,d\";X-A=1,\"2,3\",4;X-E=").unwrap();
        let names: Vec<&[u8]> = got.iter().map(|p| p.name).collect();
        assert_eq!(names, [&b"ROLE"[..], b"CN", b"X-A", b"X-E"]);
        assert_eq!(got[1].values, [&b"a;b:c,d"[..]]);
        assert_eq!(got[2].values, [&b"1"[..], b"2,3", b"4"]);
        assert_eq!(got[3].values, [&b""[..]]);
        assert_eq!(params(b"").unwrap(), []);
        assert_eq!(params(b"CN").unwrap_err(), ParamError::NoName { at: 0 });
        assert_eq!(params(b"=x").unwrap_err(), ParamError::NoName { at: 0 });
        assert_eq!(
            params(b"CN=x;\"a\"=1").unwrap_err(),
            ParamError::NoName { at: 5 }
        );
        assert_eq!(
            params(b"CN=\"open").unwrap_err(),
            ParamError::Unclosed { at: 3 }
        );
        assert_eq!(
            params(b"CN=\"a\"b").unwrap_err(),
            ParamError::StrayQuote { at: 6 }
        );
        assert_eq!(
            params(b"CN=a\"b\"").unwrap_err(),
            ParamError::StrayQuote { at: 4 }
        );
    }

    #[test]
    fn rfc_6868_escapes_are_decoded() {
        assert_eq!(decode_param(b"a^nb^^c^'d^'^x^"), "a\nb^c\"d\"^x^");
        assert_eq!(decode_param(b"^^n"), "^n");
        assert!(matches!(decode_param(b"plain"), Cow::Borrowed("plain")));
    }
}
