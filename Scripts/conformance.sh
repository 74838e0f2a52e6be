#!/usr/bin/env bash
# The interop matrix alone (Tests/InteropTests): this library as client and
# as server against openssl s_server/s_client, Python's ssl module and GnuTLS
# (gnutls-serv/gnutls-cli), every peer a child process on 127.0.0.1.
#
#   Scripts/conformance.sh [--skip-build] [--update-docs]
#
# Prints the table (rows: cases; columns: the peer program in its role, this
# library taking the other role), the failures and skips with their reasons,
# and a last line "N passed, M failed, K skipped". Exits non-zero when a cell
# failed, a cell is missing from the report, or the test run itself failed.
# --update-docs writes the table into Docs/conformance.md ("Last result").
#
# Environment: INTEROP_JOBS (cells at once, default 4), INTEROP_ONLY (run the
# cells whose name contains one of these |-separated parts), CONFORMANCE_TIMEOUT
# (seconds for the whole run, default 900), SWIFT_SCRATCH_PATH (the build
# folder, instead of .build).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
update_docs=0
for argument in "$@"; do
    case "$argument" in
        --skip-build) build=0 ;;
        --update-docs) update_docs=1 ;;
        *) echo "usage: Scripts/conformance.sh [--skip-build] [--update-docs]" >&2; exit 2 ;;
    esac
done

Scripts/bootstrap.sh
scratch=()
if [ -n "${SWIFT_SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$SWIFT_SCRATCH_PATH"); fi
if [ "$build" = 1 ]; then
    swift build --build-tests "${scratch[@]}"
fi

work=$(mktemp -d)
runner=
cleanup() {
    # The test run has a process group of its own (setsid): end all of it.
    # Peers are in groups of their own and die by their own time limit.
    if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
        kill -KILL -- "-$runner" 2>/dev/null || kill -KILL "$runner" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

report="$work/report.tsv"
log="$work/swift-test.log"
started=$(date +%s)
set +e
INTEROP_REPORT="$report" INTEROP_REQUIRE_PEERS=1 \
    setsid timeout -s KILL "${CONFORMANCE_TIMEOUT:-900}" \
    swift test --skip-build "${scratch[@]}" --filter InteropTests >"$log" 2>&1 &
runner=$!
wait "$runner"
status=$?
runner=
set -e
elapsed=$(( $(date +%s) - started ))

if [ ! -s "$report.cells" ]; then
    echo "conformance: the matrix did not run (swift test exited $status); its log:" >&2
    tail -n 60 "$log" >&2
    exit 1
fi

table="$work/table.txt"
awk -F'\t' -v columns="s_server s_client py-server py-client gnutls-serv gnutls-cli" \
    -v details="$work/details.txt" -v summary="$work/summary.txt" '
    BEGIN {
        ncolumns = split(columns, column, " ")
        width = 34
    }
    FNR == NR { # the list of every cell: index, case, column
        if (!($1 in name)) { name[$1] = $2; if ($1 + 0 > last) last = $1 + 0 }
        expected[$1 SUBSEP $3] = 1
        next
    }
    { # one line per finished cell: index, case, column, status, seconds, note
        status[$1 SUBSEP $3] = $4
        if ($4 != "passed") printf "%-7s %s × %s: %s\n", toupper($4), $2, $3, $6 > details
    }
    END {
        printf "%-" width "s", "case \\ peer (role)"
        for (c = 1; c <= ncolumns; c++) printf " %-11s", column[c]
        printf "\n"
        passed = failed = skipped = 0
        for (i = 0; i <= last; i++) {
            if (!(i in name)) continue
            printf "%-" width "s", name[i]
            for (c = 1; c <= ncolumns; c++) {
                key = i SUBSEP column[c]
                if (!(key in expected)) { mark = "" }
                else if (!(key in status)) { mark = "MISSING"; failed++
                    printf "MISSING %s × %s: no result (the run ended before it)\n", name[i], column[c] > details }
                else if (status[key] == "passed") { mark = "ok"; passed++ }
                else if (status[key] == "skipped") { mark = "skip"; skipped++ }
                else { mark = "FAIL"; failed++ }
                printf " %-11s", mark
            }
            printf "\n"
        }
        printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped > summary
    }' "$report.cells" "$report" | sed 's/ *$//' >"$table"

cat "$table"
if [ -s "$work/details.txt" ]; then
    echo
    sort "$work/details.txt"
fi
summary=$(cat "$work/summary.txt")
echo
echo "conformance: $(wc -l <"$report.cells") cells in ${elapsed}s; swift test exited $status"

if [ "$update_docs" = 1 ]; then
    doc=Docs/conformance.md
    # The python the harness runs: Debian's when present.
    if [ -x /usr/bin/python3 ]; then python_version=$(/usr/bin/python3 --version 2>&1); else python_version=$(python3 --version 2>&1); fi
    {
        echo '<!-- conformance:begin -->'
        echo "Run on $(date -u +%Y-%m-%d), OpenSSL $(openssl version | awk '{print $2}'), $(gnutls-cli --version 2>/dev/null | head -n 1), $python_version, in ${elapsed}s:"
        echo
        echo '```'
        cat "$table"
        echo "$summary"
        echo '```'
        echo '<!-- conformance:end -->'
    } >"$work/result.md"
    awk -v result="$work/result.md" '
        /<!-- conformance:begin -->/ { while ((getline line < result) > 0) print line; skipping = 1; next }
        /<!-- conformance:end -->/ { skipping = 0; next }
        !skipping { print }' "$doc" >"$work/doc.md"
    cp "$work/doc.md" "$doc"
    echo "conformance: wrote the result into $doc"
fi

echo "$summary"
failed=$(echo "$summary" | awk '{print $3}')
if [ "$failed" != 0 ] || [ "$status" != 0 ]; then
    if [ "$failed" = 0 ]; then
        echo "conformance: swift test failed outside the cells; its log:" >&2
        grep -E "✘|error|failed" "$log" | tail -n 40 >&2
    fi
    exit 1
fi
