#!/usr/bin/env bash
# The demo: installs what is missing, then runs the ossl tool.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
if [ $# -eq 0 ]; then set -- demo; fi
swift run ossl "$@"
