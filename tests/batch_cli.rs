//! `invitoken batch` as a pipeline sees it: files written (or not), exit codes, the JSON report,
//! diagnostics on stderr (issue "ICS: lossless batch reprocessing").

#[path = "support/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const CANDIDATE: &str = "fixtures/ics/candidate.ics";
const INTERVIEWER: &str = "fixtures/ics/interviewer-grace.ics";
const EVENT_UID: &str = "evt-1@example.com";
const SANDBOX: &str = "https://sandbox.invitoken.invalid/";

fn invitoken() -> Command {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.env("INVITOKEN_LEDGER", scratch::fresh_ledger())
        .env_remove("CODESIGNAL_API_KEY")
        .env_remove("CODESIGNAL_ENDPOINT")
        .env("NO_COLOR", "1");
    cmd
}

struct Run {
    code: i32,
    stderr: String,
}

fn batch(args: &[&str]) -> Run {
    let out = invitoken().arg("batch").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The report entry of the input whose path ends with `name`.
fn file_report<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in the report: {report:#}"))
}

/// Writes an `.ics` the tests made into `INVITOKEN_ICS_OUT`, when set, for a third parser.
fn emit(test: &str, path: &Path) {
    let Some(dir) = std::env::var_os("INVITOKEN_ICS_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    std::fs::copy(path, dir.join(format!("batch_cli-{test}-{name}"))).unwrap();
}

/// Logical content lines, each with its folds and line ending, as they are in the file.
fn logical_lines(file: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < file.len() {
        if file[i] == b'\n' && !matches!(file.get(i + 1), Some(b' ' | b'\t')) {
            lines.push(&file[start..=i]);
            start = i + 1;
        }
        i += 1;
    }
    if start < file.len() {
        lines.push(&file[start..]);
    }
    lines
}

/// A logical line unfolded, without its line ending, as text.
fn unfold(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\r' if line.get(i + 1) == Some(&b'\n') => i += 3,
            b'\n' => i += 2,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The value of the first property `name` (unfolded, still TEXT-escaped).
fn property(file: &[u8], name: &str) -> String {
    logical_lines(file)
        .into_iter()
        .map(unfold)
        .find_map(|l| {
            let at = l.find([':', ';'])?;
            l[..at]
                .eq_ignore_ascii_case(name)
                .then(|| l[l.find(':').unwrap() + 1..].to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in the file"))
}

/// A rewritten file against its original: the same logical lines, byte-identical wherever the
/// original had no token; the others hold no token any more and are folded at 75 octets.
fn assert_rewritten_only_where_tokens_were(original: &[u8], rewritten: &[u8]) {
    let (before, after) = (logical_lines(original), logical_lines(rewritten));
    assert_eq!(
        before.len(),
        after.len(),
        "the number of content lines changed"
    );
    let mut changed = 0;
    for (b, a) in before.iter().zip(&after) {
        if !b.contains(&b'$') {
            assert_eq!(
                String::from_utf8_lossy(b),
                String::from_utf8_lossy(a),
                "a line without a token changed"
            );
            continue;
        }
        changed += 1;
        let text = unfold(a);
        assert!(
            !text.contains("$Event") && !text.contains("$Interview"),
            "{text}"
        );
        let eol: &[u8] = if b.ends_with(b"\r\n") { b"\r\n" } else { b"\n" };
        assert!(a.ends_with(eol), "the line ending changed: {text}");
        for physical in String::from_utf8_lossy(a).split(['\n']) {
            let physical = physical.strip_suffix('\r').unwrap_or(physical);
            assert!(
                physical.len() <= 75,
                "{} octets: {physical:?}",
                physical.len()
            );
        }
    }
    assert!(changed > 0, "no line held a token");
}

/// A copy of `fixtures/ics` (and `extra` files) in a fresh temp dir: (temp, the copy's dir).
fn fixtures_copy(extra: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("invites");
    std::fs::create_dir(&dir).unwrap();
    for f in [CANDIDATE, INTERVIEWER] {
        std::fs::copy(f, dir.join(Path::new(f).file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(dir.join(name), text).unwrap();
    }
    (temp, dir)
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

/// A token-free calendar: LF endings, a fold, a `$` that starts no token, no final line ending.
const TOKEN_FREE: &str = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Other//EN\nBEGIN:VEVENT\n\
UID:lunch-7@example.com\nDTSTART:20270302T120000Z\nSUMMARY:Lunch\\, US$ 15 each\n\
DESCRIPTION:A long description that someone else folded at a place of th\n eir choosing.\n\
END:VEVENT\nEND:VCALENDAR";

#[test]
fn batch_rewrites_both_copies_of_an_event_with_one_url_and_reports_it() {
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("out");
    let report_path = temp.path().join("report.json");
    let run = batch(&[
        "fixtures/ics",
        "--out",
        s(&out),
        "--sandbox",
        "--report",
        s(&report_path),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listing(&out), ["candidate.ics", "interviewer-grace.ics"]);

    let report = read_json(&report_path);
    assert_eq!(report["minted"], 2, "{report:#}");
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    let mut event_urls = Vec::new();
    for (name, tokens) in [("candidate.ics", 2), ("interviewer-grace.ics", 4)] {
        let f = file_report(&report, name);
        assert_eq!(f["status"], "rewritten", "{f:#}");
        assert_eq!(f["tokens"], tokens, "{f:#}");
        assert_eq!(f["errors"], Value::Array(vec![]), "{f:#}");
        assert!(f["notes"].is_array(), "{f:#}");
        assert_eq!(f["output"].as_str().unwrap(), s(&out.join(name)));
        for link in f["links"].as_array().unwrap() {
            for field in [
                "scope",
                "interview_id",
                "event_id",
                "product",
                "template_id",
            ] {
                assert!(link.get(field).is_some(), "{field} missing in {link:#}");
            }
            assert!(link["url"].as_str().unwrap().starts_with(SANDBOX));
            assert_eq!(
                link["interview_id"], "int-42",
                "copies agree on the interview"
            );
        }
        let event = f["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["scope"] == "event" && l["event_id"] == EVENT_UID)
            .unwrap_or_else(|| panic!("no link for {EVENT_UID} in {f:#}"));
        event_urls.push(event["url"].as_str().unwrap().to_string());
    }
    assert_eq!(
        event_urls[0], event_urls[1],
        "the candidate's and the interviewer's copies of {EVENT_UID} got different URLs"
    );
    let url = &event_urls[0];

    let candidate = std::fs::read(out.join("candidate.ics")).unwrap();
    let interviewer = std::fs::read(out.join("interviewer-grace.ics")).unwrap();
    assert_rewritten_only_where_tokens_were(&std::fs::read(CANDIDATE).unwrap(), &candidate);
    assert_rewritten_only_where_tokens_were(&std::fs::read(INTERVIEWER).unwrap(), &interviewer);
    assert_eq!(
        property(&candidate, "DESCRIPTION"),
        format!("Join at {url} (works on any browser).")
    );
    assert!(property(&candidate, "X-ALT-DESC").contains(&format!("<a href=\"{url}\">join</a>")));
    assert_eq!(property(&interviewer, "LOCATION"), *url);
    assert_eq!(property(&interviewer, "CONFERENCE"), *url);
    let interview_url = file_report(&report, "interviewer-grace.ics")["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["scope"] == "interview")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(&interview_url, url);
    assert!(property(&interviewer, "DESCRIPTION").contains(&format!(
        "Join the room at {url} — the panel link is {interview_url}."
    )));
    emit("fixtures", &out.join("candidate.ics"));
    emit("fixtures", &out.join("interviewer-grace.ics"));

    // The sandbox is deterministic: a second run writes the same bytes.
    let again = temp.path().join("again");
    let run = batch(&["fixtures/ics", "--out", s(&again), "--sandbox"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in ["candidate.ics", "interviewer-grace.ics"] {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap()
        );
    }
}

#[test]
fn a_token_free_file_is_copied_byte_identical() {
    let (temp, dir) = fixtures_copy(&[("lunch.ics", TOKEN_FREE)]);
    let out = temp.path().join("out");
    let report_path = temp.path().join("report.json");
    let run = batch(&[
        s(&dir),
        "--out",
        s(&out),
        "--sandbox",
        "--report",
        s(&report_path),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(out.join("lunch.ics")).unwrap(),
        TOKEN_FREE.as_bytes()
    );
    let report = read_json(&report_path);
    let lunch = file_report(&report, "lunch.ics");
    assert_eq!(lunch["status"], "unchanged", "{lunch:#}");
    assert_eq!(lunch["tokens"], 0);
    assert_eq!(lunch["links"], Value::Array(vec![]));
    assert_eq!(lunch["output"].as_str().unwrap(), s(&out.join("lunch.ics")));
    assert_eq!(file_report(&report, "candidate.ics")["status"], "rewritten");
}

#[cfg(unix)]
#[test]
fn in_place_replaces_only_changed_files_and_leaves_no_temp_files() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let (temp, dir) = fixtures_copy(&[("lunch.ics", TOKEN_FREE)]);
    // An old mtime on every file, so a rewrite cannot hide within the clock's resolution.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for name in ["candidate.ics", "interviewer-grace.ics", "lunch.ics"] {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(name))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    std::fs::set_permissions(
        dir.join("candidate.ics"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let lunch_before = std::fs::metadata(dir.join("lunch.ics")).unwrap();
    let report_path = temp.path().join("report.json");
    let run = batch(&[
        s(&dir),
        "--in-place",
        "--sandbox",
        "--report",
        s(&report_path),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The unchanged file was not touched at all: same inode, same mtime, same bytes.
    let lunch_after = std::fs::metadata(dir.join("lunch.ics")).unwrap();
    assert_eq!(lunch_after.ino(), lunch_before.ino());
    assert_eq!(lunch_after.modified().unwrap(), old);
    assert_eq!(
        std::fs::read(dir.join("lunch.ics")).unwrap(),
        TOKEN_FREE.as_bytes()
    );
    let report = read_json(&report_path);
    assert_eq!(file_report(&report, "lunch.ics")["status"], "unchanged");
    assert_eq!(file_report(&report, "lunch.ics")["output"], Value::Null);

    // The others were replaced, keeping their permissions.
    for (name, original) in [
        ("candidate.ics", CANDIDATE),
        ("interviewer-grace.ics", INTERVIEWER),
    ] {
        let path = dir.join(name);
        assert_eq!(file_report(&report, name)["status"], "rewritten");
        assert_ne!(std::fs::metadata(&path).unwrap().modified().unwrap(), old);
        assert_rewritten_only_where_tokens_were(
            &std::fs::read(original).unwrap(),
            &std::fs::read(&path).unwrap(),
        );
        emit("in-place", &path);
    }
    assert_eq!(
        std::fs::metadata(dir.join("candidate.ics"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    // No temp file left behind, in the folder or beside the report.
    assert_eq!(
        listing(&dir),
        ["candidate.ics", "interviewer-grace.ics", "lunch.ics"]
    );
    assert_eq!(listing(temp.path()).len(), 4, "{:?}", listing(temp.path()));
}

/// A line without a `:` in a file holding a token (a token-free file is copied unread).
const NO_COLON: &str = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:broken-1@example.com\n\
this line has no colon\nDESCRIPTION:Join at $Event.CodeSignal.Live.Link\nEND:VEVENT\n\
END:VCALENDAR\n";

/// A misspelt token, at line 6, column 21.
const TYPO: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:typo-1@example.com\r\n\
SUMMARY:Systems design\r\nDESCRIPTION:Join at $Event.CodeSignal.Live.Lnk now\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

#[test]
fn a_broken_file_fails_alone_with_its_location_and_stays_untouched() {
    let (temp, dir) = fixtures_copy(&[("broken.ics", NO_COLON), ("typo.ics", TYPO)]);
    let out = temp.path().join("out");
    let report_path = temp.path().join("report.json");
    let run = batch(&[
        s(&dir),
        "--out",
        s(&out),
        "--sandbox",
        "--report",
        s(&report_path),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let broken = dir.join("broken.ics");
    let typo = dir.join("typo.ics");
    assert!(
        run.stderr.contains(&format!(
            "{}:5:1: not an iCalendar content line",
            s(&broken)
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{}:6:21: unknown token `$Event.CodeSignal.Live.Lnk`",
            s(&typo)
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("did you mean `$Event.CodeSignal.Live.Link`"),
        "{}",
        run.stderr
    );
    // The originals are untouched, nothing is written for them, the others are written.
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), NO_COLON);
    assert_eq!(std::fs::read_to_string(&typo).unwrap(), TYPO);
    assert_eq!(listing(&out), ["candidate.ics", "interviewer-grace.ics"]);
    let report = read_json(&report_path);
    for name in ["broken.ics", "typo.ics"] {
        let f = file_report(&report, name);
        assert_eq!(f["status"], "failed", "{f:#}");
        assert_eq!(f["output"], Value::Null, "{f:#}");
        assert!(!f["errors"].as_array().unwrap().is_empty(), "{f:#}");
    }
    assert_eq!(file_report(&report, "candidate.ics")["status"], "rewritten");
    assert_eq!(
        file_report(&report, "interviewer-grace.ics")["status"],
        "rewritten"
    );
}

#[test]
fn a_cancelled_event_loses_its_token_and_gets_no_session() {
    let cancelled = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n\
UID:cancel-1@example.com\r\nSTATUS:CANCELLED\r\nSUMMARY:Pairing (cancelled)\r\n\
DESCRIPTION:Was at $Event.CodeSignal.Live.Link\\, now cancelled.\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("cancelled.ics");
    std::fs::write(&input, cancelled).unwrap();
    let out = temp.path().join("out");
    let report_path = temp.path().join("report.json");
    let run = batch(&[
        s(&input),
        "--out",
        s(&out),
        "--sandbox",
        "--report",
        s(&report_path),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written = std::fs::read(out.join("cancelled.ics")).unwrap();
    assert_eq!(
        String::from_utf8(written.clone()).unwrap(),
        cancelled.replace("$Event.CodeSignal.Live.Link", "")
    );
    assert!(!String::from_utf8_lossy(&written).contains(SANDBOX));
    let report = read_json(&report_path);
    assert_eq!(report["minted"], 0, "{report:#}");
    let f = file_report(&report, "cancelled.ics");
    assert_eq!(f["tokens"], 1);
    assert_eq!(f["links"].as_array().unwrap().len(), 1, "{f:#}");
    assert_eq!(f["links"][0]["url"], Value::Null, "{f:#}");
    assert!(
        f["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("cancelled")),
        "{f:#}"
    );
    assert!(run.stderr.contains("cancelled"), "{}", run.stderr);
    emit("cancelled", &out.join("cancelled.ics"));
}

#[test]
fn a_context_token_is_refused_because_batch_resolves_link_tokens_only() {
    let text = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:ctx-1@example.com\n\
DESCRIPTION:Hi $Candidate.Name\\, join at $Event.CodeSignal.Live.Link\nEND:VEVENT\n\
END:VCALENDAR\n";
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("context.ics");
    std::fs::write(&input, text).unwrap();
    let out = temp.path().join("out");
    let run = batch(&[s(&input), "--out", s(&out), "--sandbox"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}:5:16: `$Candidate.Name` needs a scheduling request: `batch` resolves link \
             tokens only",
            s(&input)
        )),
        "{}",
        run.stderr
    );
    assert!(!out.join("context.ics").exists());
    assert_eq!(std::fs::read_to_string(&input).unwrap(), text);
}

#[test]
fn a_destination_is_required_and_only_one() {
    let run = batch(&["fixtures/ics", "--sandbox"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--out") && run.stderr.contains("--in-place"),
        "{}",
        run.stderr
    );
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("out");
    let run = batch(&["fixtures/ics", "--out", s(&out), "--in-place", "--sandbox"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!out.exists());
}

/// A misspelt token on a continuation line: `batch` puts its `$` where `check` and an editor
/// do, at 6:6 (the fold's SPACE is the line's first character).
#[test]
fn a_problem_on_a_continuation_line_is_located_as_check_locates_it() {
    let text = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:typo-2@example.com\n\
DESCRIPTION:Join the interview room\n  at $Event.CodeSignal.Live.Lnk now\nEND:VEVENT\n\
END:VCALENDAR\n";
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("folded.ics");
    std::fs::write(&input, text).unwrap();
    let check = invitoken().arg("check").arg(&input).output().unwrap();
    let check = String::from_utf8(check.stderr).unwrap();
    assert!(check.contains(&format!("{}:6:6", s(&input))), "{check}");
    let run = batch(&[s(&input), "--out", s(&temp.path().join("out")), "--sandbox"]);
    assert!(
        run.stderr
            .contains(&format!("{}:6:6: unknown token", s(&input))),
        "{}",
        run.stderr
    );
}

/// A context token on a continuation line is reported where it is (6:3), not at the first
/// physical line with a column counted in the unfolded line (5:25, past the end of line 5).
#[test]
fn a_binding_problem_on_a_continuation_line_is_located_where_the_token_is() {
    let text = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:ctx-2@example.com\n\
DESCRIPTION:Hello there\n  $Candidate.Name\\, welcome\nEND:VEVENT\nEND:VCALENDAR\n";
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("folded.ics");
    std::fs::write(&input, text).unwrap();
    let run = batch(&[s(&input), "--out", s(&temp.path().join("out")), "--sandbox"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}:6:3: `$Candidate.Name`", s(&input))),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs INVITOKEN_CORPUS"]
fn batch_over_the_corpus_copies_every_file_it_reads_and_lists_the_others() {
    // Ignored unless asked for; asked for without the corpus is a failure, not a pass.
    let Some(corpus) = std::env::var_os("INVITOKEN_CORPUS") else {
        panic!(
            "INVITOKEN_CORPUS is not set: this test batches the shared .ics corpus; run it as \
             INVITOKEN_CORPUS=../shared/corpus/ics cargo test -- --ignored"
        );
    };
    let corpus = PathBuf::from(corpus);
    assert!(
        corpus.is_dir(),
        "INVITOKEN_CORPUS is set to {}, which is not a directory",
        corpus.display()
    );
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("out");
    let report_path = temp.path().join("report.json");
    let run = batch(&[
        s(&corpus),
        "--out",
        s(&out),
        "--sandbox",
        "--report",
        s(&report_path),
    ]);
    assert_eq!(run.code, 1, "some corpus files are broken: {}", run.stderr);
    let report = read_json(&report_path);
    let files = report["files"].as_array().unwrap();
    let inputs: Vec<String> = listing(&corpus)
        .into_iter()
        .filter(|p| p.to_ascii_lowercase().ends_with(".ics"))
        .collect();
    assert_eq!(
        files.len(),
        inputs.len(),
        "every corpus file is in the report"
    );
    assert_eq!(report["minted"], 0);
    let (mut unchanged, mut failed) = (Vec::new(), Vec::new());
    for f in files {
        let path = PathBuf::from(f["path"].as_str().unwrap());
        let relative = path.strip_prefix(&corpus).unwrap().to_path_buf();
        match f["status"].as_str().unwrap() {
            "unchanged" => {
                assert_eq!(f["tokens"], 0, "{f:#}");
                let written = std::fs::read(out.join(&relative)).unwrap();
                assert!(
                    written == std::fs::read(&path).unwrap(),
                    "{} was not copied byte-identical",
                    relative.display()
                );
                unchanged.push(relative.to_string_lossy().into_owned());
            }
            "failed" => {
                let errors = f["errors"].as_array().unwrap();
                assert!(!errors.is_empty(), "{f:#}");
                assert_eq!(f["output"], Value::Null);
                assert!(!out.join(&relative).exists(), "{}", relative.display());
                // `line:col: message`, as on stderr after the path.
                let first = errors[0].as_str().unwrap();
                let mut parts = first.splitn(3, ':');
                let (line, col) = (parts.next().unwrap(), parts.next().unwrap_or(""));
                assert!(
                    line.parse::<usize>().is_ok_and(|l| l >= 1)
                        && col.parse::<usize>().is_ok_and(|c| c >= 1),
                    "{first}"
                );
                assert!(
                    run.stderr
                        .contains(&format!("error: {}:{first}", path.display())),
                    "{first}"
                );
                failed.push(relative.to_string_lossy().into_owned());
            }
            other => panic!("{} is {other}: {f:#}", relative.display()),
        }
    }
    unchanged.sort();
    assert_eq!(
        listing(&out),
        unchanged,
        "the output holds exactly the copies"
    );
    assert!(!failed.is_empty());
    eprintln!(
        "batch over the corpus: {} file(s): {} copied byte-identical, {} failed: {failed:?}",
        files.len(),
        unchanged.len(),
        failed.len()
    );
}

#[test]
fn temp_files_of_a_killed_run_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // What a run killed between creating its temp file and renaming it leaves behind, beside
    // files that are not ours.
    let leftover = out.join(".invitoken-Ab3dE9.tmp");
    std::fs::write(&leftover, "BEGIN:VCALENDAR\r\nPARTIAL").unwrap();
    let theirs = [out.join(".other-tool.tmp"), out.join("invitoken-notes.tmp")];
    for p in &theirs {
        std::fs::write(p, "keep").unwrap();
    }
    let report = dir.path().join("report.json");
    let run = batch(&[
        CANDIDATE,
        INTERVIEWER,
        "--out",
        s(&out),
        "--sandbox",
        "--report",
        s(&report),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!leftover.exists());
    for p in &theirs {
        assert_eq!(std::fs::read_to_string(p).unwrap(), "keep");
    }
    assert_eq!(read_json(&report)["leftovers_removed"], 1);
    assert!(
        run.stderr.contains("removed 1 temporary file"),
        "{}",
        run.stderr
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n.starts_with(".invitoken-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}
