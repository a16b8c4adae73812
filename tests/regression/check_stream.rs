//! `check` streams a plain-text template in chunks: whatever the chunk edges cut (a token, a
//! look-alike, a multi-byte character, a CRLF, a long line a finding's report shows), it must
//! say what checking the whole text says, byte for byte.

use invitoken::engine::check::{self, CheckedFile};
use invitoken::engine::{InputError, input_text};

/// xorshift64*: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "$Interview.CodeSignal.Live.Link",
    "$Event.CodeSignal.Live.Link",
    "$Candidate.Name",
    "$Event.Start.",
    "$Event.Start.x",
    "$Event.Starts",
    "$Interview.CodeSignal.Live.Lnk",
    "$Interview.Zoom.Link",
    "$event.codesignal.live.link",
    "$Іnterview.CodeSignal.Live.Link",
    "＄Interview.CodeSignal.Live.Link",
    "﹩Event.Start",
    "${Event.CodeSignal.Live.Link}",
    "$Inter\u{200b}view.CodeSignal.Live.Link",
    "$Interview.CodeSignal.Live.L\u{456}nk",
    "$Candidate.Namé",
    "$$Event.Start",
    "$$",
    "$",
    "$100",
    "US$ 5",
    "$A.B",
    ".",
    "..",
    " ",
    "text ",
    "é",
    "😀",
    "Спасибо ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\u{1b}[2J",
    "\u{2028}",
];

/// Text of about `len` bytes from [`PIECES`], now and then a long run (a line longer than a
/// finding's report shows, in ASCII or in multi-byte characters).
fn generated(rng: &mut Rng, len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        match rng.below(30) {
            0 => s.push_str(&"a".repeat(rng.below(1500))),
            1 => s.push_str(&"é".repeat(rng.below(700))),
            2 => s.push_str(&"x.".repeat(rng.below(300))),
            3 => s.push_str(&"😀".repeat(rng.below(400))),
            4 => s.push_str(&"中".repeat(rng.below(400))),
            _ => s.push_str(PIECES[rng.below(PIECES.len())]),
        }
    }
    s
}

fn stream(text: &[u8], chunk: usize) -> CheckedFile {
    check::text_stream("t.txt", &mut &text[..], u64::MAX, chunk, |e| {
        panic!("reading a slice failed: {e:?}")
    })
}

/// Everything `check` shows of a file: its diagnostics rendered plain and coloured, their
/// fields, its notes and token count.
fn shown(file: &CheckedFile) -> String {
    let mut out = format!("{} tokens\n", file.tokens);
    for d in &file.problems {
        out.push_str(&format!(
            "{:?} {:?} {:?} {:?} {:?} {}\n{}\n{}\n",
            d.message,
            d.line,
            d.column,
            d.help,
            d.field,
            d.is_snippet(),
            d.render(false),
            d.render(true)
        ));
    }
    for n in &file.notes {
        out.push_str(&format!("note {n}\n"));
    }
    out
}

#[test]
fn chunk_edges_change_no_finding_line_col_or_snippet() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut findings = 0;
    for round in 0..48 {
        let len = 200 + rng.below(2500);
        let text = generated(&mut rng, len);
        let whole = check::template("t.txt", &text, false);
        findings += whole.problems.len();
        let expected = shown(&whole);
        let chunks: Vec<usize> = if round % 4 == 0 {
            (1..=64).collect()
        } else {
            vec![1, 2, 3, 5, 7, 13, 31, 64, 100, 333, 1024, 4096]
        };
        for chunk in chunks {
            assert_eq!(
                shown(&stream(text.as_bytes(), chunk)),
                expected,
                "chunk {chunk} of {text:?}"
            );
        }
    }
    // The generator must make findings for the comparison to mean anything.
    assert!(findings > 100, "{findings}");
}

#[test]
fn not_utf8_across_a_chunk_edge_is_reported_where_the_whole_read_reports_it() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..24 {
        let len = 100 + rng.below(600);
        let text = generated(&mut rng, len);
        let mut bytes = text.into_bytes();
        // A stray continuation byte, a lead byte with nothing after it, or a cut character.
        let at = rng.below(bytes.len() + 1);
        match rng.below(3) {
            0 => bytes.insert(at, 0x80),
            1 => bytes.insert(at, 0xFF),
            _ => {
                let cut = "😀".as_bytes();
                bytes.truncate(at);
                bytes.extend_from_slice(&cut[..1 + rng.below(3)]);
            }
        }
        let whole = match input_text("t.txt", bytes.clone()) {
            Err(e @ InputError::NotUtf8 { .. }) => e.to_string(),
            other => panic!("{other:?}"),
        };
        for chunk in [1, 2, 3, 4, 5, 8, 64, 4096] {
            let file = stream(&bytes, chunk);
            assert_eq!(file.problems.len(), 1, "chunk {chunk}");
            assert_eq!(file.problems[0].message, whole, "chunk {chunk}");
            assert_eq!(file.tokens, 0);
        }
    }
}

#[test]
fn a_shape_longer_than_the_stream_holds_is_refused_not_held() {
    let mut text = b"ok $Candidate.Name\n$Event.".to_vec();
    text.extend(std::iter::repeat_n(b'a', 3 << 20));
    let file = stream(&text, 1 << 16);
    assert_eq!(file.problems.len(), 1);
    assert_eq!(file.problems[0].line, Some(2));
    assert_eq!(file.problems[0].column, Some(1));
    assert!(
        file.problems[0].message.contains("more than 1048576 bytes"),
        "{}",
        file.problems[0].message
    );
}

#[test]
fn long_lines_around_a_finding_are_cut_as_the_whole_read_cuts_them() {
    let mut texts = Vec::new();
    for before in ["a", "é", "中", "😀"] {
        for n in [0, 1, 159, 160, 161, 320, 640, 641, 1000] {
            for after in ["", "b", "é", "😀"] {
                for m in [0, 1, 160, 161, 260, 261, 400] {
                    let line = format!("{}$A.B{}", before.repeat(n), after.repeat(m));
                    texts.push(format!("x\n{line}\r\nnext $Event.Stop\n"));
                    texts.push(line);
                }
            }
        }
    }
    for text in &texts {
        let expected = shown(&check::template("t.txt", text, false));
        for chunk in [1, 7, 64, 1000] {
            assert_eq!(
                shown(&stream(text.as_bytes(), chunk)),
                expected,
                "chunk {chunk} of {text:?}"
            );
        }
    }
}
