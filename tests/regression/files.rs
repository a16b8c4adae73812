//! Regressions: files (issue 9, classes 6, 7, 10 and 17): what is read (regular files only,
//! each once, under a size cap), where the report may go, `--ics-dir` all or nothing, and
//! `--in-place` keeping the file's mode, group, owner and links.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use crate::support;

const CANDIDATE: &str = "fixtures/ics/candidate.ics";
const INTERVIEWER: &str = "fixtures/ics/interviewer-grace.ics";
/// A guard against a hang (a run blocked on a FIFO): a failure, never a timing assertion.
const HANG: Duration = Duration::from_secs(120);

fn invitoken() -> Command {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.env("INVITOKEN_LEDGER", support::scratch::fresh_ledger())
        .env_remove("CODESIGNAL_API_KEY")
        .env_remove("CODESIGNAL_ENDPOINT")
        .env("NO_COLOR", "1")
        .timeout(HANG);
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out
            .status
            .code()
            .expect("exited, not killed by the hang guard"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn batch(args: &[&Path]) -> Run {
    run(invitoken().arg("batch").arg("--sandbox").args(args))
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

/// A folder `invites` holding copies of the two fixtures (both have tokens).
fn invites() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("invites");
    std::fs::create_dir(&dir).unwrap();
    for f in [CANDIDATE, INTERVIEWER] {
        std::fs::copy(f, dir.join(Path::new(f).file_name().unwrap())).unwrap();
    }
    (temp, dir)
}

/// Every entry under `dir` (files, links, FIFOs), relative, sorted; folders are descended,
/// symlinks are not.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let path = entry.path();
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

// ---- 6: --report never overwrites an input or an output --------------------------------------

#[test]
fn report_path_naming_an_input_or_output_overwrote_it() {
    let (temp, dir) = invites();
    let out = temp.path().join("out");
    let candidate = dir.join("candidate.ics");
    let original = std::fs::read(&candidate).unwrap();
    std::fs::create_dir(temp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(&candidate, temp.path().join("link.json")).unwrap();
    std::fs::hard_link(&candidate, temp.path().join("hard.json")).unwrap();
    let aliases = [
        // The input itself, under its own name and under detours.
        candidate.clone(),
        temp.path().join("elsewhere/../invites/candidate.ics"),
        temp.path().join("link.json"),
        temp.path().join("hard.json"),
    ];
    for report in &aliases {
        for destination in [vec![p("--out"), &out], vec![p("--in-place")]] {
            let mut args = vec![dir.as_path()];
            args.extend(destination);
            args.extend([p("--report"), report]);
            let r = batch(&args);
            assert_eq!(r.code, 2, "{report:?}: {}", r.stderr);
            assert!(r.stderr.contains("choose a report path"), "{}", r.stderr);
            assert_eq!(std::fs::read(&candidate).unwrap(), original, "{report:?}");
            assert!(!out.exists(), "nothing is written before the refusal");
        }
    }
    // A file the batch would write: the mirror of an input under --out (existing or not).
    for report in [out.join("candidate.ics"), out.join("x/../candidate.ics")] {
        let r = batch(&[&dir, p("--out"), &out, p("--report"), &report]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("is where the batch writes"),
            "{}",
            r.stderr
        );
        assert!(!out.exists());
    }
    // A new .ics name inside an input folder: the next batch over it would read the report.
    let r = batch(&[
        &dir,
        p("--out"),
        &out,
        p("--report"),
        &dir.join("report.ics"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!dir.join("report.ics").exists());
    // A folder.
    let r = batch(&[&dir, p("--out"), &out, p("--report"), temp.path()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A report beside the inputs, not among them, is fine.
    let report = dir.join("report.json");
    let r = batch(&[&dir, p("--out"), &out, p("--report"), &report]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read_json(&report)["files"].as_array().unwrap().len(), 2);
    assert_eq!(std::fs::read(&candidate).unwrap(), original);
}

#[test]
fn report_path_naming_the_mint_ledger_replaced_it() {
    let (temp, dir) = invites();
    let out = temp.path().join("out");
    let ledger = temp.path().join("ledger.sqlite3");
    let with_ledger = |report: &Path| {
        run(invitoken()
            .arg("batch")
            .arg("--sandbox")
            .arg(&dir)
            .arg("--out")
            .arg(&out)
            .arg("--ledger")
            .arg(&ledger)
            .arg("--report")
            .arg(report))
    };
    // A first batch records its sessions.
    let r = with_ledger(&temp.path().join("report.json"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let recorded = std::fs::read(&ledger).unwrap();
    assert!(recorded.starts_with(b"SQLite format 3\0"));
    // The ledger itself, a symlink to it, a hard link to it, and its write-ahead log.
    let link = temp.path().join("link.json");
    std::os::unix::fs::symlink(&ledger, &link).unwrap();
    let hard = temp.path().join("hard.json");
    std::fs::hard_link(&ledger, &hard).unwrap();
    let wal = temp.path().join("ledger.sqlite3-wal");
    for report in [&ledger, &link, &hard, &wal] {
        let r = with_ledger(report);
        assert_eq!(r.code, 2, "{report:?}: {}", r.stderr);
        assert!(r.stderr.contains("mint ledger"), "{}", r.stderr);
        assert!(r.stderr.contains("choose a report path"), "{}", r.stderr);
        assert_eq!(std::fs::read(&ledger).unwrap(), recorded, "{report:?}");
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
}

// ---- 7: only regular files, each once, with a size cap ---------------------------------------

#[test]
fn fifo_named_ics_hung_batch_and_check() {
    let (temp, dir) = invites();
    let fifo = dir.join("x.ics");
    mkfifo(&fifo);
    // A hostile name cannot write to the terminal through the note.
    mkfifo(&dir.join("\u{1b}[2J\rerror: fake.ics"));
    let out = temp.path().join("out");
    let report = temp.path().join("report.json");
    let r = batch(&[&dir, p("--out"), &out, p("--report"), &report]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("x.ics: skipped: a FIFO (named pipe), not a regular file"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("\\u{1b}[2J\\rerror: fake.ics: skipped: a FIFO"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains('\r'));
    assert_eq!(listing(&out), ["candidate.ics", "interviewer-grace.ics"]);
    let report = read_json(&report);
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 2);
    assert!(
        report["skipped"][1]["path"]
            .as_str()
            .unwrap()
            .ends_with("x.ics")
    );

    // Named as an input, it is an error; nothing is read or written.
    let r = batch(&[&fifo, p("--out"), &temp.path().join("out2")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is a FIFO (named pipe)"), "{}", r.stderr);
    assert!(!temp.path().join("out2").exists());

    // check (which finds .ics inputs as batch does) and plan refuse it without blocking.
    let r = run(invitoken().arg("check").arg(&fifo));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is a FIFO (named pipe)"), "{}", r.stderr);
    let request = temp.path().join("request.json");
    mkfifo(&request);
    let r = run(invitoken().arg("plan").arg(&request));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}

#[test]
fn symlink_to_dev_zero_was_read_without_end() {
    let (temp, dir) = invites();
    let zero = dir.join("zero.ics");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let out = temp.path().join("out");
    let r = batch(&[&dir, p("--out"), &out]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("zero.ics: skipped: a character device"),
        "{}",
        r.stderr
    );
    assert_eq!(listing(&out), ["candidate.ics", "interviewer-grace.ics"]);

    let r = batch(&[&zero, p("--out"), &temp.path().join("out2")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("a character device"), "{}", r.stderr);
    let r = run(invitoken().arg("check").arg(&zero));
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The API key file may be a pipe, but is capped: /dev/zero is refused after 64 KiB.
    let r = run(invitoken().args([
        "resolve",
        "fixtures/panel.json",
        "--api-key-file",
        "/dev/zero",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("larger than 65536 bytes"), "{}", r.stderr);
    assert!(!r.stderr.contains('\0'));
}

#[test]
fn parent_symlinks_looped_and_wrote_one_file_many_times() {
    let (temp, dir) = invites();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("up")).unwrap();
    std::os::unix::fs::symlink(".", dir.join("self")).unwrap();
    // A second name of a file already found (a file symlink and a hard link): read once.
    std::os::unix::fs::symlink("../candidate.ics", dir.join("sub/alias.ics")).unwrap();
    std::fs::hard_link(dir.join("candidate.ics"), dir.join("sub/hard.ics")).unwrap();
    let out = temp.path().join("out");
    let report = temp.path().join("report.json");
    let r = batch(&[&dir, p("--out"), &out, p("--report"), &report]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(listing(&out), ["candidate.ics", "interviewer-grace.ics"]);
    let report = read_json(&report);
    assert_eq!(report["files"].as_array().unwrap().len(), 2, "{report:#}");
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped
            .iter()
            .filter(|r| r.starts_with("a symbolic link to a folder"))
            .count(),
        3,
        "{skipped:?}"
    );
    assert_eq!(
        skipped
            .iter()
            .filter(|r| r.starts_with("the same file as"))
            .count(),
        2,
        "{skipped:?}"
    );
    // The same file named twice on the command line is read once too.
    let out2 = temp.path().join("out2");
    let candidate = dir.join("candidate.ics");
    let r = batch(&[&candidate, &candidate, p("--out"), &out2]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("batch: 1 file(s)"), "{}", r.stderr);
}

#[test]
fn file_over_the_size_cap_was_read_whole() {
    let (temp, dir) = invites();
    // Sparse: a gigabyte on paper, nothing on disk.
    let big = dir.join("big.ics");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let out = temp.path().join("out");
    let report = temp.path().join("report.json");
    let r = run(invitoken()
        .args(["batch", "--sandbox", "--max-file-size", "100000", "--out"])
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .arg(&dir));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("larger than the limit of 100000 bytes"),
        "{}",
        r.stderr
    );
    assert_eq!(listing(&out), ["candidate.ics", "interviewer-grace.ics"]);
    let report = read_json(&report);
    let failed: Vec<_> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["path"].as_str().unwrap().ends_with("big.ics"));

    // A small cap applies to every file read: a template, a request, stdin.
    let r = run(invitoken()
        .args(["check", "--max-file-size", "100"])
        .arg(CANDIDATE));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("larger than the limit of 100 bytes"),
        "{}",
        r.stderr
    );
    let r = run(invitoken().args(["plan", "fixtures/panel.json", "--max-file-size", "100"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("larger than the limit"), "{}", r.stderr);
    let r = run(invitoken()
        .args(["check", "-", "--max-file-size", "100"])
        .write_stdin("x".repeat(101)));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("<stdin> is larger than"), "{}", r.stderr);
    let r = run(invitoken()
        .args(["check", "-", "--max-file-size", "100"])
        .write_stdin("x".repeat(100)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The flag has a range.
    for bad in ["0", "4294967297", "-1", "64MiB"] {
        let r = run(invitoken().args(["check", "-", "--max-file-size", bad]));
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
    }
}

// ---- 10: --ics-dir is all or nothing -----------------------------------------------------------

#[test]
fn blocked_ics_dir_target_left_some_files_written() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("ics");
    std::fs::create_dir(&dir).unwrap();
    // One invite's file name is taken by a folder; an earlier run's candidate.ics is there.
    std::fs::create_dir(dir.join("interviewer-evt-2-edsger.ics")).unwrap();
    std::fs::write(dir.join("candidate.ics"), "old").unwrap();
    // A temp file a killed run left: swept, whatever happens next.
    std::fs::write(dir.join(".invitoken-killed.tmp"), "half").unwrap();
    let r = run(invitoken()
        .args(["resolve", "fixtures/panel.json", "--sandbox", "--ics-dir"])
        .arg(&dir));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("interviewer-evt-2-edsger.ics"),
        "the error names the file: {}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert_eq!(
        listing(&dir),
        ["candidate.ics"],
        "nothing new, no temp file"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("candidate.ics")).unwrap(),
        "old"
    );

    // Once the way is clear, all five are written.
    std::fs::remove_dir(dir.join("interviewer-evt-2-edsger.ics")).unwrap();
    let r = run(invitoken()
        .args(["resolve", "fixtures/panel.json", "--sandbox", "--ics-dir"])
        .arg(&dir));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(listing(&dir).len(), 5, "{:?}", listing(&dir));
    assert!(
        std::fs::read_to_string(dir.join("candidate.ics"))
            .unwrap()
            .starts_with("BEGIN:VCALENDAR")
    );
}

// ---- 17: --in-place respects the file; --out gets the umask's mode ---------------------------

#[test]
fn in_place_lost_mode_group_and_owner() {
    let (_temp, dir) = invites();
    let path = dir.join("candidate.ics");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Another owner and group where we may give them (as root); our own otherwise.
    let _ = std::os::unix::fs::chown(&path, Some(4242), Some(4343));
    let before = std::fs::metadata(&path).unwrap();
    let r = batch(&[&dir, p("--in-place")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = std::fs::metadata(&path).unwrap();
    assert_ne!(after.ino(), before.ino(), "replaced, not written in place");
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!(after.gid(), before.gid());
    assert_eq!(after.uid(), before.uid());
    assert!(!std::fs::read_to_string(&path).unwrap().contains("$Event"));
}

#[test]
fn read_only_file_was_replaced_in_place() {
    let (_temp, dir) = invites();
    let path = dir.join("candidate.ics");
    let original = std::fs::read(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let r = batch(&[&dir, p("--in-place")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o444);
    // The writable one was rewritten.
    let other = std::fs::read_to_string(dir.join("interviewer-grace.ics")).unwrap();
    assert!(!other.contains("$Event"));
    // With --out the read-only original is only read.
    let out = dir.parent().unwrap().join("out");
    let r = batch(&[&dir, p("--out"), &out]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn out_folder_over_the_inputs_replaced_them_like_in_place_without_its_care() {
    let (temp, dir) = invites();
    let candidate = dir.join("candidate.ics");
    let original = std::fs::read(&candidate).unwrap();
    std::os::unix::fs::symlink(&dir, temp.path().join("alias")).unwrap();
    for out in [dir.clone(), temp.path().join("alias"), dir.join("sub/..")] {
        let r = batch(&[&dir, p("--out"), &out]);
        assert_eq!(r.code, 2, "{out:?}: {}", r.stderr);
        assert!(r.stderr.contains("use --in-place"), "{}", r.stderr);
        assert_eq!(std::fs::read(&candidate).unwrap(), original);
    }
    // A file named as an input, with --out its own folder.
    let r = batch(&[&candidate, p("--out"), &dir]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(std::fs::read(&candidate).unwrap(), original);
}

#[test]
fn in_place_split_a_hard_linked_file() {
    let (temp, dir) = invites();
    let path = dir.join("candidate.ics");
    let original = std::fs::read(&path).unwrap();
    let other = temp.path().join("other-name.ics");
    std::fs::hard_link(&path, &other).unwrap();
    let r = batch(&[&dir, p("--in-place")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("has 2 hard links"), "{}", r.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        std::fs::metadata(&other).unwrap().ino()
    );
}

#[test]
fn in_place_replaced_a_symlink_with_a_copy() {
    let temp = tempfile::tempdir().unwrap();
    let real_dir = temp.path().join("real");
    let dir = temp.path().join("invites");
    std::fs::create_dir(&real_dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let real = real_dir.join("candidate.ics");
    std::fs::copy(CANDIDATE, &real).unwrap();
    let link = dir.join("candidate.ics");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let report = temp.path().join("report.json");
    let r = batch(&[&dir, p("--in-place"), p("--report"), &report]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays a link"
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), real);
    assert!(!std::fs::read_to_string(&real).unwrap().contains("$Event"));
    assert_eq!(listing(&real_dir), ["candidate.ics"], "no temp file left");
    let report = read_json(&report);
    assert_eq!(
        report["files"][0]["output"].as_str().unwrap(),
        std::fs::canonicalize(&real).unwrap().to_str().unwrap()
    );
}

#[test]
fn out_files_were_created_0600_whatever_the_umask() {
    for (umask, mode) in [("022", 0o644), ("027", 0o640), ("002", 0o664)] {
        let (temp, dir) = invites();
        let out = temp.path().join("out");
        let report = temp.path().join("report.json");
        let bin = assert_cmd::cargo::cargo_bin("invitoken");
        let r = run(Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(bin)
            .args(["batch", "--sandbox", "--out"])
            .arg(&out)
            .arg("--report")
            .arg(&report)
            .arg(&dir)
            .env("INVITOKEN_LEDGER", support::scratch::fresh_ledger())
            .env_remove("CODESIGNAL_API_KEY")
            .timeout(HANG));
        assert_eq!(r.code, 0, "{}", r.stderr);
        for file in [
            out.join("candidate.ics"),
            out.join("interviewer-grace.ics"),
            report,
        ] {
            let got = std::fs::metadata(&file).unwrap().mode() & 0o7777;
            assert_eq!(got, mode, "umask {umask}: {file:?} is {got:o}");
        }
    }
}
