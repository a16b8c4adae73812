//! Parse + render of a 4 KB invite body with ~20 tokens, beside minijinja's `render_str` of the
//! same template (which also parses and renders each time). `invitoken_parse_contexts_expand`
//! adds what an HTML body costs since each token's context comes from an HTML tokenizer.
//!
//! `cargo bench --bench render`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use invitoken::{Context, Request, SandboxMinter, Template, TemplateSet, Token, escape_html};

/// Tokens of the body, with the value each gets and the minijinja variable it maps to.
const VALUES: [(Token, &str, &str); 7] = [
    (Token::CandidateName, "cand_name", "Ada Lovelace"),
    (Token::CandidateFirstName, "cand_first", "Ada"),
    (Token::EventTopic, "topic", "Systems design & <APIs>"),
    (Token::EventStart, "start", "Tue 2 Mar 2027, 09:00 CET"),
    (Token::EventEnd, "end", "Tue 2 Mar 2027, 10:00 CET"),
    (
        Token::EventLiveLink,
        "event_link",
        "https://sandbox.invitoken.invalid/live/27b988f88fbc54a0b73299c1d7278ec1",
    ),
    (
        Token::InterviewLiveLink,
        "interview_link",
        "https://sandbox.invitoken.invalid/live/dc850c380803dccf7c8dfe6ad1de637e",
    ),
];

/// A ~4 KB html body with ~20 tokens, and the same as a minijinja template.
fn bodies() -> (String, String) {
    let para = "<p>Thank you for taking the time to meet the team. The session is a conversation \
                about how you approach problems; there is no trick question, and you may ask \
                for hints at any point. Bring a laptop with a recent browser and a quiet room. \
                If anything comes up, reply to this email and we will find another time.</p>\n";
    let mut ours = String::new();
    let mut jinja = String::new();
    let mut i = 0;
    while ours.len() < 4000 {
        let (token, var, _) = VALUES[i % VALUES.len()];
        let (token2, var2, _) = VALUES[(i + 3) % VALUES.len()];
        ours.push_str(para);
        jinja.push_str(para);
        ours.push_str(&format!("<p>{token} / <a href=\"{token2}\">join</a></p>\n"));
        jinja.push_str(&format!(
            "<p>{{{{ {var} }}}} / <a href=\"{{{{ {var2} }}}}\">join</a></p>\n"
        ));
        i += 1;
    }
    (ours, jinja)
}

fn render(c: &mut Criterion) {
    let (ours, jinja) = bodies();
    let tokens = Template::parse(&ours).unwrap().tokens().count();
    assert!((18..=24).contains(&tokens), "{tokens} tokens");
    let mut values = [""; Token::ALL.len()];
    for (t, _, v) in VALUES {
        values[t.index()] = v;
    }
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    let ctx = minijinja::Value::from_iter(VALUES.iter().map(|&(_, k, v)| (k, v)));
    // The same output from both, so the comparison is of equal work.
    let expand = |src: &str| {
        let template = Template::parse(src).unwrap();
        let mut out = String::with_capacity(src.len() + 512);
        template
            .expand(&mut out, |token, _, out| {
                escape_html(values[token.index()], out);
                Ok::<_, ()>(())
            })
            .unwrap();
        out
    };
    // minijinja's html auto-escape writes `'` as `&#x27;`, ours as `&#39;`; no value has one.
    let want = env.render_str(&jinja, &ctx).unwrap();
    let env_html = {
        let mut e = minijinja::Environment::new();
        e.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        e.set_keep_trailing_newline(true);
        e
    };
    let want_html = env_html.render_str(&jinja, &ctx).unwrap();
    assert_ne!(want, want_html, "the topic needs escaping");
    // minijinja also escapes `/` (as `&#x2f;`), which html does not need; otherwise equal.
    assert_eq!(expand(&ours), want_html.replace("&#x2f;", "/"));

    let mut group = c.benchmark_group("render_4kb_20_tokens");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("invitoken_parse_expand", |b| {
        b.iter(|| expand(black_box(&ours)))
    });
    // What an HTML body costs since contexts come from an HTML tokenizer (html5gum): lex, decide
    // every token's context, expand. The same body with `title=` for `href=`: a name or a time
    // may not start a URL (it could make it `javascript:`), so `href="$Event.Start"` is refused.
    let titled = ours.replace("<a href=", "<a title=");
    group.bench_function("invitoken_parse_contexts_expand", |b| {
        b.iter(|| {
            let src = black_box(&titled);
            let template = Template::parse(src).unwrap();
            let contexts = Context::of_template(&template, false, true).unwrap();
            assert_eq!(contexts.len(), tokens);
            let mut out = String::with_capacity(src.len() + 512);
            template
                .expand(&mut out, |token, _, out| {
                    escape_html(values[token.index()], out);
                    Ok::<_, ()>(())
                })
                .unwrap();
            out
        })
    });
    group.bench_function("invitoken_parse_only", |b| {
        b.iter(|| Template::parse(black_box(&ours)).unwrap())
    });
    group.bench_function("minijinja_render_str", |b| {
        b.iter(|| env_html.render_str(black_box(&jinja), &ctx).unwrap())
    });
    group.finish();

    // The whole pipeline on the panel fixture (lex, plan, sandbox mint, render five invites with
    // time zones), for scale; no baseline does all of that.
    let request = Request::from_json(include_str!("../fixtures/panel.json")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let minter = SandboxMinter::default();
    let mut group = c.benchmark_group("pipeline");
    group.bench_function("resolve_panel_fixture", |b| {
        b.iter(|| {
            rt.block_on(invitoken::resolve(black_box(&request), &minter))
                .unwrap()
        })
    });
    group.bench_function("lex_and_plan_panel_fixture", |b| {
        b.iter(|| {
            let t = TemplateSet::parse(black_box(&request)).unwrap();
            invitoken::Plan::new(&request, &t).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
