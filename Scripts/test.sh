#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (with
# tests), runs the behaviour suite, then the interop matrix against real
# peers (Scripts/conformance.sh; Docs/conformance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build --skip InteropTests "$@"
Scripts/conformance.sh --skip-build
