#!/usr/bin/env bash
# Benchmarks: this library, the plain C reference (libssl directly) and
# swift-nio-ssl, the same workloads alternating in one process (issue 8).
#
#   Scripts/bench.sh               full run: timing (15 rounds) and callgrind;
#                                  writes Benchmarks/results.md
#   Scripts/bench.sh --quick       timing only, 5 short rounds (under a minute
#                                  once built); prints the table, writes
#                                  Benchmarks/.build-bench/results-quick.md
#   Scripts/bench.sh --callgrind   instruction counts only (W1, W3, N1, N3, W8); prints them
#   Scripts/bench.sh --no-callgrind  full timing run without callgrind
#   Any other argument goes to `bench run` (e.g. --workloads w1,w3 --rounds 21).
#
# Environment: BENCH_GROUPS (e.g. X25519:P-256; keep P-256 for W1c's TLS 1.2
# ECDSA certificate): the key-exchange groups of every
# context, in all three implementations, instead of each one's defaults
# (OpenSSL 3.0: X25519 first; OpenSSL 3.5 and swift-nio-ssl 2.37:
# X25519MLKEM768 first); BENCH_TICKETS, BENCH_AA, BENCH_COPYING_PUMP (see
# Benchmarks/results.md); BENCH_SCRATCH_PATH (the build folder, instead of
# Benchmarks/.build) and BENCH_WORK (instead of Benchmarks/.build-bench):
# Scripts/matrix.sh bench sets both, so a run in its Debian 13 root
# (OpenSSL 3.5) shares nothing with this machine's.
#
# The full run's block in Benchmarks/results.md is the OpenSSL version's own
# (markers "bench.sh:begin openssl-3.0", "openssl-3.5", …): a run on 3.5
# leaves 3.0's in place.
#
# Times on a shared 2-core machine are noisy: each round runs every
# implementation back to back, the order rotating, and the table shows the
# median rate and the median of the per-round ratios. Instruction counts
# (callgrind, two lengths subtracted so start-up cancels) repeat to a
# fraction of a percent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
Scripts/bootstrap.sh

timing=yes
callgrind=yes
quick=no
pass=()
for argument in "$@"; do
    case "$argument" in
        --quick) quick=yes; callgrind=no ;;
        --callgrind) timing=no; callgrind=yes ;;
        --no-callgrind) callgrind=no ;;
        *) pass+=("$argument") ;;
    esac
done

cd "$root/Benchmarks"
scratch=()
if [ -n "${BENCH_SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$BENCH_SCRATCH_PATH"); fi
echo "bench: building (release)…" >&2
swift build -c release "${scratch[@]}" --product bench >&2
bin="$(swift build -c release "${scratch[@]}" --show-bin-path)/bench"
work="${BENCH_WORK:-$root/Benchmarks/.build-bench}"   # ignored by git (.build*)
openssl_series=$(openssl version | awk '{split($2, v, "."); print v[1] "." v[2]}')
mkdir -p "$work"
# One set of certificates and keys for every run (key generation is random,
# so callgrind must not count it).
"$bin" pki --out "$work/pki"

machine() {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
    echo "- $(openssl version), $(swift --version 2>/dev/null | head -1)"
    if [ -n "${BENCH_GROUPS:-}" ]; then
        echo "- key-exchange groups: $BENCH_GROUPS in all three (BENCH_GROUPS)"
    else
        echo "- key-exchange groups: each implementation's default"
    fi
}

timing_table=""
allocations_table=""
if [ "$timing" = yes ]; then
    arguments=(run --pki "$work/pki" --markdown "$work/timing.md")
    if [ "$quick" = yes ]; then
        arguments+=(--quick)
    else
        arguments+=(--rounds 15 --seconds 0.3)
    fi
    echo "bench: timing ($( [ "$quick" = yes ] && echo quick || echo full ))…" >&2
    "$bin" "${arguments[@]}" "${pass[@]+"${pass[@]}"}" >/dev/null
    timing_table=$(cat "$work/timing.md")
    echo
    echo "$timing_table"
    allocations_table="| call (steady state) | allocations per call |"$'\n'"|---|--:|"$'\n'"$("$bin" allocs --pki "$work/pki")"
    echo
    echo "$allocations_table"
fi

callgrind_table=""
if [ "$callgrind" = yes ]; then
    if ! command -v valgrind >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        echo "bench: installing valgrind (for instruction counts)" >&2
        # (apt-get update first: a fresh root, e.g. Scripts/matrix.sh's, has no package lists)
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind; } >/dev/null 2>&1 || true
    fi
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "bench: valgrind is not installed (apt-get install valgrind); skipping instruction counts" >&2
    else
        # valgrind 3.19 cannot read Swift 6.3's DWARF 5: count a copy without debug info.
        cp "$bin" "$work/bench-stripped"
        strip -g "$work/bench-stripped"
        instructions() {  # workload impl count -> total instructions
            valgrind --tool=callgrind --callgrind-out-file=/dev/null \
                "$work/bench-stripped" one --workload "$1" --impl "$2" --count "$3" --pki "$work/pki" 2>&1 \
                | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
        }
        rows="| workload | this library | C (libssl) | swift-nio-ssl | library / C | nio / C |"$'\n'"|---|--:|--:|--:|--:|--:|"
        for spec in "w1 10 40 handshake" "w3 2000 8000 round trip"; do
            read -r workload short long unit <<<"$spec"
            declare -A per=()
            for impl in swift c nio; do
                echo "bench: callgrind $workload $impl…" >&2
                a=$(instructions "$workload" "$impl" "$short")
                b=$(instructions "$workload" "$impl" "$long")
                per[$impl]=$(( (b - a) / (long - short) ))
            done
            ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
            title=$([ "$workload" = w1 ] && echo "W1 TLS 1.3 handshake (instructions per $unit)" || echo "W3 64-byte round trip (instructions per $unit)")
            commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
            rows+=$'\n'"| $title | $(commas "${per[swift]}") | $(commas "${per[c]}") | $(commas "${per[nio]}") | $(ratio "${per[swift]}" "${per[c]}") | $(ratio "${per[nio]}" "${per[c]}") |"
            unset per
        done
        # The NIO handler (N1, N3): the OpenSSLNIO handlers, NIOSSLHandler and the raw Connection pump.
        rows+=$'\n\n'"| workload | OpenSSLNIO handlers | NIOSSLHandler | raw Connection pump | handlers / NIOSSLHandler | handlers / pump |"$'\n'"|---|--:|--:|--:|--:|--:|"
        for spec in "n1 10 40 handshake" "n3 2000 8000 round trip"; do
            read -r workload short long unit <<<"$spec"
            declare -A per=()
            for impl in handler nio swift; do
                echo "bench: callgrind $workload $impl…" >&2
                a=$(instructions "$workload" "$impl" "$short")
                b=$(instructions "$workload" "$impl" "$long")
                per[$impl]=$(( (b - a) / (long - short) ))
            done
            title=$([ "$workload" = n1 ] && echo "N1 handshake + close (instructions per $unit)" || echo "N3 64-byte round trip (instructions per $unit)")
            rows+=$'\n'"| $title | $(commas "${per[handler]}") | $(commas "${per[nio]}") | $(commas "${per[swift]}") | $(ratio "${per[handler]}" "${per[nio]}") | $(ratio "${per[handler]}" "${per[swift]}") |"
            unset per
        done
        # W8 (issue 16): one chain verification under .openSSL ("swift") and .webPKI, and plain C.
        rows+=$'\n\n'"| workload | .openSSL | .webPKI | C (X509_verify_cert) | .webPKI / .openSSL | .openSSL / C |"$'\n'"|---|--:|--:|--:|--:|--:|"
        declare -A per=()
        for impl in swift webpki c; do
            echo "bench: callgrind w8 $impl…" >&2
            a=$(instructions w8 "$impl" 100)
            b=$(instructions w8 "$impl" 500)
            per[$impl]=$(( (b - a) / 400 ))
        done
        rows+=$'\n'"| W8 verify a three-certificate chain (instructions per verification) | $(commas "${per[swift]}") | $(commas "${per[webpki]}") | $(commas "${per[c]}") | $(ratio "${per[webpki]}" "${per[swift]}") | $(ratio "${per[swift]}" "${per[c]}") |"
        unset per
        callgrind_table="$rows"
        echo
        echo "$callgrind_table"
    fi
fi

command_line="Scripts/bench.sh${*:+ $*}"
{
    echo "<!-- bench.sh:begin openssl-$openssl_series — generated by \`$command_line\`; edit outside these markers -->"
    echo "## Latest run: OpenSSL $openssl_series"
    echo
    machine
    echo "- command: \`$command_line\`"
    if [ -n "$timing_table" ]; then
        echo
        echo "### Throughput (median of rounds; ratios are the median of per-round ratios to C)"
        echo
        echo "$timing_table"
    fi
    if [ -n "$allocations_table" ]; then
        echo
        echo "### This library's own calls: heap allocations (the malloc counter, \`bench allocs\`)"
        echo
        echo "$allocations_table"
    fi
    if [ -n "$callgrind_table" ]; then
        echo
        echo "### Instructions (callgrind; two lengths subtracted)"
        echo
        echo "$callgrind_table"
    fi
    echo "<!-- bench.sh:end openssl-$openssl_series -->"
} > "$work/generated.md"

if [ "$quick" = yes ] || [ "$timing" = no ]; then
    cp "$work/generated.md" "$work/results-$( [ "$quick" = yes ] && echo quick || echo callgrind ).md"
    echo "bench: wrote ${work#"$root"/}/results-$( [ "$quick" = yes ] && echo quick || echo callgrind ).md" >&2
else
    results="$root/Benchmarks/results.md"
    [ -f "$results" ] || printf '# Benchmark results\n' > "$results"
    begin="<!-- bench.sh:begin openssl-$openssl_series "
    end="<!-- bench.sh:end openssl-$openssl_series -->"
    if grep -qF "$begin" "$results" && grep -qF "$end" "$results"; then
        # Replace this version's generated block, keep the hand-written notes around it.
        awk -v generated="$work/generated.md" -v begin="$begin" -v end="$end" '
            index($0, begin) == 1 { while ((getline line < generated) > 0) print line; skipping = 1; next }
            index($0, end) == 1 { skipping = 0; next }
            !skipping { print }
        ' "$results" > "$work/results.md.new"
        mv "$work/results.md.new" "$results"
    elif grep -q '<!-- bench.sh:end' "$results"; then
        # The first run on this version: its block goes after the last generated one.
        last=$(grep -n '<!-- bench.sh:end' "$results" | tail -n 1 | cut -d: -f1)
        { head -n "$last" "$results"; echo; cat "$work/generated.md"; tail -n "+$((last + 1))" "$results"; } > "$work/results.md.new"
        mv "$work/results.md.new" "$results"
    else
        { echo; cat "$work/generated.md"; } >> "$results"
    fi
    echo "bench: wrote Benchmarks/results.md" >&2
fi
