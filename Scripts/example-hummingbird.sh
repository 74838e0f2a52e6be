#!/usr/bin/env bash
# The Hummingbird example (Examples/hummingbird-openssl): builds it, makes a
# throw-away CA and server certificate with the openssl command, runs the
# server on an ephemeral port of 127.0.0.1, fetches https://127.0.0.1:PORT/
# with curl (verifying the chain and the address), expects 200 and the
# greeting, and stops the server. Says how long each step took (on stderr).
#
#   Scripts/example-hummingbird.sh [--skip-build]
#
# The example is its own package (it depends on this one by path), built in
# Examples/hummingbird-openssl/.build; SWIFT_SCRATCH_PATH, when set, is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
package=Examples/hummingbird-openssl
scratch=(--scratch-path "${SWIFT_SCRATCH_PATH:-$package/.build}")
skip_build=0
for argument in "$@"; do
    case "$argument" in
        --skip-build) skip_build=1 ;;
        *) echo "example-hummingbird: unknown option $argument (known: --skip-build)" >&2; exit 2 ;;
    esac
done

step=$(date +%s)
took() { local now; now=$(date +%s); echo "example-hummingbird: $1 in $(( now - step ))s" >&2; step=$now; }

if [ "$skip_build" = 0 ]; then
    swift build --package-path "$package" "${scratch[@]}" --product HummingbirdOpenSSL
    took built
fi
binary="$(swift build --package-path "$package" "${scratch[@]}" --show-bin-path)/HummingbirdOpenSSL"

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1, made here and thrown away.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Hummingbird Example CA" -keyout "$work/ca-key.pem" -out "$work/ca.pem" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/server-key.pem" -out "$work/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:false" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null

# At most 60 s of life, whatever happens to this script.
timeout -s KILL 60 "$binary" --cert "$work/server.pem" --key "$work/server-key.pem" --port 0 \
    > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$work/server.out")
    [ -n "$port" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.05
done
if [ -z "$port" ]; then
    echo "example-hummingbird: the server did not start:" >&2
    cat "$work/server.out" "$work/server.err" >&2
    exit 1
fi
took "server listening on port $port"

status=$(curl --silent --show-error --max-time 10 --cacert "$work/ca.pem" \
    --output "$work/body" --write-out '%{http_code}' "https://127.0.0.1:$port/") || {
    echo "example-hummingbird: curl failed (status ${status:-none})" >&2
    cat "$work/server.err" >&2
    exit 1
}
body=$(cat "$work/body")
took "curl answered"
if [ "$status" != 200 ] || [[ "$body" != "Hello from Hummingbird over OpenSSL 3."*": TLSv1.3 TLS_"* ]]; then
    echo "example-hummingbird: expected 200 and the greeting, got $status: $body" >&2
    cat "$work/server.err" >&2
    exit 1
fi
echo "example-hummingbird: 200 $body"
