#!/usr/bin/env python3
"""Parses every .ics file under a directory with Python's `icalendar` package.

An independent reader for the .ics files the tests write (INVITOKEN_ICS_OUT): every one must be
read by `icalendar.Calendar.from_ical` without an error. Exits 1 listing the files that do not
parse, or when the directory holds no .ics file at all (a test step that wrote nothing is a
failure, not a pass); exits 2 on a usage error.

A file `NAME.ics` may have a `NAME.ics.source` beside it naming the file it was made from (the
corpus tests write one). When both fail with the very same error, the fault is in the source
data, not in what was done to it: that file is listed as excused, not failed.

    python3 scripts/check_ics.py DIR
"""

import sys
import warnings
from pathlib import Path


def parse_error(icalendar, data: bytes):
    """The error `icalendar` reports for `data`, or None when it parses."""
    try:
        with warnings.catch_warnings():
            # Guessed time zones and the like: warnings, not failures.
            warnings.simplefilter("ignore")
            # Several calendars in one file (a stream) are allowed, as RFC 5545 allows.
            calendars = icalendar.Calendar.from_ical(data, multiple=True)
        if not calendars:
            return "no VCALENDAR in it"
    except Exception as e:  # noqa: BLE001 - every failure of the parser is a finding
        return f"{type(e).__name__}: {e}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} DIR", file=sys.stderr)
        return 2
    try:
        import icalendar
    except ImportError:
        print(
            "error: the Python package `icalendar` is missing: "
            "python3 -m pip install 'icalendar>=6'",
            file=sys.stderr,
        )
        return 2
    root = Path(argv[1])
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 1
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".ics")
    if not files:
        print(f"error: no .ics file under {root}: nothing was checked", file=sys.stderr)
        return 1
    failed = []
    excused = []
    for path in files:
        error = parse_error(icalendar, path.read_bytes())
        if error is None:
            continue
        sidecar = path.with_name(path.name + ".source")
        if sidecar.is_file():
            source = Path(sidecar.read_text(encoding="utf-8").strip())
            if source.is_file() and parse_error(icalendar, source.read_bytes()) == error:
                excused.append((path, source, error))
                continue
        failed.append((path, error))
    for path, source, error in excused:
        print(f"excused: {path}: {error} (its source {source} fails alike)")
    for path, error in failed:
        print(f"error: {path}: {error}", file=sys.stderr)
    print(
        f"check_ics: {len(files)} file(s) under {root}: "
        f"{len(files) - len(failed) - len(excused)} parsed, {len(excused)} excused "
        f"(their source fails alike), {len(failed)} failed (icalendar {icalendar.__version__})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
