//! The tokens invitoken knows, and how a token shape that is not one of them is classified.
//!
//! The normative list lives in `grammar/tokens.abnf`; `tests/grammar.rs` keeps the two in step.

use std::fmt;

/// Which link a link token asks for: one per interview, or one per event (panel session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `$Interview.…Link`: one URL for the whole interview, the same in every invite.
    Interview,
    /// `$Event.…Link`: one URL per event (interviewer session).
    Event,
}

/// What kind of CodeSignal session a link launches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// A plain live interview.
    Live,
    /// A live interview launched with one of the account's interview templates (locked).
    Template,
}

/// A known token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Token {
    /// `$Interview.CodeSignal.Live.Link`
    InterviewLiveLink,
    /// `$Event.CodeSignal.Live.Link`
    EventLiveLink,
    /// `$Interview.CodeSignal.Template.Link`
    InterviewTemplateLink,
    /// `$Event.CodeSignal.Template.Link`
    EventTemplateLink,
    /// `$Candidate.Name`
    CandidateName,
    /// `$Candidate.FirstName`
    CandidateFirstName,
    /// `$Event.Topic`
    EventTopic,
    /// `$Event.Start`
    EventStart,
    /// `$Event.End`
    EventEnd,
    /// `$Interview.Start`
    InterviewStart,
}

impl Token {
    /// Every known token, link tokens first.
    pub const ALL: [Token; 10] = [
        Token::InterviewLiveLink,
        Token::EventLiveLink,
        Token::InterviewTemplateLink,
        Token::EventTemplateLink,
        Token::CandidateName,
        Token::CandidateFirstName,
        Token::EventTopic,
        Token::EventStart,
        Token::EventEnd,
        Token::InterviewStart,
    ];

    /// The token's position in [`Token::ALL`], for tables of per-token values.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The token as written in a template, with its `$`.
    pub const fn name(self) -> &'static str {
        match self {
            Token::InterviewLiveLink => "$Interview.CodeSignal.Live.Link",
            Token::EventLiveLink => "$Event.CodeSignal.Live.Link",
            Token::InterviewTemplateLink => "$Interview.CodeSignal.Template.Link",
            Token::EventTemplateLink => "$Event.CodeSignal.Template.Link",
            Token::CandidateName => "$Candidate.Name",
            Token::CandidateFirstName => "$Candidate.FirstName",
            Token::EventTopic => "$Event.Topic",
            Token::EventStart => "$Event.Start",
            Token::EventEnd => "$Event.End",
            Token::InterviewStart => "$Interview.Start",
        }
    }

    /// The length of [`name`](Token::name) in bytes, from a table: `name().len()` compiles to a
    /// jump over the names, a branch the lexer mispredicts at nearly every token of dense text.
    #[inline(always)]
    pub(crate) const fn name_len(self) -> usize {
        NAME_LEN[self.index()] as usize
    }

    /// Looks a token shape up (with its `$`), exactly: case matters.
    pub fn from_shape(shape: &[u8]) -> Option<Token> {
        Token::candidate(shape).filter(|t| t.name().as_bytes() == shape)
    }

    /// The known token written at the start of `src` (from its `$`), if one is; what follows it
    /// is not looked at, so the caller decides whether the shape goes on past the name.
    #[inline(always)]
    pub(crate) fn prefix_of(src: &[u8]) -> Option<Token> {
        let Some(head) = src.first_chunk::<PADDED>() else {
            return Token::candidate(src).filter(|t| src.starts_with(t.name().as_bytes()));
        };
        // The same look-up as `candidate`, without bounds checks, then five masked word
        // compares: no call and no branch on the name's length.
        let token = Token::from_key(key(|i| head[i]))?;
        let (words, masks) = (&PACKED.words[token.index()], &PACKED.masks[token.index()]);
        let mut diff = 0;
        for (i, chunk) in head.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            diff |= (word ^ words[i]) & masks[i];
        }
        (diff == 0).then_some(token)
    }

    /// The only token whose name can start `s` (see [`key`]); the caller compares the name.
    fn candidate(s: &[u8]) -> Option<Token> {
        Token::from_key(key(|i| s.get(i).copied().unwrap_or(0)))
    }

    /// The token [`BY_KEY`] gives for `key`, if any.
    #[inline(always)]
    fn from_key(key: usize) -> Option<Token> {
        // A `match` rather than `Token::ALL[i]`, so it compiles to a range check, not a load.
        Some(match BY_KEY[key] {
            1 => Token::InterviewLiveLink,
            2 => Token::EventLiveLink,
            3 => Token::InterviewTemplateLink,
            4 => Token::EventTemplateLink,
            5 => Token::CandidateName,
            6 => Token::CandidateFirstName,
            7 => Token::EventTopic,
            8 => Token::EventStart,
            9 => Token::EventEnd,
            10 => Token::InterviewStart,
            _ => return None,
        })
    }

    /// The link this token stands for, if it is a link token.
    pub const fn link(self) -> Option<(Scope, Product)> {
        match self {
            Token::InterviewLiveLink => Some((Scope::Interview, Product::Live)),
            Token::EventLiveLink => Some((Scope::Event, Product::Live)),
            Token::InterviewTemplateLink => Some((Scope::Interview, Product::Template)),
            Token::EventTemplateLink => Some((Scope::Event, Product::Template)),
            _ => None,
        }
    }

    /// Whether the token's value depends on one event (`$Event.…`).
    pub const fn is_event(self) -> bool {
        matches!(
            self,
            Token::EventLiveLink
                | Token::EventTemplateLink
                | Token::EventTopic
                | Token::EventStart
                | Token::EventEnd
        )
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The length of every name, in [`Token::ALL`] order.
const NAME_LEN: [u8; Token::ALL.len()] = {
    let mut len = [0; Token::ALL.len()];
    let mut t = 0;
    while t < Token::ALL.len() {
        len[t] = Token::ALL[t].name().len() as u8;
        t += 1;
    }
    len
};

/// Names are compared as this many bytes (five words), masked to the name's length.
const PADDED: usize = 40;

/// Every name as five little-endian words, zero-padded, with masks of the bytes that count.
struct Packed {
    words: [[u64; PADDED / 8]; Token::ALL.len()],
    masks: [[u64; PADDED / 8]; Token::ALL.len()],
}

const PACKED: Packed = {
    let mut packed = Packed {
        words: [[0; PADDED / 8]; Token::ALL.len()],
        masks: [[0; PADDED / 8]; Token::ALL.len()],
    };
    let mut t = 0;
    while t < Token::ALL.len() {
        let name = Token::ALL[t].name().as_bytes();
        assert!(name.len() <= PADDED);
        let mut i = 0;
        while i < name.len() {
            packed.words[t][i / 8] |= (name[i] as u64) << (8 * (i % 8));
            packed.masks[t][i / 8] |= 0xff << (8 * (i % 8));
            i += 1;
        }
        t += 1;
    }
    packed
};

/// The bytes of a name that tell the names apart, and how [`key`] reads each: byte 7 (its low
/// six bits, which differ for `a`, `i` of `$Candidate`, `$Interview` and the `C`, `T`, `S`, `E`
/// after `$Event.`), then one bit each: byte 11 is `C` or `F` (`$Interview.CodeSignal` or
/// `$Candidate.FirstName`), byte 18 is `T` (`$Event.CodeSignal.Template`), byte 22 is `T`
/// (`$Interview.CodeSignal.Template`).
const KEY_BYTES: [usize; 4] = [7, 11, 18, 22];

/// The key from the [`KEY_BYTES`] of some text.
#[inline(always)]
const fn key_of(b7: u8, b11: u8, b18: u8, b22: u8) -> usize {
    ((b7 & 63) as usize) << 3
        | ((b11 == b'C' || b11 == b'F') as usize) << 2
        | ((b18 == b'T') as usize) << 1
        | (b22 == b'T') as usize
}

/// The key of text whose byte `i` is `byte(i)`. Every byte is read at once, with no branch
/// between them, so the look-up waits for one load of text and one of [`BY_KEY`].
#[inline(always)]
fn key(byte: impl Fn(usize) -> u8) -> usize {
    let [a, b, c, d] = KEY_BYTES;
    key_of(byte(a), byte(b), byte(c), byte(d))
}

const fn byte_or_0(name: &[u8], i: usize) -> u8 {
    if i < name.len() { name[i] } else { 0 }
}

/// 1 + the index of the only token whose name can give each key; 0 where none can. A name
/// shorter than a key byte gives its key with either value of that bit. Built at compile time,
/// which fails if two names could give one key.
const BY_KEY: [u8; 512] = {
    let mut by_key = [0u8; 512];
    let mut t = 0;
    while t < Token::ALL.len() {
        let name = Token::ALL[t].name().as_bytes();
        let exact = key_of(
            byte_or_0(name, KEY_BYTES[0]),
            byte_or_0(name, KEY_BYTES[1]),
            byte_or_0(name, KEY_BYTES[2]),
            byte_or_0(name, KEY_BYTES[3]),
        );
        assert!(KEY_BYTES[0] < name.len());
        // Bits 2, 1, 0 come from bytes 11, 18, 22: free when the name is shorter.
        let mut free = 0;
        let mut bit = 0;
        while bit < 3 {
            if KEY_BYTES[3 - bit] >= name.len() {
                free |= 1 << bit;
            }
            bit += 1;
        }
        let mut k = 0;
        while k < 512 {
            if k & !free == exact & !free {
                assert!(by_key[k] == 0, "two names give one key");
                by_key[k] = t as u8 + 1;
            }
            k += 1;
        }
        t += 1;
    }
    by_key
};

/// Token families of scheduling products whose other vendors we recognise but do not resolve.
const FAMILIES: [&str; 3] = ["Interview", "Event", "Roundup"];

/// Why a token shape is not a known token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unknown {
    /// A link token of another vendor (`$Interview.Zoom.Link`): recognised, not supported.
    Unsupported {
        /// The vendor as written (`Zoom`, `CoderPad`, `GoogleMeet`).
        vendor: String,
    },
    /// A known token in the wrong case (`$event.codesignal.live.link`).
    WrongCase {
        /// The token it matches case-insensitively.
        token: Token,
    },
    /// Text that looks like a known token but is not it: a character only looks like the ASCII
    /// one (`$Іnterview…` with a Cyrillic `І`, a fullwidth `＄`), an invisible one is inside it,
    /// or another template language's braces wrap it (`${Event.CodeSignal.Live.Link}`).
    LookAlike {
        /// The token it imitates.
        token: Token,
    },
    /// Anything else; `suggestion` is the closest known token when one is close enough.
    Misspelt {
        /// The closest known token by edit distance, if any is plausibly meant.
        suggestion: Option<Token>,
    },
}

impl Unknown {
    /// Classifies a token shape (with its `$`) that `Token::from_shape` did not know.
    pub fn classify(shape: &str) -> Unknown {
        if let Some(token) = Token::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(shape))
        {
            return Unknown::WrongCase { token };
        }
        let (best, distance) = Token::ALL
            .into_iter()
            .map(|t| (t, strsim::levenshtein(t.name(), shape)))
            .min_by_key(|&(_, d)| d)
            .expect("Token::ALL is not empty");
        if let Some(vendor) = other_vendor(shape) {
            return Unknown::Unsupported { vendor };
        }
        // A quarter of the longer name, at least 2 edits: `Lnk`, `Linkage`, `Codesignal` and a
        // missing segment are caught; `$Price.Total` is not dressed up as a CodeSignal token.
        let limit = (shape.len().max(best.name().len()) / 4).max(2);
        Unknown::Misspelt {
            suggestion: (distance <= limit).then_some(best),
        }
    }
}

/// `Some(vendor)` when the shape is a link token of the same family for a vendor other than
/// CodeSignal: `$Interview.Zoom.Link`, `$Event.CoderPad.Link`, `$Interview.GoogleMeetLink`.
fn other_vendor(shape: &str) -> Option<String> {
    let mut segments = shape.trim_start_matches('$').split('.');
    let family = segments.next()?;
    if !FAMILIES.contains(&family) {
        return None;
    }
    let rest: Vec<&str> = segments.collect();
    if !rest.iter().any(|s| s.ends_with("Link")) {
        return None;
    }
    let vendor = rest[0].strip_suffix("Link").unwrap_or(rest[0]);
    // `CodeSignal` misspelt is a typo of ours, not another vendor.
    let ours = vendor.eq_ignore_ascii_case("CodeSignal")
        || strsim::levenshtein(&vendor.to_ascii_lowercase(), "codesignal") <= 2;
    (!ours && !vendor.is_empty()).then(|| vendor.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for (i, t) in Token::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(t.name_len(), t.name().len());
            assert_eq!(Token::from_shape(t.name().as_bytes()), Some(t));
        }
    }

    #[test]
    fn classifies_near_misses() {
        let misspelt = |s| match Unknown::classify(s) {
            Unknown::Misspelt { suggestion } => suggestion,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            misspelt("$Interview.CodeSignal.Live.Lnk"),
            Some(Token::InterviewLiveLink)
        );
        assert_eq!(
            misspelt("$Interview.CodeSignal.Live.Linkage"),
            Some(Token::InterviewLiveLink)
        );
        assert_eq!(
            misspelt("$Event.CodeSignl.Live.Link"),
            Some(Token::EventLiveLink)
        );
        assert_eq!(misspelt("$Price.Total"), None);
        assert_eq!(
            Unknown::classify("$event.codesignal.live.link"),
            Unknown::WrongCase {
                token: Token::EventLiveLink
            }
        );
    }

    #[test]
    fn other_vendors_are_unsupported_not_misspelt() {
        for (shape, vendor) in [
            ("$Interview.Zoom.Link", "Zoom"),
            ("$Event.CoderPad.Link", "CoderPad"),
            ("$Roundup.Zoom.Link", "Zoom"),
            ("$Interview.Codility.Live.Link", "Codility"),
            ("$Interview.GoogleMeetLink", "GoogleMeet"),
            ("$Interview.Google.MeetLink", "Google"),
        ] {
            assert_eq!(
                Unknown::classify(shape),
                Unknown::Unsupported {
                    vendor: vendor.into()
                },
                "{shape}"
            );
        }
    }

    #[test]
    fn look_ups_need_the_whole_name() {
        for t in Token::ALL {
            let name = t.name();
            for n in 0..name.len() {
                assert_eq!(
                    Token::from_shape(&name.as_bytes()[..n]),
                    None,
                    "{name} to {n}"
                );
                assert_eq!(
                    Token::prefix_of(&name.as_bytes()[..n]),
                    None,
                    "{name} to {n}"
                );
            }
            let longer = format!("{name}x");
            assert_eq!(Token::from_shape(longer.as_bytes()), None);
            assert_eq!(Token::prefix_of(longer.as_bytes()), Some(t));
            assert_eq!(
                Token::from_shape(name.to_ascii_lowercase().as_bytes()),
                None
            );
            assert_eq!(Token::prefix_of(name.to_ascii_uppercase().as_bytes()), None);
        }
        assert_eq!(Token::from_shape(b"$Event.Stop"), None);
        assert_eq!(Token::from_shape(b"$Interview.CodeSignal.Link.Live"), None);
    }

    #[test]
    fn prefix_of_compares_every_byte_of_the_name_on_short_and_long_input() {
        for t in Token::ALL {
            let name = t.name();
            for tail in ["", ".", " and then some more text, well past forty bytes"] {
                let s = format!("{name}{tail}");
                assert_eq!(Token::prefix_of(s.as_bytes()), Some(t), "{s:?}");
                for i in 0..name.len() {
                    for other in [b'x', b'.', b'\0', name.as_bytes()[i] ^ 0x20] {
                        let mut changed = s.clone().into_bytes();
                        if changed[i] == other {
                            continue;
                        }
                        changed[i] = other;
                        assert_eq!(Token::prefix_of(&changed), None, "{changed:?}");
                        assert_eq!(Token::from_shape(&changed[..name.len()]), None);
                    }
                }
            }
        }
    }
}
