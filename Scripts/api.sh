#!/usr/bin/env bash
# The public API of the library targets, one sorted text file each:
# API/<Target>.txt, one line per public declaration ("path [kind]:
# declaration"), generated from the symbol graph swiftc emits (via
# `swift package dump-symbol-graph`; Scripts/symbols.py says what is left
# out: synthesized members and declarations inherited from other modules).
#
#   Scripts/api.sh          regenerates API/ (commit it with the change)
#   Scripts/api.sh --check  regenerates into a temporary folder and fails,
#                           with the diff, when API/ differs: the public API
#                           changed without the listing (CI runs this)
#
# SWIFT_SCRATCH_PATH, when set, is the build folder instead of .build (as in
# Scripts/test.sh): `Scripts/matrix.sh run Scripts/api.sh --check` lists the
# API as built against OpenSSL 3.5.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
for argument in "$@"; do
    case "$argument" in
        --check) check=1 ;;
        *) echo "api.sh: unknown option $argument (known: --check)" >&2; exit 2 ;;
    esac
done
Scripts/bootstrap.sh
started=$(date +%s)
targets=(OpenSSL OpenSSLNIO OpenSSLCertificates)

log=$(mktemp)
generated=$(mktemp -d)
trap 'rm -rf "$log" "$generated"' EXIT
scratch=()
if [ -n "${SWIFT_SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$SWIFT_SCRATCH_PATH"); fi
# Where SwiftPM writes the graphs: emptied first, so that no graph of an
# earlier run can stand in for one this run failed to write.
graphs=$(dirname "$(swift build "${scratch[@]}" --show-bin-path)")/symbolgraph
rm -rf "$graphs"
# dump-symbol-graph also tries the test modules and exits non-zero when the
# tests have not been built (a fresh clone); only the library graphs matter.
if ! swift package "${scratch[@]}" dump-symbol-graph --minimum-access-level public >"$log" 2>&1; then
    for target in "${targets[@]}"; do
        if ! grep -q "^Build complete" "$log" || [ ! -s "$graphs/$target.symbols.json" ]; then
            cat "$log" >&2
            echo "api.sh: dump-symbol-graph wrote no symbol graph for $target" >&2
            exit 1
        fi
    done
fi
for target in "${targets[@]}"; do
    python3 Scripts/symbols.py listing "$graphs" "$target" >"$generated/$target.txt"
    if [ ! -s "$generated/$target.txt" ]; then
        echo "api.sh: no public symbol found for $target in $graphs" >&2
        exit 1
    fi
done

if [ "$check" -eq 1 ]; then
    if ! diff -ru API "$generated"; then
        echo "api.sh: the public API changed; run Scripts/api.sh and commit API/ with the change" >&2
        exit 1
    fi
    echo "api.sh: API/ matches the public API of ${targets[*]} ($(( $(date +%s) - started ))s)" >&2
    exit 0
fi

mkdir -p API
rm -f API/*.txt
cp "$generated"/*.txt API/
echo "api.sh: wrote $(cd API && wc -l -- *.txt | tail -1 | awk '{print $1}') declarations to API/ ($(( $(date +%s) - started ))s)" >&2
