#!/usr/bin/env bash
# Fuzzes the library with libFuzzer: one binary (swiftc -sanitize=fuzzer,address)
# holding the library sources, Fuzz/FuzzMain.swift and the harness in
# Tests/OpenSSLTests/Fuzz, run once per target for a bounded time.
#
#   Scripts/fuzz.sh [-t SECONDS] [TARGET ...]
#
#   -t SECONDS   fuzzing time per target (default 60)
#   TARGET       x509-pem x509-der pkey csr crl pkcs12 x509-json tls-server
#                tls-client session (default: all)
#
# Seeds are written by the binary itself (made with the library's builders),
# plus the committed PEM fixtures and every saved finding. The corpus grows in
# .build-fuzz/corpus/<target> and is reused by the next run.
#
# A finding is a crash, a sanitizer report, a leak, a timeout or an input
# after which OpenSSL's error queue is not empty (the harness aborts then).
# Each one is copied to Tests/OpenSSLTests/Fixtures/fuzz-regressions/<target>/,
# where FuzzRegressionTests replays it in the normal test run; after a
# finding, fuzzing that target goes on for the rest of its time.
#
# Exit status: 0 when no target found anything, 1 otherwise, 2 for bad usage
# or a build failure.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
all_targets=(x509-pem x509-der pkey csr crl pkcs12 x509-json tls-server tls-client session)
while getopts "t:h" option; do
    case "$option" in
        t) seconds=$OPTARG ;;
        *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
    if [[ ! " ${all_targets[*]} " =~ " $target " ]]; then
        echo "fuzz: unknown target '$target' (one of: ${all_targets[*]})" >&2
        exit 2
    fi
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "fuzz: -t needs a whole number of seconds" >&2
    exit 2
fi

Scripts/bootstrap.sh
root=$PWD
build=$root/.build-fuzz
mkdir -p "$build"
regressions=$root/Tests/OpenSSLTests/Fixtures/fuzz-regressions
common=(-sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -g -I "$root/Sources/COpenSSL")
linker=()
if command -v ld.lld >/dev/null 2>&1 || [ -x "$(dirname "$(command -v swiftc)")/ld.lld" ]; then
    linker=(-use-ld=lld)
fi

# 1. The library as a static module, rebuilt when a source changed.
library_sources=()
while IFS= read -r file; do library_sources+=("$file"); done < <(find Sources/OpenSSL -name '*.swift' | sort)
if [ ! -f "$build/libOpenSSL.a" ] || [ -n "$(find Sources/OpenSSL Sources/COpenSSL -newer "$build/libOpenSSL.a" -type f | head -1)" ]; then
    echo "fuzz: compiling the library (${#library_sources[@]} files) with -sanitize=fuzzer,address"
    (cd "$build" && swiftc "${common[@]}" -module-name OpenSSL -emit-module \
        -emit-module-path "$build/OpenSSL.swiftmodule" -emit-library -static -o "$build/libOpenSSL.a" \
        "${library_sources[@]/#/$root/}") || { echo "fuzz: the library did not compile" >&2; exit 2; }
fi

# 2. The fuzzer binary: entry points, harness and seeds. The x509-json target
#    also runs the CLI's own report code (ossl x509 --json) when it is there.
harness_sources=(Fuzz/FuzzMain.swift Tests/OpenSSLTests/Fuzz/FuzzHarness.swift Tests/OpenSSLTests/Fuzz/FuzzSeeds.swift)
cli_sources=(Sources/ossl/Support/CertificateReport.swift Sources/ossl/Support/JSON.swift)
binary=$build/fuzz-openssl
compile_targets() {
    swiftc "${common[@]}" "${linker[@]}" -module-name FuzzTargets -I "$build" "$@" \
        -L "$build" -lOpenSSL -lssl -lcrypto -o "$binary" 2> >(grep -v "warning: Cannot export local symbol" >&2)
}
if [ ! -x "$binary" ] || [ "$build/libOpenSSL.a" -nt "$binary" ] || \
   [ -n "$(find "${harness_sources[@]}" $(ls "${cli_sources[@]}" 2>/dev/null) -newer "$binary" | head -1)" ]; then
    echo "fuzz: compiling the fuzz targets"
    if [ -f "${cli_sources[0]}" ] && [ -f "${cli_sources[1]}" ] && \
       compile_targets "${harness_sources[@]}" "${cli_sources[@]}" -D OSSL_CLI_JSON 2>"$build/cli-json.log"; then
        echo "fuzz: x509-json runs the CLI's CertificateReport"
    else
        [ -f "${cli_sources[0]}" ] && echo "fuzz: the CLI's report code did not compile here (see $build/cli-json.log); x509-json fuzzes the library calls it makes"
        compile_targets "${harness_sources[@]}" || { echo "fuzz: the fuzz targets did not compile" >&2; exit 2; }
    fi
fi

# 3. Seeds: written by the binary, plus the PEM fixtures and saved findings.
seeds=$build/seeds
rm -rf "$seeds"
FUZZ_WRITE_SEEDS="$seeds" ASAN_OPTIONS=detect_leaks=0 "$binary" >/dev/null
for target in x509-pem x509-json; do
    cp Tests/OpenSSLTests/Fixtures/*.pem "$seeds/$target/" 2>/dev/null || true
done
for target in "${all_targets[@]}"; do
    mkdir -p "$seeds/$target"
    if [ -d "$regressions/$target" ]; then
        cp "$regressions/$target"/* "$seeds/$target/" 2>/dev/null || true
    fi
done

# 4. Fuzz each target for its time; restart after a finding until the time is used.
total_findings=0
summary=()
for target in "${targets[@]}"; do
    corpus=$build/corpus/$target
    artifacts=$build/artifacts/$target
    log=$build/logs/$target.log
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    : >"$log"
    executions=0
    deadline=$(( $(date +%s) + seconds ))
    runs=0
    echo "fuzz: $target for ${seconds}s"
    while true; do
        left=$(( deadline - $(date +%s) ))
        [ "$left" -lt 1 ] && break
        runs=$((runs + 1))
        [ "$runs" -gt 50 ] && break
        set +e
        FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
            "$binary" "$corpus" "$seeds/$target" -max_total_time="$left" -timeout=25 -rss_limit_mb=3072 \
            -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/" >>"$log" 2>&1
        status=$?
        set -e
        # Executions of this run: the final stats line, or the last status line after a crash.
        count=$(grep -a -E "^stat::number_of_executed_units:" "$log" | tail -1 | awk '{print $2}')
        if [ -z "$count" ]; then
            count=$(grep -a -o -E "^#[0-9]+" "$log" | tail -1 | tr -d '#')
        fi
        executions=$((executions + ${count:-0}))
        # Each run's stats are counted once: mark them as read.
        sed -i -E 's/^stat::number_of_executed_units:/counted::number_of_executed_units:/; s/^#([0-9]+)/counted#\1/' "$log"
        [ "$status" -eq 0 ] && break
    done
    findings=$(find "$artifacts" -type f | wc -l)
    if [ "$findings" -gt 0 ]; then
        mkdir -p "$regressions/$target"
        cp "$artifacts"/* "$regressions/$target/"
        echo "fuzz:   findings saved under ${regressions#$root/}/$target (log: ${log#$root/})"
    fi
    total_findings=$((total_findings + findings))
    corpus_size=$(find "$corpus" -type f | wc -l)
    line=$(printf "%-11s %12s executions  %3d findings  corpus %d" "$target" "$executions" "$findings" "$corpus_size")
    echo "fuzz:   $line"
    summary+=("$line")
done

echo "fuzz: summary (${seconds}s per target)"
for line in "${summary[@]}"; do echo "fuzz:   $line"; done
if [ "$total_findings" -gt 0 ]; then
    echo "fuzz: $total_findings finding(s); replay them with: swift test --filter FuzzRegression" >&2
    exit 1
fi
echo "fuzz: no findings"
