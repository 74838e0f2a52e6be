#!/usr/bin/env bash
# The code style (the root .swift-format), checked with the toolchain's
# swift-format:
#
#   Scripts/format.sh          lint: exits 1 and names each place that differs
#   Scripts/format.sh --fix    rewrites the files in place
#
# The paths are every Swift file of the project: the package, the examples,
# the benchmarks and the fuzz driver.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Package.swift Sources Tests Examples Benchmarks/Package.swift Benchmarks/Sources Fuzz)
case "${1:-}" in
    --fix) swift format format --in-place --recursive --parallel "${paths[@]}" ;;
    "")
        if ! swift format lint --strict --recursive --parallel "${paths[@]}"; then
            echo "format: the code differs from .swift-format; run Scripts/format.sh --fix and commit" >&2
            exit 1
        fi
        echo "format: clean (.swift-format)" >&2
        ;;
    *) echo "format: unknown option $1 (known: --fix)" >&2; exit 2 ;;
esac
