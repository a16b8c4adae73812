#!/bin/sh
# A cold `invitoken batch` beside its warm re-run, whole process, with the default (SQLite)
# ledger and the sandbox: one generated .ics of 10,000 events (every one with an event link
# and an interview link, three events an interview: 13,334 sessions, about 6 MB).
#
#   cargo build --release && sh benches/cold_batch.sh [path/to/invitoken] [events]
#
# Cold: a fresh ledger file, so every session is recorded. Warm: the same batch again on the
# ledger the cold run filled, so every session is read. Each run writes to a fresh output
# folder. Prints both times and the ratio (cold / warm). The ledger and outputs are in a
# temporary folder on the same disk as $TMPDIR (not tmpfs: the cold run's cost is its syncs).
set -eu

bin=${1:-${CARGO_TARGET_DIR:-target}/release/invitoken}
events=${2:-10000}
[ -x "$bin" ] || { echo "no invitoken binary at $bin: cargo build --release first" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/var/tmp}/invitoken-cold.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/in"

awk -v n="$events" 'BEGIN {
    printf "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Scheduler//EN\r\nMETHOD:REQUEST\r\n";
    for (i = 0; i < n; i++) {
        printf "BEGIN:VEVENT\r\nUID:evt-%d@example.com\r\nDTSTAMP:20270101T000000Z\r\n", i;
        printf "DTSTART:20270302T080000Z\r\nDTEND:20270302T090000Z\r\nX-INTERVIEW-ID:int-%d\r\n", int(i / 3);
        printf "SUMMARY:Interview %d: algorithms and data structures\r\n", i;
        printf "ORGANIZER;CN=Recruiting:mailto:recruiting@example.com\r\n";
        printf "ATTENDEE;CN=Candidate %d;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:c%d@example.org\r\n", i, int(i / 3);
        printf "DESCRIPTION:Hello\\, thank you for interviewing with us. This session covers \r\n";
        printf " algorithms. Join: $Event.CodeSignal.Live.Link\\n Panel: $Interview.CodeSignal.Liv\r\n";
        printf " e.Link\\nPlease be on time\\; the interviewer will wait 10 minutes.\r\n";
        printf "LOCATION:Online\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\n";
    }
    printf "END:VCALENDAR\r\n";
}' > "$dir/in/calendar.ics"

run() {
    rm -rf "$dir/out"
    start=$(date +%s.%N)
    "$bin" batch "$dir/in" --out "$dir/out" --sandbox --ledger "$dir/ledger.sqlite3" \
        --report "$dir/report-$1.json" 2>"$dir/stderr-$1" ||
        { cat "$dir/stderr-$1" >&2; exit 1; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

size=$(wc -c < "$dir/in/calendar.ics")
cold=$(run cold)
warm=$(run warm)
echo "input: $events events, $size bytes; $(tail -n 1 "$dir/stderr-warm")"
echo "cold: ${cold} s (fresh ledger)"
echo "warm: ${warm} s (the same batch again)"
echo "ratio cold/warm: $(awk -v c="$cold" -v w="$warm" 'BEGIN { printf "%.1f", c / w }')"
