#!/usr/bin/env bash
# Runs the test suite under the address sanitizer (with LeakSanitizer), then
# under the thread sanitizer, each in its own build folder (.build-address,
# .build-thread), and prints a verdict for each. Exit status: 0 when both are
# clean (no sanitizer report, every test passing), 1 otherwise.
#
#   Scripts/sanitize.sh [address|thread|all] [extra swift test arguments]
#
# LeakSanitizer suppressions (Scripts/lsan.supp, also built into the test
# binary) cover leaks outside this project only: Foundation, XCTest, Dispatch.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
shift || true
Scripts/bootstrap.sh
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run() {
    local sanitizer=$1
    shift
    local log=$logs/$sanitizer.log
    echo "sanitize: swift test --sanitize=$sanitizer $*"
    set +e
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    LSAN_OPTIONS=suppressions=$PWD/Scripts/lsan.supp:print_suppressions=0 \
    TSAN_OPTIONS=halt_on_error=0 \
        swift test --scratch-path ".build-$sanitizer" --sanitize="$sanitizer" "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    set -e
    local reports
    reports=$(grep -c -E "^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (AddressSanitizer|LeakSanitizer))" "$log" || true)
    local summary
    summary=$(grep -a -E "^(✔|✘) Test run with" "$log" | tail -1 || true)
    if [ "$status" -eq 0 ] && [ "$reports" -eq 0 ]; then
        echo "sanitize: $sanitizer: clean — ${summary:-tests passed}"
        return 0
    fi
    echo "sanitize: $sanitizer: FAILED — $reports sanitizer report(s), exit status $status; ${summary:-}" >&2
    return 1
}

case "$which" in
    address) run address "$@" ;;
    thread) run thread "$@" ;;
    all)
        failed=0
        run address "$@" || failed=1
        run thread "$@" || failed=1
        exit "$failed"
        ;;
    *) echo "usage: Scripts/sanitize.sh [address|thread|all] [swift test arguments]" >&2; exit 2 ;;
esac
