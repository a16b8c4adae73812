//! Lexing a plain-text template that is read piece by piece, in memory that does not grow with
//! it: `check` of a large file or of standard input.
//!
//! Each piece is checked to be UTF-8 and lexed up to the last place whose outcome the bytes
//! after it could change (see [`Resumable::lex`]); the rest, an unfinished token and the bytes
//! a finding's report shows before its start, is kept for the next piece. Lines and columns
//! are counted as the bytes are let go. A finding keeps only the part of its line its report
//! shows ([`window_start`], [`window_end`]), so it renders as it would in the whole source.

use std::collections::VecDeque;
use std::io::Read;
use std::ops::Range;

use super::diagnostic::{WINDOW_BEFORE, window_end, window_start};
use super::lexer::{Resumable, Sink};
use super::{Finding, Token};

/// Findings kept with their reports; past that (or [`MAX_KEPT_BYTES`]) they are only counted.
pub const MAX_KEPT: usize = 10_000;
/// Bytes of kept findings (their windows and messages) past which they are only counted.
pub const MAX_KEPT_BYTES: usize = 16 << 20;
/// Bytes of one unfinished token shape held at most (a `$` and a run of identifier characters
/// and dots longer than this is refused, not held whole): far past any token.
pub const MAX_SHAPE: usize = 1 << 20;

/// A finding of a streamed template, with the part of its line its report shows.
#[derive(Debug, Clone)]
pub struct PlacedFinding {
    /// The finding; its span counts from the start of `window`.
    pub finding: Finding,
    /// 1-based line and column (in characters) of its start in the template.
    pub line_col: (usize, usize),
    /// The text around it that its report shows.
    pub window: String,
}

/// Why a streamed template could not be lexed to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// A byte that is not UTF-8 (or a character cut short by the end), at a 1-based line and
    /// column, and its offset.
    NotUtf8 {
        /// Line and column.
        line_col: (usize, usize),
        /// Byte offset.
        byte: usize,
    },
    /// A token shape (a `$` and identifier characters and dots) that goes on for more than the
    /// bytes a streamed check holds, at a line and column and offset.
    TooLong {
        /// Line and column of its `$`.
        line_col: (usize, usize),
        /// Byte offset of its `$`.
        byte: usize,
        /// The bytes held at most.
        limit: usize,
    },
}

/// What lexing a streamed template found.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// Known tokens.
    pub tokens: usize,
    /// Findings, in source order, at most [`MAX_KEPT`].
    pub findings: Vec<PlacedFinding>,
    /// Findings past those kept.
    pub more: usize,
    /// Why the template could not be lexed to its end, if it could not.
    pub failed: Option<StreamError>,
}

/// Line and column at an offset, moved forward over the bytes between.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    at: usize,
    line: usize,
    line_start: usize,
    col: usize,
}

impl Cursor {
    /// Moves to offset `to`; `bytes` are the source from offset `from` on.
    fn advance(&mut self, bytes: &[u8], from: usize, to: usize) {
        if to <= self.at {
            return;
        }
        let gap = &bytes[self.at - from..to - from];
        let chars = |b: &[u8]| b.iter().filter(|&&b| (b as i8) >= -0x40).count();
        match memchr::memrchr(b'\n', gap) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', gap).count();
                self.line_start = self.at + last + 1;
                self.col = chars(&gap[last + 1..]);
            }
            None => self.col += chars(gap),
        }
        self.at = to;
    }

    fn line_col(&self) -> (usize, usize) {
        (self.line, self.col + 1)
    }
}

/// Tokens and findings the lexer gives for a piece.
struct Collect {
    tokens: usize,
    findings: Vec<Finding>,
}

impl Sink for Collect {
    #[inline(always)]
    fn text(&mut self, _: Range<usize>) {}

    #[inline(always)]
    fn token(&mut self, _: Token, _: Range<usize>) {
        self.tokens += 1;
    }

    fn finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// A finding waiting for the end of the text its report shows.
struct Pending {
    finding: Finding,
    line_col: (usize, usize),
    /// Where its window starts (an offset in the template).
    from: usize,
}

/// A plain-text template lexed as it is read.
pub struct TextStream {
    /// The template from offset `base` on, as far as it has been read.
    buf: Vec<u8>,
    base: usize,
    /// `buf[..whole]` is whole UTF-8 characters (the rest, a character cut by the read).
    whole: usize,
    /// Where lexing goes on in `buf`.
    from: usize,
    lexer: Resumable,
    cursor: Cursor,
    collect: Collect,
    pending: VecDeque<Pending>,
    out: Streamed,
    kept_bytes: usize,
    limit: usize,
    done: bool,
}

impl TextStream {
    /// A stream read `chunk` bytes at a time by [`read`](TextStream::read).
    pub fn new(chunk: usize) -> TextStream {
        TextStream {
            buf: Vec::new(),
            base: 0,
            whole: 0,
            from: 0,
            lexer: Resumable::new(),
            cursor: Cursor {
                at: 0,
                line: 1,
                line_start: 0,
                col: 0,
            },
            collect: Collect {
                tokens: 0,
                findings: Vec::new(),
            },
            pending: VecDeque::new(),
            out: Streamed {
                tokens: 0,
                findings: Vec::new(),
                more: 0,
                failed: None,
            },
            kept_bytes: 0,
            limit: chunk.max(1),
            done: false,
        }
    }

    /// Bytes given so far.
    pub fn given(&self) -> usize {
        self.base + self.buf.len()
    }

    /// Reads the next piece of at most `chunk` bytes (the `chunk` of [`TextStream::new`]) from
    /// `reader` and lexes it; `false` once the reader is at its end (the template is then lexed
    /// to its end: call [`finish`](TextStream::finish)).
    pub fn read(&mut self, reader: &mut impl Read) -> std::io::Result<bool> {
        let want = self.limit;
        self.buf.reserve(want);
        let n = reader
            .by_ref()
            .take(want as u64)
            .read_to_end(&mut self.buf)?;
        let last = n < want;
        self.step(last);
        Ok(!last)
    }

    /// Gives `bytes` (more of the template, after what was given) and lexes what they decide.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.step(false);
    }

    /// Lexes to the end: nothing follows what was given.
    pub fn finish(mut self) -> Streamed {
        if !self.done {
            self.step(true);
        }
        self.out
    }

    fn step(&mut self, last: bool) {
        if self.done {
            return;
        }
        if let Err(e) = std::str::from_utf8(&self.buf[self.whole..]) {
            let bad = self.whole + e.valid_up_to();
            if e.error_len().is_some() || last {
                return self.fail_utf8(bad);
            }
            self.whole = bad;
        } else {
            self.whole = self.buf.len();
        }
        if self.out.failed.is_some() {
            // Too long a shape: the rest is only checked to be UTF-8, as a whole read would
            // have refused it first for that.
            let keep = self.whole;
            self.let_go(keep);
            self.done = last;
            return;
        }
        let src = &self.buf[..self.whole];
        let resume = self.lexer.lex(src, self.from, last, &mut self.collect);
        self.out.tokens += std::mem::take(&mut self.collect.tokens);
        let mut found = std::mem::take(&mut self.collect.findings);
        for finding in found.drain(..) {
            self.place(finding);
        }
        self.collect.findings = found;
        self.finish_pending(last);
        if last {
            self.done = true;
            return;
        }
        let mut keep = floor_byte_boundary(&self.buf, resume.saturating_sub(WINDOW_BEFORE + 4));
        if let Some(p) = self.pending.front() {
            keep = keep.min(p.from - self.base);
        }
        self.from = resume;
        self.let_go(keep);
        if self.whole - self.from > MAX_SHAPE {
            let at = self.base + self.from;
            self.cursor.advance(&self.buf, self.base, at);
            self.out.failed = Some(StreamError::TooLong {
                line_col: self.cursor.line_col(),
                byte: at,
                limit: MAX_SHAPE,
            });
            self.pending.clear();
            let keep = self.whole;
            self.let_go(keep);
        }
    }

    /// Drops `buf[..keep]`, counting its lines.
    fn let_go(&mut self, keep: usize) {
        self.cursor.advance(&self.buf, self.base, self.base + keep);
        self.buf.drain(..keep);
        self.base += keep;
        self.whole -= keep;
        self.from = self.from.saturating_sub(keep);
    }

    fn fail_utf8(&mut self, bad: usize) {
        let at = self.base + bad;
        self.cursor.advance(&self.buf, self.base, at);
        self.out = Streamed {
            tokens: 0,
            findings: Vec::new(),
            more: 0,
            failed: Some(StreamError::NotUtf8 {
                line_col: self.cursor.line_col(),
                byte: at,
            }),
        };
        self.pending.clear();
        self.buf = Vec::new();
        self.done = true;
    }

    /// Notes where `finding` (its span in `buf`) stands.
    fn place(&mut self, mut finding: Finding) {
        let start = self.base + finding.span.start;
        self.cursor.advance(&self.buf, self.base, start);
        let line_start = self.cursor.line_start.checked_sub(self.base);
        let from = self.base + window_start(&self.buf, finding.span.start, line_start);
        finding.span = finding.span.start + self.base..finding.span.end + self.base;
        self.pending.push_back(Pending {
            finding,
            line_col: self.cursor.line_col(),
            from,
        });
    }

    /// Keeps every pending finding whose window is whole now, in order.
    fn finish_pending(&mut self, last: bool) {
        while let Some(p) = self.pending.front() {
            let src = &self.buf[..self.whole];
            let Some(end) = window_end(src, p.finding.span.start - self.base, last) else {
                return;
            };
            let p = self.pending.pop_front().expect("a front");
            let size = end - (p.from - self.base) + p.finding.message().len();
            if self.out.findings.len() >= MAX_KEPT || self.kept_bytes + size > MAX_KEPT_BYTES {
                self.out.more += 1;
                continue;
            }
            self.kept_bytes += size;
            let window = std::str::from_utf8(&src[p.from - self.base..end])
                .expect("whole characters")
                .to_owned();
            let mut finding = p.finding;
            finding.span = finding.span.start - p.from..finding.span.end - p.from;
            self.out.findings.push(PlacedFinding {
                finding,
                line_col: p.line_col,
                window,
            });
        }
    }
}

fn floor_byte_boundary(src: &[u8], mut at: usize) -> usize {
    while src.get(at).is_some_and(|&b| (b as i8) < -0x40) {
        at -= 1;
    }
    at
}
