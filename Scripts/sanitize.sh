#!/usr/bin/env bash
# Runs the test suite under the address sanitizer (with LeakSanitizer), then
# under the thread sanitizer. Each uses its own build folder.
#
#   Scripts/sanitize.sh [address|thread|all] [extra swift test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
shift || true
Scripts/bootstrap.sh

run() {
    local sanitizer=$1
    shift
    echo "sanitize: swift test --sanitize=$sanitizer $*"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    LSAN_OPTIONS=suppressions=$PWD/Scripts/lsan.supp:print_suppressions=0 \
    TSAN_OPTIONS=halt_on_error=0 \
        swift test --scratch-path ".build-$sanitizer" --sanitize="$sanitizer" "$@"
}

case "$which" in
    address) run address "$@" ;;
    thread) run thread "$@" ;;
    all) run address "$@"; run thread "$@" ;;
    *) echo "usage: Scripts/sanitize.sh [address|thread|all] [swift test arguments]" >&2; exit 2 ;;
esac
