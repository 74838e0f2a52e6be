#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (with
# tests), runs the behaviour suite, then the interop matrix against real
# peers (Scripts/conformance.sh; Docs/conformance.md). Each step says how
# long it took (on stderr).
#
# SWIFT_SCRATCH_PATH, when set, is the build folder instead of .build
# (Scripts/matrix.sh uses it so the Debian 13 root never shares one).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
scratch=()
if [ -n "${SWIFT_SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$SWIFT_SCRATCH_PATH"); fi
step=$(date +%s)
took() { local now; now=$(date +%s); echo "test.sh: $1 in $(( now - step ))s" >&2; step=$now; }
swift build --build-tests "${scratch[@]}"
took built
swift test --skip-build "${scratch[@]}" --skip InteropTests "$@"
took "suite ran"
Scripts/conformance.sh --skip-build
took "interop matrix ran"
