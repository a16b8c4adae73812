//! Rewriting `.ics` files (scan, then write back with every token replaced) beside `calcard`
//! parsing the same bytes, in the same group so the ratio comes from one run.
//!
//! Two inputs: the shared corpus (400 real-world files, read from `INVITOKEN_CORPUS`, else
//! `../shared/corpus/ics`; skipped with a notice when neither exists), and one generated 8 MB
//! calendar of 10,000 interview events, one in four with tokens in a folded DESCRIPTION.
//!
//! ```text
//! cargo bench --bench ics
//! ```

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use invitoken::IcsOptions;
use invitoken::internals::rewrite::{self, Value};

const URL: &str = "https://sandbox.invitoken.invalid/live/0123456789abcdef0123456789abcdef";

fn corpus_files() -> Option<Vec<Vec<u8>>> {
    let dir = std::env::var_os("INVITOKEN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ics"));
    if !dir.is_dir() {
        eprintln!(
            "notice: no corpus at {}: the corpus group is skipped",
            dir.display()
        );
        return None;
    }
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a readable corpus") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "ics") {
                files.push(std::fs::read(&path).expect("a readable file"));
            }
        }
    }
    Some(files)
}

/// 10,000 events as a scheduling product would export them: CRLF, folded descriptions, one in
/// four with tokens.
fn generated() -> Vec<u8> {
    let mut out = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Scheduler//EN\r\nMETHOD:REQUEST\r\n",
    );
    for i in 0..10_000 {
        let link = if i % 4 == 0 {
            "Join: $Event.CodeSignal.Live.Link\\n Panel: $Interview.CodeSignal.Live.Link"
        } else {
            "The link follows in a separate message."
        };
        out.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:evt-{i}@example.com\r\nDTSTAMP:20270101T000000Z\r\n\
             DTSTART:20270302T080000Z\r\nDTEND:20270302T090000Z\r\nX-INTERVIEW-ID:int-{}\r\n\
             SUMMARY:Interview {i}: algorithms and data structures\r\n\
             ORGANIZER;CN=Recruiting:mailto:recruiting@example.com\r\n\
             ATTENDEE;CN=Candidate {i};ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:c{i}@example.org\r\n\
             DESCRIPTION:Hello\\, thank you for interviewing with us. This session covers \r\n \
             algorithms. {link}\\nPlease be on time\\; the interviewer will wait 10 minu\r\n \
             tes.\r\nLOCATION:Online\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\n",
            i / 3
        ));
    }
    out.push_str("END:VCALENDAR\r\n");
    out.into_bytes()
}

/// Scans and writes every file into one buffer, as a batch worker does (`Scanned::write_into`).
fn rewrite_all(files: &[Vec<u8>], options: &IcsOptions, out: &mut Vec<u8>) -> usize {
    let mut written = 0;
    for file in files {
        if let Ok(scanned) = rewrite::scan(file, options) {
            scanned.write_into(file, |_| Value::Url(URL), out);
            written += black_box(&*out).len();
        }
    }
    written
}

fn calcard_all(files: &[String]) -> usize {
    let mut entries = 0;
    for file in files {
        let mut parser = calcard::Parser::new(file);
        loop {
            match parser.entry() {
                calcard::Entry::Eof => break,
                entry => {
                    black_box(&entry);
                    entries += 1;
                }
            }
        }
    }
    entries
}

fn bench_group(c: &mut Criterion, name: &str, files: Vec<Vec<u8>>) {
    let options = IcsOptions::default();
    let bytes: usize = files.iter().map(Vec::len).sum();
    // calcard reads `&str`: decode outside the timing.
    let texts: Vec<String> = files
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    let mut out = Vec::new();
    group.bench_function("invitoken_rewrite", |b| {
        b.iter(|| black_box(rewrite_all(black_box(&files), &options, &mut out)))
    });
    group.bench_function("calcard_parse", |b| {
        b.iter(|| black_box(calcard_all(black_box(&texts))))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    if let Some(files) = corpus_files() {
        bench_group(c, "ics_corpus_400_files", files);
    }
    bench_group(c, "ics_generated_10k_events", vec![generated()]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
