//! Look-alike tokens: text a reader takes for a token that the grammar does not, because a
//! character in it only looks like the ASCII one (`$Іnterview…` with a Cyrillic `І`, a fullwidth
//! `＄` or small `﹩`), an invisible one sits inside it (a zero-width space), or it is wrapped in
//! another template language's braces (`${Event.CodeSignal.Live.Link}`). Left alone it would
//! reach recipients raw; it is a finding instead, naming the real token.
//!
//! Characters are compared by their UTS #39 confusable skeleton (`unicode-security`, which also
//! drops default-ignorable characters such as U+200B) after lowercasing, so no hand list of
//! look-alikes is kept here. The lexer asks only where such text can start (a `$` followed by a
//! non-ASCII byte or `{`, a shape that a non-ASCII byte continues, a character that stands for
//! `$`), so text without those costs nothing more.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::skeleton;

use super::Token;

/// The first UTF-8 byte of every non-ASCII character whose skeleton is `$` (U+0586 ARMENIAN
/// SMALL LETTER FEH, U+FE69 SMALL DOLLAR SIGN, U+FF04 FULLWIDTH DOLLAR SIGN); a test checks the
/// list against the crate's tables, so a new Unicode version cannot add one unseen.
pub(super) const DOLLAR_LEADS: [u8; 2] = [0xD6, 0xEF];

/// How far past its start a look-alike is looked for, in bytes: the longest token name with
/// every character at its widest (4 bytes), braces and a few invisible characters.
pub(super) const WINDOW: usize = 4 * 48;

/// Appends `c` as compared: lowercased, stripped of accents (decomposed, combining marks
/// dropped: `Í` and `I` + U+0301 read as `I`), then its skeleton.
fn fold(c: char, out: &mut String) {
    let mut buf = [0; 4];
    for lower in c.to_lowercase() {
        for base in lower.encode_utf8(&mut buf).nfd() {
            if !is_combining_mark(base) {
                let mut one = [0; 4];
                out.extend(skeleton(base.encode_utf8(&mut one)));
            }
        }
    }
}

/// Every known token with its folded name.
fn folded_names() -> &'static [(Token, String)] {
    static NAMES: OnceLock<Vec<(Token, String)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        Token::ALL
            .into_iter()
            .map(|t| {
                let mut folded = String::new();
                t.name().chars().for_each(|c| fold(c, &mut folded));
                (t, folded)
            })
            .collect()
    })
}

/// Whether `c` stands for a `$`: its skeleton is `$`. (Not lowercased first: the capital
/// Armenian feh `Ֆ` does not look like a `$`, its small letter does.)
pub(super) fn is_dollar(c: char) -> bool {
    let mut buf = [0; 4];
    skeleton(c.encode_utf8(&mut buf)).eq(['$'])
}

/// The look-alike of a known token that starts at `at` (a `$` or a character that stands for
/// one), if one does: where it ends, and the token it imitates.
///
/// It is the longest run of characters from `at` whose folded form is a known token's folded
/// name, taken further over a `}` when a `{` followed the `$`. It is a look-alike only when it is
/// not that token written plainly: when it holds a non-ASCII character or the brace. (A plain
/// ASCII near miss is the grammar's to classify, as misspelt or wrong case.)
pub(super) fn at(src: &[u8], at: usize) -> Option<(usize, Token)> {
    let window = &src[at..(at + WINDOW).min(src.len())];
    let window = match std::str::from_utf8(window) {
        Ok(text) => text,
        // The window may cut a character at its end; a template is UTF-8 up to there.
        Err(e) => std::str::from_utf8(&window[..e.valid_up_to()]).ok()?,
    };
    let mut chars = window.char_indices().peekable();
    let (_, first) = chars.next()?;
    if !is_dollar(first) {
        return None;
    }
    let mut folded = String::from("$");
    let braced = chars.next_if(|&(_, c)| c == '{').is_some();
    let mut odd = braced || !first.is_ascii();
    let names = folded_names();
    let mut best = None;
    for (i, c) in chars {
        let before = folded.len();
        fold(c, &mut folded);
        odd |= !c.is_ascii();
        if folded.len() == before {
            // Invisible: it joins the span only if a match goes on after it.
            continue;
        }
        if !names
            .iter()
            .any(|(_, name)| name.starts_with(folded.as_str()))
        {
            break;
        }
        if let Some((token, _)) = names.iter().find(|(_, name)| *name == folded) {
            best = Some((i + c.len_utf8(), *token, odd));
        }
    }
    let (mut end, token, odd) = best?;
    if !odd {
        return None;
    }
    if braced && window[end..].starts_with('}') {
        end += 1;
    }
    Some((at + end, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(s: &str) -> Option<(&str, Token)> {
        at(s.as_bytes(), 0).map(|(end, t)| (&s[..end], t))
    }

    #[test]
    fn dollar_leads_cover_every_character_that_stands_for_a_dollar() {
        let mut leads: Vec<u8> = (0x80..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_dollar(c))
            .map(|c| c.to_string().as_bytes()[0])
            .collect();
        leads.dedup();
        leads.sort_unstable();
        leads.dedup();
        assert_eq!(leads, DOLLAR_LEADS);
    }

    #[test]
    fn look_alikes_name_the_token_they_imitate() {
        let link = Token::InterviewLiveLink;
        for (s, span) in [
            (
                "$Іnterview.CodeSignal.Live.Link and on",
                "$Іnterview.CodeSignal.Live.Link",
            ),
            (
                "＄Interview.CodeSignal.Live.Link.",
                "＄Interview.CodeSignal.Live.Link",
            ),
            (
                "﹩Interview.CodeSignal.Live.Link",
                "﹩Interview.CodeSignal.Live.Link",
            ),
            (
                "$Inter\u{200b}view.CodeSignal.Live.Link",
                "$Inter\u{200b}view.CodeSignal.Live.Link",
            ),
            (
                "${Interview.CodeSignal.Live.Link}!",
                "${Interview.CodeSignal.Live.Link}",
            ),
            (
                "$Ｉｎｔｅｒｖｉｅｗ.CodeSignal.Live.Link",
                "$Ｉｎｔｅｒｖｉｅｗ.CodeSignal.Live.Link",
            ),
        ] {
            assert_eq!(found(s), Some((span, link)), "{s:?}");
        }
        assert_eq!(
            found("${Event.Start"),
            Some(("${Event.Start", Token::EventStart))
        );
    }

    #[test]
    fn plain_tokens_and_text_are_not_look_alikes() {
        for s in [
            "$Interview.CodeSignal.Live.Link",
            "$Candidate.Name\u{200b}",
            "$Event.Topic’s",
            "$event.topic",
            "$100",
            "＄100",
            "${price}",
            "$Іnterview",
            "",
        ] {
            assert_eq!(found(s), None, "{s:?}");
        }
        // An accent is stripped: a reader takes `Namé` for the token's `Name`.
        assert_eq!(
            found("$Candidate.Namé"),
            Some(("$Candidate.Namé", Token::CandidateName))
        );
        // A window that cuts a character in half is read up to the cut.
        assert_eq!(at("$é".as_bytes(), 0), None);
        assert_eq!(at(&"$é".as_bytes()[..2], 0), None);
    }
}
