#!/usr/bin/env bash
# Shows that a key log written by KeyLogFile decrypts a captured TLS 1.3
# session: runs keylog-demo (a client and a server in one process, over TCP
# on 127.0.0.1) while tshark captures that port, then has tshark decrypt the
# capture with the key log and prints the decrypted application data.
# Exits non-zero when the data is not found in the decrypted capture, or
# when it is readable without the key log.
#
# Needs root (or capture rights) to capture on the loopback interface.
# Installs tshark through Scripts/bootstrap.sh --with-tshark when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

message="${1:-swift-openssl keylog check $RANDOM$RANDOM}"

Scripts/bootstrap.sh --with-tshark
command -v tshark >/dev/null || { echo "keylog-decrypt: tshark is not installed" >&2; exit 1; }

swift build --product keylog-demo >/dev/null
demo="$(swift build --show-bin-path)/keylog-demo"

work="$(mktemp -d)"
demo_pid=""
capture_pid=""
cleanup() {
    [ -n "$capture_pid" ] && kill "$capture_pid" 2>/dev/null || true
    [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
    exec 3>&- 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Wait (at most $2 tenths of a second) until file $1 contains $3.
wait_for() {
    local file="$1" tenths="$2" pattern="$3"
    for _ in $(seq "$tenths"); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# The demo waits for a line on this FIFO before its client connects, so the
# capture is running by then. Opened read-write so neither side blocks.
mkfifo "$work/go"
exec 3<>"$work/go"
SSLKEYLOGFILE="$work/keys.log" timeout 60 "$demo" "$message" <"$work/go" >"$work/demo.out" 2>&1 &
demo_pid=$!
wait_for "$work/demo.out" 300 '^PORT ' || { echo "keylog-decrypt: the demo did not start" >&2; cat "$work/demo.out" >&2; exit 1; }
port="$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$work/demo.out")"

timeout 120 tshark -i lo -f "tcp port $port" -w "$work/capture.pcapng" >"$work/tshark.out" 2>&1 &
capture_pid=$!
wait_for "$work/tshark.out" 300 'Capturing on' || { echo "keylog-decrypt: tshark did not start capturing" >&2; cat "$work/tshark.out" >&2; exit 1; }

echo go >&3
wait "$demo_pid" || { echo "keylog-decrypt: the demo failed" >&2; cat "$work/demo.out" >&2; exit 1; }
demo_pid=""
sleep 1
kill -INT "$capture_pid" 2>/dev/null || true
wait "$capture_pid" 2>/dev/null || true
capture_pid=""

echo "== demo"
cat "$work/demo.out"
echo "== key log: $(wc -l <"$work/keys.log") lines ($(cut -d' ' -f1 "$work/keys.log" | sort -u | tr '\n' ' '))"

# Without the key log the application data must stay unreadable.
if tshark -r "$work/capture.pcapng" -q -z follow,tls,ascii,0 2>/dev/null | grep -qF "$message"; then
    echo "keylog-decrypt: the message is readable without the key log" >&2
    exit 1
fi

decrypted="$(tshark -r "$work/capture.pcapng" -o "tls.keylog_file:$work/keys.log" -q -z follow,tls,ascii,0 2>&1)"
echo "== decrypted application data (tshark -o tls.keylog_file:… -z follow,tls,ascii,0)"
echo "$decrypted"
if ! grep -qF "$message" <<<"$decrypted" || ! grep -qF "echo: $message" <<<"$decrypted"; then
    echo "keylog-decrypt: FAILED: the application data was not found in the decrypted capture" >&2
    exit 1
fi
echo "keylog-decrypt: OK: the key log decrypted the TLS 1.3 session"
