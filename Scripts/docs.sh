#!/usr/bin/env bash
# Builds the documentation of the library targets (OpenSSL, OpenSSLNIO,
# OpenSSLCertificates: their DocC catalogs in Sources/<Target>/<Target>.docc,
# whose articles are symlinks to the guides in Docs/) with swift-docc-plugin.
#
# Fails (exit 1) when
# - docc prints a warning (an unresolved symbol link, a bad article, …), or
# - a public symbol has no doc comment. DocC itself only counts those (its
#   coverage option is experimental and prints a table, not a verdict), so
#   Scripts/symbols.py reads the symbol graphs docc was given and names each
#   undocumented declaration with its file and line. An implementation of a
#   protocol requirement with no comment of its own counts as documented:
#   DocC shows the requirement's text there.
#
# The archives go to .build/docs/<Target>.doccarchive (DOCS_OUTPUT overrides;
# outside git either way). SWIFT_SCRATCH_PATH, when set, is the build folder
# instead of .build (as in Scripts/test.sh). `swift package --disable-sandbox preview-documentation
# --target OpenSSL` serves one while you write.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
started=$(date +%s)
output=${DOCS_OUTPUT:-.build/docs}
targets=(OpenSSL OpenSSLNIO OpenSSLCertificates)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

target_arguments=()
for target in "${targets[@]}"; do target_arguments+=(--target "$target"); done
mkdir -p "$output"
set +e
scratch=()
if [ -n "${SWIFT_SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$SWIFT_SCRATCH_PATH"); fi
swift package "${scratch[@]}" --allow-writing-to-directory "$output" generate-documentation \
    "${target_arguments[@]}" --output-path "$output" --verbose 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "docs.sh: the documentation build failed (exit $status)" >&2
    exit 1
fi

failed=0
warnings=$(grep -c "warning:" "$log" || true)
if [ "$warnings" -ne 0 ]; then
    echo "docs.sh: docc printed $warnings warning(s) (above); fix them at their source" >&2
    failed=1
fi

# The symbol graphs the plugin handed to docc, one directory per target
# (the plugin's --verbose output names them).
for target in "${targets[@]}"; do
    graphs=$(grep -o "docc invocation: .*" "$log" | grep -- "--fallback-display-name $target " \
        | grep -o -- "--additional-symbol-graph-dir [^ ]*" | head -1 | cut -d' ' -f2 || true)
    if [ -z "$graphs" ] || [ ! -d "$graphs" ]; then
        echo "docs.sh: cannot find the symbol graphs of $target in the plugin's output" >&2
        failed=1
        continue
    fi
    if ! python3 Scripts/symbols.py undocumented "$graphs" "$target"; then
        echo "docs.sh: $target has public symbols without a doc comment (above)" >&2
        failed=1
    fi
done

[ "$failed" -eq 0 ] || exit 1
echo "docs.sh: documentation of ${targets[*]} in $output/<Target>.doccarchive, no warnings, every public symbol documented ($(( $(date +%s) - started ))s)" >&2
