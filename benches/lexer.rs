//! Lexer throughput against a memchr scan for `$`, the floor any lexer that looks at every `$`
//! has to pay. Each group is one input with both functions, so the ratio comes from one run.
//!
//! `cargo bench --bench lexer`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use invitoken::{Template, Token};

const TARGET: usize = 1 << 20;

/// A tiny deterministic generator (xorshift64*), so inputs are the same on every run.
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

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// ~1 MB of invite html and prose: one token per ~2 KB, and now and then a `$100` price.
fn realistic() -> String {
    const PARAS: [&str; 6] = [
        "<p>Thank you for taking the time to meet the team. The session is a conversation \
         about how you approach problems; there is no trick question, and you may ask for hints \
         at any point. Bring a laptop with a recent browser and a quiet room.</p>\n",
        "<p>If anything comes up, reply to this email and we will find another time. Our office \
         is on the third floor; the reception desk will direct you to the meeting room.</p>\n",
        "<ul>\n  <li>Systems design (45 minutes)</li>\n  <li>Coding exercise in your language \
         of choice (60 minutes)</li>\n  <li>Questions for us (15 minutes)</li>\n</ul>\n",
        "<p style=\"font-family: Arial, sans-serif; color: #333333\">We reimburse travel up to \
         $100 per day and a lunch allowance of $25; keep your receipts.</p>\n",
        "<table role=\"presentation\" width=\"100%\"><tr><td align=\"left\">Interview \
         details</td><td align=\"right\">Remote &middot; video</td></tr></table>\n",
        "<p>Kind regards,<br>The Recruiting Team<br><a href=\"https://careers.example.com/\">\
         careers.example.com</a></p>\n",
    ];
    prose(&PARAS, 0x9e37_79b9_7f4a_7c15, |token| {
        format!("<p>Join here: <a href=\"{token}\">{token}</a></p>\n")
    })
}

/// ~1 MB of paragraphs picked from `paras`, with a paragraph from `token_line` and a random
/// token every ~2 KB.
fn prose(paras: &[&str], seed: u64, token_line: impl Fn(Token) -> String) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(TARGET + 4096);
    let mut since_token = 0;
    while out.len() < TARGET {
        let para = *rng.pick(paras);
        out.push_str(para);
        since_token += para.len();
        if since_token >= 2048 {
            out.push_str(&token_line(*rng.pick(&Token::ALL)));
            since_token = 0;
        }
    }
    out
}

/// ~1 MB like [`realistic`], with the non-ASCII of real invites: accents, curly quotes, dashes,
/// a paragraph in Russian and one in Japanese. The lexer stops at non-ASCII text only to look
/// for characters standing for `$` (look-alike tokens), and stops doing so once the text shows
/// much of it.
fn realistic_unicode() -> String {
    const PARAS: [&str; 5] = [
        "<p>Thank you for taking the time to meet the team — we’re looking forward to it. \
         Café Zoë on the ground floor is open; the session is “a conversation”, not a test.</p>\n",
        "<p>Спасибо, что нашли время для встречи с командой. Интервью проходит в формате \
         беседы; подсказки можно попросить в любой момент.</p>\n",
        "<p>チームとの面接にお時間をいただきありがとうございます。ノートパソコンをご持参ください。</p>\n",
        "<p style=\"color: #333333\">We reimburse travel up to $100 per day (≈ €92) and a \
         lunch allowance of $25; keep your receipts.</p>\n",
        "<p>Kind regards,<br>The Recruiting Team · <a href=\"https://careers.example.com/\">\
         careers.example.com</a></p>\n",
    ];
    prose(&PARAS, 0x0123_4567_89ab_cdef, |token| {
        format!("<p>Ссылка: <a href=\"{token}\">{token}</a>’s room</p>\n")
    })
}

/// ~1 MB where tokens are most of the bytes, separated by short text and punctuation.
fn token_dense() -> String {
    const SEPS: [&str; 8] = [" ", ", ", "; ", " / ", "\n", ": ", "<br>", " ("];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = String::with_capacity(TARGET + 64);
    while out.len() < TARGET {
        out.push_str(rng.pick(&Token::ALL).name());
        out.push_str(rng.pick::<&str>(&SEPS));
    }
    out
}

/// ~1 MB price list: nearly every line has `$` amounts, a few have a token.
fn dollar_price_list() -> String {
    const ITEMS: [&str; 8] = [
        "Widget", "Gadget", "Sprocket", "Cable", "Adapter", "Licence", "Support", "Shipping",
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut out = String::with_capacity(TARGET + 128);
    let mut line = 0usize;
    while out.len() < TARGET {
        let item = *rng.pick(&ITEMS);
        let n = rng.below(10_000);
        let line_text = match rng.below(6) {
            0 => format!("{item} x{}: ${n}.{:02}\n", n % 7 + 1, n % 100),
            1 => format!("{item}: US$ {n} (was ${})\n", n + 50),
            2 => format!("{item} tier: $$$. rating, ${n} flat\n"),
            3 => format!("{item}\t${n}\t${}\tsave $5!\n", n * 2),
            4 => format!("{item}, from $ {n} or $${n} for two\n"),
            _ => format!("{item} bundle ${n}/mo, $0 setup\n"),
        };
        out.push_str(&line_text);
        line += 1;
        if line.is_multiple_of(200) {
            out.push_str(&format!(
                "Questions? Ask {} at {}\n",
                Token::CandidateName,
                Token::InterviewLiveLink
            ));
        }
    }
    out
}

fn bench_input(c: &mut Criterion, name: &str, input: &str) {
    let template = Template::parse(input).expect("bench inputs have only known tokens");
    let tokens = template.tokens().count();
    let dollars = memchr::memchr_iter(b'$', input.as_bytes()).count();
    eprintln!(
        "{name}: {} bytes, {dollars} `$`, {tokens} tokens",
        input.len()
    );
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("memchr_scan", |b| {
        b.iter(|| black_box(memchr::memchr_iter(b'$', black_box(input.as_bytes())).count()))
    });
    group.bench_function("lex", |b| {
        b.iter(|| black_box(Template::parse(black_box(input))))
    });
    group.finish();
}

fn lexer(c: &mut Criterion) {
    bench_input(c, "realistic_1mb", &realistic());
    bench_input(c, "realistic_unicode_1mb", &realistic_unicode());
    bench_input(c, "token_dense", &token_dense());
    bench_input(c, "dollar_price_list", &dollar_price_list());
}

criterion_group!(benches, lexer);
criterion_main!(benches);
