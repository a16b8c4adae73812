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

    /// Looks a token shape up (with its `$`), exactly: case matters.
    pub fn from_shape(shape: &[u8]) -> Option<Token> {
        Some(match shape {
            b"$Interview.CodeSignal.Live.Link" => Token::InterviewLiveLink,
            b"$Event.CodeSignal.Live.Link" => Token::EventLiveLink,
            b"$Interview.CodeSignal.Template.Link" => Token::InterviewTemplateLink,
            b"$Event.CodeSignal.Template.Link" => Token::EventTemplateLink,
            b"$Candidate.Name" => Token::CandidateName,
            b"$Candidate.FirstName" => Token::CandidateFirstName,
            b"$Event.Topic" => Token::EventTopic,
            b"$Event.Start" => Token::EventStart,
            b"$Event.End" => Token::EventEnd,
            b"$Interview.Start" => Token::InterviewStart,
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
}
