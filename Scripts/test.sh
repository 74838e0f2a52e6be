#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (with
# tests), and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build "$@"
