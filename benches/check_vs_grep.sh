#!/usr/bin/env bash
# Whole-process `invitoken check` beside `grep -c -F` on the same file, with peak memory.
#
#   cargo build --release --bin invitoken && benches/check_vs_grep.sh
#
# From the repo root. Generates two inputs (the same bytes on every run) in a temp dir:
#   invite.txt  256 MiB of invite-like text, a token every ~2 KB    vs grep -c -F '$Interview'
#   dense.txt    64 MiB of token-dense lines                        vs grep -c -F '$Event'
# and runs grep and check alternately RUNS times each (default 5), stdout and stderr to a pipe
# (GNU grep stops at its first match when stdout is /dev/null). Prints the median wall seconds,
# the ratio and the peak RSS (/usr/bin/time). Env: INVITOKEN_BIN (default
# ${CARGO_TARGET_DIR:-target}/release/invitoken), RUNS, SIZE_MB (invite-like size, default 256),
# DENSE_MB (default 64), KEEP=1 keeps the temp dir.
set -euo pipefail

bin=${INVITOKEN_BIN:-${CARGO_TARGET_DIR:-target}/release/invitoken}
runs=${RUNS:-5}
size_mb=${SIZE_MB:-256}
dense_mb=${DENSE_MB:-64}
[ -x "$bin" ] || { echo "no $bin: run cargo build --release --bin invitoken first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/check_vs_grep.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$dir"' EXIT

# `file` repeated to `mb` MiB, less the line the cut falls in.
grow() {
    local file=$1 mb=$2
    while [ "$(stat -c %s "$file")" -lt $((mb * 1024 * 1024)) ]; do
        cat "$file" "$file" > "$file.2" && mv "$file.2" "$file"
    done
    head -c $((mb * 1024 * 1024)) "$file" | sed '$d' > "$file.2" && mv "$file.2" "$file"
}

# Invite-like text: prose lines, prices, and a token line every ~2 KB.
{
    for i in $(seq 1 32); do
        echo "Hi there, thank you for taking the time to meet the team (round $i). The session"
        echo "is a conversation about how you approach problems; there is no trick question."
        echo "Bring a laptop with a recent browser and a quiet room. We reimburse travel up to"
        echo "\$100 per day and a lunch allowance of \$25; keep your receipts. Our office is on"
        echo "the third floor; the reception desk will direct you to the meeting room $i."
        echo "If anything comes up, reply to this email and we will find another time."
        echo "Kind regards, The Recruiting Team - https://careers.example.com/jobs/$i"
        echo "Join here: \$Interview.CodeSignal.Live.Link ($(( i % 3 + 1 )) of 3), \$Candidate.Name."
        echo ""
    done
} > "$dir/invite.txt"
grow "$dir/invite.txt" "$size_mb"

for _ in $(seq 1 64); do
    echo 'Link: $Event.CodeSignal.Live.Link or $Interview.CodeSignal.Live.Link ; $Candidate.Name at $Event.Start.'
done > "$dir/dense.txt"
grow "$dir/dense.txt" "$dense_mb"

# Runs `$@` with stdout and stderr to a pipe; prints "seconds peak_kib".
measure() {
    local rss="$dir/rss" t0 t1
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$rss" "$@" 2>&1 | cat > /dev/null
    t1=$EPOCHREALTIME
    echo "$(echo "$t1 - $t0" | bc -l) $(tail -n 1 "$rss")"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

compare() {
    local label=$1 file=$2 pattern=$3 limit=$4
    local bytes
    bytes=$(stat -c %s "$file")
    : > "$dir/grep.t"
    : > "$dir/check.t"
    # Read once so the first run does not pay for the page cache.
    cat "$file" > /dev/null
    for _ in $(seq 1 "$runs"); do
        measure grep -c -F "$pattern" "$file" >> "$dir/grep.t"
        measure "$bin" --color never --max-file-size "$((bytes + 1))" check "$file" >> "$dir/check.t"
    done
    local g c gr cr
    g=$(cut -d' ' -f1 "$dir/grep.t" | median)
    c=$(cut -d' ' -f1 "$dir/check.t" | median)
    gr=$(cut -d' ' -f2 "$dir/grep.t" | sort -n | tail -n 1)
    cr=$(cut -d' ' -f2 "$dir/check.t" | sort -n | tail -n 1)
    printf '%-12s %5d MiB  grep -c -F %-11s %7.3f s %6d KiB   check %7.3f s %6d KiB   ratio %5.2fx (goal <= %sx)\n' \
        "$label" "$((bytes / 1024 / 1024))" "'$pattern'" "$g" "$gr" "$c" "$cr" \
        "$(echo "$c / $g" | bc -l)" "$limit"
}

for f in invite dense; do
    printf '%s: ' "$f.txt" >&2
    "$bin" --color never --max-file-size 4294967296 check "$dir/$f.txt" 2>&1 | tail -n 1 >&2
done
compare invite-like "$dir/invite.txt" '$Interview' 2
compare dense "$dir/dense.txt" '$Event' 3
