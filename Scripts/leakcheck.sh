#!/usr/bin/env bash
# Leak check: runs N TLS handshakes (mutual TLS with a whole-chain hook and a
# per-certificate callback) and M certificate parses in one process under
# valgrind, and prints the bytes definitely lost and the RSS as it goes.
#
#   Scripts/leakcheck.sh [HANDSHAKES] [PARSES]      (defaults: 1000 1000)
#
# Debian's valgrind 3.19 cannot read the DWARF 5 debug info Swift 6 emits,
# so the binary is run from a copy stripped of debug info.
set -euo pipefail
cd "$(dirname "$0")/.."
handshakes=${1:-1000}
parses=${2:-1000}

Scripts/bootstrap.sh
if ! command -v valgrind >/dev/null 2>&1; then
    echo "leakcheck: installing valgrind"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi

swift build -c release --product soak >/dev/null
binary=$(swift build -c release --show-bin-path)/soak
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$binary" "$work/soak"
strip -g "$work/soak"

checkpoint=$(( handshakes > 1000 ? 1000 : (handshakes > 0 ? handshakes : 1) ))
echo "leakcheck: native run (RSS in KiB should stay flat between checkpoints)"
"$binary" --handshakes "$handshakes" --parses "$parses" --checkpoint "$checkpoint" | sed 's/^/leakcheck:   /'
echo "leakcheck: $handshakes handshakes, $parses certificate parses under valgrind"
valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --log-file="$work/valgrind.log" \
    "$work/soak" --handshakes "$handshakes" --parses "$parses" --checkpoint "$checkpoint" >"$work/soak.log"

definitely=$(grep -E "definitely lost:" "$work/valgrind.log" | sed -E 's/.*definitely lost: ([0-9,]+) bytes.*/\1/' | tr -d ',')
definitely=${definitely:-0}
errors=$(grep -E "ERROR SUMMARY:" "$work/valgrind.log" | sed -E 's/.*ERROR SUMMARY: ([0-9,]+) errors.*/\1/' | tr -d ',')
echo "leakcheck: definitely lost: ${definitely} bytes; valgrind errors: ${errors:-?}"
grep -E "definitely lost|indirectly lost|possibly lost|still reachable" "$work/valgrind.log" | sed 's/^==[0-9]*== */leakcheck:   /'
if [ "$definitely" != "0" ]; then
    echo "leakcheck: FAILED — memory definitely lost; valgrind's report:" >&2
    cat "$work/valgrind.log" >&2
    exit 1
fi
echo "leakcheck: OK"
