#!/usr/bin/env bash
# Leak check: runs N TLS handshakes (mutual TLS with the whole-chain hook and
# the per-certificate callback, SNI picking the server's context, ALPN, and
# every other handshake resuming the previous session) and M certificate
# parses (every getter) in one process, and reports:
#
#   - the resident set size after 1,000 and after N iterations of each loop,
#     natively, and fails when it grows by more than 5 % (4 MiB at least)
#     between the two (it should stay flat);
#   - the bytes definitely lost, under valgrind (default) or LeakSanitizer,
#     and fails unless it is 0.
#
#   Scripts/leakcheck.sh [--lsan] [HANDSHAKES] [PARSES]   (defaults: 10000 10000)
#
#   --lsan   use LeakSanitizer (a -sanitize=address build) instead of valgrind:
#            minutes faster, same verdict on definitely lost bytes.
#
# Debian's valgrind 3.19 cannot read the DWARF 5 debug info Swift 6 emits,
# so valgrind runs a copy of the binary stripped of debug info.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=valgrind
if [ "${1:-}" = "--lsan" ]; then
    tool=lsan
    shift
fi
handshakes=${1:-10000}
parses=${2:-10000}
checkpoint=1000

Scripts/bootstrap.sh
if [ "$tool" = valgrind ] && ! command -v valgrind >/dev/null 2>&1; then
    echo "leakcheck: installing valgrind"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
fi

swift build -c release --product soak >/dev/null
binary=$(swift build -c release --show-bin-path 2>/dev/null)/soak
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Natively: RSS at each checkpoint.
echo "leakcheck: native run, $handshakes handshakes and $parses parses (RSS in KiB)"
"$binary" --handshakes "$handshakes" --parses "$parses" --checkpoint "$checkpoint" | tee "$work/native.log" | sed 's/^/leakcheck:   /'
status=0
for loop in handshakes parses; do
    first=$(awk -v c="$checkpoint" "\$1 == \"rss-after-$loop\" && \$2 == c {print \$3}" "$work/native.log")
    last=$(awk "\$1 == \"rss-after-$loop\" {value = \$3} END {print value}" "$work/native.log")
    [ -z "$first" ] || [ -z "$last" ] && continue
    growth=$((last - first))
    allowed=$(( first / 20 > 4096 ? first / 20 : 4096 ))
    echo "leakcheck: RSS over $loop: ${first} KiB after $checkpoint, ${last} KiB at the end (${growth} KiB growth, ${allowed} allowed)"
    if [ "$growth" -gt "$allowed" ]; then
        echo "leakcheck: FAILED — RSS grows over $loop" >&2
        status=1
    fi
done

# 2. Leaks: valgrind on a stripped copy, or a LeakSanitizer build.
if [ "$tool" = valgrind ]; then
    cp "$binary" "$work/soak"
    strip -g "$work/soak"
    echo "leakcheck: $handshakes handshakes, $parses certificate parses under valgrind (this takes a while)"
    valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --log-file="$work/valgrind.log" \
        "$work/soak" --handshakes "$handshakes" --parses "$parses" --checkpoint "$checkpoint" >"$work/soak.log"
    definitely=$(grep -E "definitely lost:" "$work/valgrind.log" | sed -E 's/.*definitely lost: ([0-9,]+) bytes.*/\1/' | tr -d ',')
    definitely=${definitely:-0}
    errors=$(grep -E "ERROR SUMMARY:" "$work/valgrind.log" | sed -E 's/.*ERROR SUMMARY: ([0-9,]+) errors.*/\1/' | tr -d ',')
    echo "leakcheck: definitely lost: ${definitely} bytes; valgrind errors: ${errors:-?}"
    grep -E "definitely lost|indirectly lost|possibly lost|still reachable" "$work/valgrind.log" | sed 's/^==[0-9]*== */leakcheck:   /'
    report=$work/valgrind.log
else
    swift build -c release --product soak --sanitize=address --scratch-path .build-address-release >/dev/null
    lsan_binary=$(swift build -c release --sanitize=address --scratch-path .build-address-release --show-bin-path 2>/dev/null)/soak
    echo "leakcheck: $handshakes handshakes, $parses certificate parses under LeakSanitizer"
    set +e
    ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/Scripts/lsan.supp:print_suppressions=0 \
        "$lsan_binary" --handshakes "$handshakes" --parses "$parses" --checkpoint "$checkpoint" >"$work/soak.log" 2>"$work/lsan.log"
    set -e
    definitely=$(awk '/^Direct leak of/ {sum += $4} END {print sum + 0}' "$work/lsan.log")
    echo "leakcheck: definitely lost (LeakSanitizer direct leaks): ${definitely} bytes"
    grep -E "^SUMMARY" "$work/lsan.log" | sed 's/^/leakcheck:   /' || true
    report=$work/lsan.log
fi
if ! grep -q "^soak: done" "$work/soak.log"; then
    echo "leakcheck: FAILED — the soak did not finish:" >&2
    cat "$work/soak.log" >&2
    status=1
fi
if [ "$definitely" != "0" ]; then
    echo "leakcheck: FAILED — memory definitely lost; the report:" >&2
    cat "$report" >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "leakcheck: OK"
exit "$status"
